"""Kinetics-400/600/700: one head over 10-second clip files named by YouTube id and times.

Layout (the official CSVs, clips cut and named as the download tools name them):

  root/annotations/train.csv, validate.csv (or val.csv), test.csv
      label,youtube_id,time_start,time_end,split[,is_cc]
  root/<split dir>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4   (by label), or
  root/<split dir>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4           (flat)

with split dir `train`, `val` or `validate`, `test`. The layout is the one found on disk: by label
when the split dir holds a folder named after one of the CSV's labels (as written, or with
underscores for spaces), flat otherwise. Classes are the sorted unique labels of train.csv; every
row needs a label (test CSVs released without labels cannot be read). Examples are whole clips.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

from lvmae.data.manifest import (AnnotationError, Head, Manifest, Segment, check_segment, read_csv,
                                 require_file)
from lvmae.data.readers.common import integer, text

SPLITS = ("train", "validation", "test")
CSV_FILES = {"train": ("train.csv",), "validation": ("validate.csv", "val.csv"), "test": ("test.csv",)}
SPLIT_DIRS = {"train": ("train",), "validation": ("val", "validate"), "test": ("test",)}
COLUMNS = ("label", "youtube_id", "time_start", "time_end")


@dataclasses.dataclass(frozen=True)
class Clip:
  """One CSV row: its clip file (relative to the dataset root) and label as written."""
  youtube_id: str
  label: str
  video: str
  path: Path  # the CSV, for error messages
  row: int


def csv_path(root: Path, split: str) -> Path:
  """The split's CSV: the first of its accepted names that exists (else an error naming the first)."""
  candidates = [Path(root) / "annotations" / name for name in CSV_FILES[split]]
  return next((p for p in candidates if p.is_file()), None) or require_file(candidates[0])


def split_dir(root: Path, split: str) -> str:
  """The split's clip folder: the first accepted name that exists, else the first name."""
  names = SPLIT_DIRS[split]
  return next((n for n in names if (Path(root) / n).is_dir()), names[0])


def label_dir(folder: Path, label: str) -> str | None:
  """The folder name a label's clips sit under in `folder`, or None when it has none."""
  for name in (label, label.replace(" ", "_")):
    if (folder / name).is_dir():
      return name
  return None


def read_clips(root: Path, split: str) -> list[Clip]:
  """The split's rows with their clip paths, in CSV order."""
  path, folder = csv_path(root, split), split_dir(root, split)
  rows = []
  for row, values in read_csv(path, COLUMNS):
    youtube_id, label = text(path, row, values, "youtube_id"), text(path, row, values, "label")
    start, end = integer(path, row, values, "time_start"), integer(path, row, values, "time_end")
    if end <= start:
      raise AnnotationError(path, f"time_end={end} <= time_start={start}", row)
    rows.append((row, youtube_id, label, f"{youtube_id}_{start:06d}_{end:06d}.mp4"))
  dirs = {label: label_dir(Path(root) / folder, label) for label in {r[2] for r in rows}}
  by_label = any(d is not None for d in dirs.values())
  clips = []
  for row, youtube_id, label, name in rows:
    video = f"{folder}/{dirs[label] or label}/{name}" if by_label else f"{folder}/{name}"
    clips.append(Clip(youtube_id, label, video, path, row))
  return clips


def train_labels(root: Path) -> tuple[str, ...]:
  """The sorted unique labels of the train CSV."""
  path = csv_path(root, "train")
  return tuple(sorted({text(path, row, values, "label") for row, values in read_csv(path, ("label",))}))


def segments(clips: list[Clip], heads: tuple[Head, ...], prefix: str = "",
             name: Callable[[str], str] = str) -> list[Segment]:
  """Whole-clip segments; `name` maps a row's label to its class name, `prefix` goes before paths."""
  index = {c: i for i, c in enumerate(heads[0].classes)}
  out = []
  for clip in clips:
    if name(clip.label) not in index:
      raise AnnotationError(
          clip.path, f"label {clip.label!r} is not among the {len(index)} train classes", clip.row)
    segment = Segment(video=prefix + clip.video, labels=(index[name(clip.label)],),
                      id=Path(clip.video).stem)
    check_segment(segment, heads, clip.path, clip.row)
    out.append(segment)
  return out


def read(dataset: str, root: Path, split: str) -> Manifest:
  heads = (Head("class", train_labels(root)),)
  clips = read_clips(root, split)
  return Manifest(dataset, split, heads, tuple(segments(clips, heads)),
                  source=str(csv_path(root, split)))
