"""`lvmae data check`: a dataset's annotation files and videos, checked before any training.

For each split it reads the manifest (annotation errors are reported, not raised), then checks
every referenced video: present, readable header, segments that end inside the video, and with
decode="videos" (the default) every frame decoded (lvmae.data.video.decode_all: frames the file
holds but that cannot be decoded, a stream that ends before its header says), one video per core;
decode="segments" also reads each segment's first and last frame as training reads them (seeking).
"""
from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lvmae.data.manifest import AnnotationError
from lvmae.data.readers import read_manifest, splits
from lvmae.data.video import VideoError, decode_all, probe, read_frames

DECODE_CHOICES = ("none", "videos", "segments")
END_TOLERANCE_SECONDS = 0.5  # annotations may end a little past the last frame
EXAMPLES = 5                 # problems listed per kind


@dataclasses.dataclass
class SplitReport:
  split: str
  segments: int = 0
  videos: int = 0
  annotation_error: str | None = None
  missing: list[str] = dataclasses.field(default_factory=list)
  unreadable: list[str] = dataclasses.field(default_factory=list)
  undecodable: list[str] = dataclasses.field(default_factory=list)
  out_of_range: list[str] = dataclasses.field(default_factory=list)

  @property
  def problems(self) -> int:
    return (int(self.annotation_error is not None) + len(self.missing) + len(self.unreadable) + len(self.undecodable)
            + len(self.out_of_range))

  def lines(self) -> list[str]:
    if self.annotation_error is not None:
      return [f"{self.split}: annotation error: {self.annotation_error}"]
    out = [f"{self.split}: {self.segments} segments in {self.videos} videos; {len(self.missing)} missing, "
           f"{len(self.unreadable)} unreadable, {len(self.undecodable)} with frames that cannot be decoded, "
           f"{len(self.out_of_range)} segments past the video's end"]
    for kind in ("missing", "unreadable", "undecodable", "out_of_range"):
      for item in getattr(self, kind)[:EXAMPLES]:
        out.append(f"  {kind}: {item}")
      if len(getattr(self, kind)) > EXAMPLES:
        out.append(f"  ... and {len(getattr(self, kind)) - EXAMPLES} more {kind}")
    return out


def _decode_ends(path: Path, start: float, stop: float) -> None:
  read_frames(path, np.array([start, max(start, stop - 1e-3)]))


def _check_video(path: Path, rows: list[int], manifest, decode: str) -> dict[str, list[str]]:
  """One video's problems by kind (SplitReport's lists)."""
  problems: dict[str, list[str]] = {"missing": [], "unreadable": [], "undecodable": [], "out_of_range": []}
  if not path.is_file():
    problems["missing"].append(f"{path} ({len(rows)} segments, e.g. row {manifest.segments[rows[0]].id or rows[0]})")
    return problems
  try:
    info = probe(path)
    if decode != "none":
      decoded = decode_all(path)
      if not decoded.ok:
        problems["undecodable"].append(f"{path}: {decoded.decoded} of {decoded.header_frames} frames (header) decode; "
                                       + "; ".join(decoded.problems))
    for row in rows:
      segment = manifest.segments[row]
      start, stop = segment.start_seconds(info.fps), segment.stop_seconds(info.fps)
      if stop is not None and stop > info.duration + END_TOLERANCE_SECONDS:
        problems["out_of_range"].append(f"{path}: row {segment.id or row} ends at {stop:.2f} s; "
                                        f"the video lasts {info.duration:.2f} s")
      elif decode == "segments":
        _decode_ends(path, start, info.duration if stop is None else min(stop, info.duration))
  except VideoError as e:
    problems["unreadable"].append(str(e))
  return problems


def check_split(dataset: str, root: Path, split: str, decode: str = "videos", progress: bool = True) -> SplitReport:
  """A split's report; its videos are checked on one thread per core (decoding releases the GIL)."""
  report = SplitReport(split)
  try:
    manifest = read_manifest(dataset, root, split)
  except AnnotationError as e:
    report.annotation_error = str(e)
    return report
  report.segments = len(manifest)
  by_video: dict[str, list[int]] = {}
  for i, segment in enumerate(manifest.segments):
    by_video.setdefault(segment.video, []).append(i)
  report.videos = len(by_video)
  with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
    checked = pool.map(lambda item: _check_video(root / item[0], item[1], manifest, decode), by_video.items())
    for problems in tqdm(checked, total=len(by_video), desc=f"check {dataset} {split}", unit="video",
                         disable=not progress):
      for kind, found in problems.items():
        getattr(report, kind).extend(found)
  return report


def check_dataset(dataset: str, root: Path | str, only: list[str] | None = None, decode: str = "videos",
                  progress: bool = True) -> list[SplitReport]:
  """Checks the splits in `only` (default: every split the dataset's reader knows)."""
  known = splits(dataset)  # an unknown dataset fails here, listing the known ones
  names = only or known
  if decode not in DECODE_CHOICES:
    raise ValueError(f"decode={decode!r}; choose one of {DECODE_CHOICES}")
  root = Path(root)
  if not root.is_dir():
    raise FileNotFoundError(f"{root}: dataset root directory not found")
  return [check_split(dataset, root, split, decode, progress) for split in names]
