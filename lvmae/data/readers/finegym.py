"""FineGym Gym288: one 288-way head over element (sub-action) spans of full competition videos.

Layout (the official annotation files):

  root/annotations/gym288_train_element_v1.1.txt, gym288_val_element.txt
      one `<subaction_id> <label>` per line, with subaction_id =
      <youtube_id>_E_<event_start:06d>_<event_end:06d>_A_<action_start:04d>_<action_end:04d>
  root/annotations/gym288_categories.txt
      `Clabel: 0; set: 1; Glabel: 1; (VT) round-off, ...` (class id = Clabel, name = the text
      after the key: value fields)
  root/videos/<youtube_id>.mp4

Event times are whole seconds into the video and action times whole seconds into the event, so a
segment's frames are counted at fps 1.0: frame k means second k, start = event_start +
action_start, stop = event_start + action_end (Segment.start_seconds gives the seconds whatever
the file's own rate). The ids truncate the annotated times to whole seconds, so a span can be off
by up to a second at each end. YouTube ids may contain underscores: the id is parsed from the right.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

from lvmae.data.manifest import AnnotationError, Head, Manifest, Segment, check_segment, require_file
from lvmae.data.readers.common import class_id, integer, vocabulary

SPLITS = ("train", "validation")
FILES = {"train": "gym288_train_element_v1.1.txt", "validation": "gym288_val_element.txt"}
CATEGORIES = "gym288_categories.txt"
_KEY_VALUE = re.compile(r"\s*(\w+)\s*:\s*(\S+)\s*")


def lines(path: Path) -> Iterator[tuple[int, str]]:
  """(1-based line number, stripped line) for each non-blank line."""
  with open(require_file(path), encoding="utf-8") as f:
    for number, line in enumerate(f, start=1):
      if line.strip():
        yield number, line.strip()


def read_categories(path: Path) -> tuple[str, ...]:
  entries = []
  for row, line in lines(path):
    parts = line.split(";")
    keys: dict[str, str] = {}
    while parts and (match := _KEY_VALUE.fullmatch(parts[0])):
      keys[match[1]] = match[2]
      parts.pop(0)
    name = ";".join(parts).strip()
    if not name:
      raise AnnotationError(path, f"no class name in {line!r}", row)
    entries.append((row, integer(path, row, keys, "Clabel"), name))
  return vocabulary(path, entries)


def parse_subaction(path: Path, row: int, subaction_id: str) -> tuple[str, int, int]:
  """(youtube_id, start second, stop second) of a sub-action id."""
  parts = subaction_id.rsplit("_", 6)
  if len(parts) != 7 or parts[1] != "E" or parts[4] != "A" or not parts[0]:
    raise AnnotationError(path, f"{subaction_id!r} is not <youtube_id>_E_<start>_<end>_A_<start>_<end>", row)
  names = ("event_start", "event_end", "action_start", "action_end")
  times = dict(zip(names, (parts[2], parts[3], parts[5], parts[6])))
  event_start, _, action_start, action_end = (integer(path, row, times, n) for n in names)
  return parts[0], event_start + action_start, event_start + action_end


def read(root: Path, split: str) -> Manifest:
  annotations = Path(root) / "annotations"
  categories = annotations / CATEGORIES
  heads = (Head("class", read_categories(categories)),)
  path = annotations / FILES[split]
  segments = []
  for row, line in lines(path):
    fields = line.split()
    if len(fields) != 2:
      raise AnnotationError(path, f"expected `<subaction_id> <label>`, found {line!r}", row)
    youtube_id, start, stop = parse_subaction(path, row, fields[0])
    label = class_id(path, row, {"label": fields[1]}, "label", heads[0].classes, categories)
    segment = Segment(video=f"videos/{youtube_id}.mp4", labels=(label,), start_frame=start,
                      stop_frame=stop, fps=1.0, id=fields[0])
    check_segment(segment, heads, path, row)
    segments.append(segment)
  return Manifest("finegym288", split, heads, tuple(segments), source=str(path))
