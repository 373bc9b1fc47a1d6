"""Manifests: the validated segments a real dataset's annotation files describe.

A dataset reader (lvmae.data.readers) turns a dataset's official annotation files into one
`Manifest` per split: its label heads (EPIC-Kitchens-100 has two, verb and noun; the others one)
and one `Segment` per example. A bad file, column or value raises `AnnotationError`, which names
the file and the row.
"""
from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any, Iterator


class AnnotationError(ValueError):
  """A missing or malformed annotation file or row."""

  def __init__(self, path: Path | str, reason: str, row: int | str | None = None):
    self.path, self.row, self.reason = Path(path), row, reason
    where = f"{path}" if row is None else f"{path}, row {row}"
    super().__init__(f"{where}: {reason}")


@dataclasses.dataclass(frozen=True)
class Segment:
  """One example: a span of a video file and its class ids, one per head.

  Frames are counted at `fps` (the annotation's frame rate); None means the video file's own
  frames. `stop_frame` is exclusive; None means the end of the video.
  """
  video: str                      # path relative to the dataset root
  labels: tuple[int, ...]         # one class id per head of the manifest
  start_frame: int = 0
  stop_frame: int | None = None
  fps: float | None = None
  id: str = ""

  def start_seconds(self, video_fps: float) -> float:
    return self.start_frame / (self.fps or video_fps)

  def stop_seconds(self, video_fps: float) -> float | None:
    return None if self.stop_frame is None else self.stop_frame / (self.fps or video_fps)


@dataclasses.dataclass(frozen=True)
class Head:
  """A classification head: its name and class names (index = class id)."""
  name: str
  classes: tuple[str, ...]

  @property
  def num_classes(self) -> int:
    return len(self.classes)


@dataclasses.dataclass(frozen=True)
class Manifest:
  dataset: str
  split: str
  heads: tuple[Head, ...]
  segments: tuple[Segment, ...]
  source: str = ""  # the annotation file(s) the manifest was read from, for error messages

  def __len__(self) -> int:
    return len(self.segments)

  def __post_init__(self):
    for i, segment in enumerate(self.segments):
      check_segment(segment, self.heads, self.source or self.dataset, segment.id or i)


def check_segment(segment: Segment, heads: tuple[Head, ...], path: Path | str, row: Any) -> None:
  """Raises AnnotationError if a segment's labels or span do not fit the heads."""
  if len(segment.labels) != len(heads):
    raise AnnotationError(path, f"{len(segment.labels)} labels for {len(heads)} heads", row)
  for label, head in zip(segment.labels, heads):
    if not 0 <= label < head.num_classes:
      raise AnnotationError(path, f"{head.name} id {label} outside [0, {head.num_classes})", row)
  if segment.start_frame < 0:
    raise AnnotationError(path, f"start frame {segment.start_frame} is negative", row)
  if segment.stop_frame is not None and segment.stop_frame <= segment.start_frame:
    raise AnnotationError(path, f"stop frame {segment.stop_frame} <= start frame {segment.start_frame}", row)
  if segment.fps is not None and not segment.fps > 0:
    raise AnnotationError(path, f"frame rate {segment.fps} is not positive", row)


# ------------------------------------------------------------------------- reading annotation files


def require_file(path: Path) -> Path:
  if not Path(path).is_file():
    raise AnnotationError(path, "annotation file not found")
  return Path(path)


def read_csv(path: Path, columns: tuple[str, ...], header: bool = True) -> Iterator[tuple[int, dict]]:
  """Yields (row number, row) of a CSV file, checking that `columns` are present.

  Without a header, `columns` names the leading columns in order. Row numbers are 1-based lines
  of the file (the header is line 1).
  """
  with open(require_file(path), newline="", encoding="utf-8") as f:
    if header:
      reader = csv.DictReader(f)
      missing = [c for c in columns if c not in (reader.fieldnames or [])]
      if missing:
        raise AnnotationError(path, f"missing column(s) {missing}; found {reader.fieldnames}")
      for line, row in enumerate(reader, start=2):
        yield line, row
    else:
      for line, values in enumerate(csv.reader(f), start=1):
        if not values:
          continue
        if len(values) < len(columns):
          raise AnnotationError(path, f"{len(values)} columns, expected {len(columns)} ({columns})", line)
        yield line, dict(zip(columns, values))


def read_json(path: Path) -> Any:
  try:
    return json.loads(require_file(path).read_text(encoding="utf-8"))
  except json.JSONDecodeError as e:
    raise AnnotationError(path, f"not valid JSON ({e})") from None


def field(path: Path, row: Any, values: dict, name: str, kind: type = str):
  """values[name] converted to `kind`, or an AnnotationError naming the file, row and column."""
  if name not in values:
    raise AnnotationError(path, f"missing field {name!r}", row)
  value = values[name]
  try:
    return kind(value)
  except (TypeError, ValueError):
    raise AnnotationError(path, f"{name}={value!r} is not a {kind.__name__}", row) from None
