"""Diving48 (V2 labels): one 48-way head over trimmed clips.

Layout (the official release):

  root/Diving48_V2_{train,test}.json  [{"vid_name", "label", "start_frame", "end_frame"}, ...]
  root/Diving48_vocab.json            48 entries, each a list of 4 strings (takeoff, somersault,
                                      twist, flight); the class name joins them with " / "
  root/rgb/<vid_name>.mp4

Frames are the clip file's own (fps None); end_frame is the exclusive stop. There is no separate
validation set: "validation" reads the test split.
"""
from __future__ import annotations

from pathlib import Path

from lvmae.data.manifest import AnnotationError, Head, Manifest, Segment, check_segment
from lvmae.data.readers.common import class_id, integer, json_list, json_object, text

SPLITS = ("train", "test", "validation")
FILES = {"train": "Diving48_V2_train.json", "test": "Diving48_V2_test.json",
         "validation": "Diving48_V2_test.json"}


def read_vocabulary(path: Path) -> tuple[str, ...]:
  classes = []
  for row, entry in enumerate(json_list(path)):
    if not (isinstance(entry, list) and entry and all(isinstance(s, str) and s.strip() for s in entry)):
      raise AnnotationError(path, f"expected a list of attribute names, found {entry!r}", row)
    classes.append(" / ".join(s.strip() for s in entry))
  if not classes:
    raise AnnotationError(path, "no classes")
  return tuple(classes)


def read(root: Path, split: str) -> Manifest:
  vocab_path = Path(root) / "Diving48_vocab.json"
  heads = (Head("class", read_vocabulary(vocab_path)),)
  path = Path(root) / FILES[split]
  segments = []
  for row, entry in enumerate(json_list(path)):
    values = json_object(path, row, entry)
    name = text(path, row, values, "vid_name")
    segment = Segment(
        video=f"rgb/{name}.mp4", labels=(class_id(path, row, values, "label", heads[0].classes, vocab_path),),
        start_frame=integer(path, row, values, "start_frame"),
        stop_frame=integer(path, row, values, "end_frame"), fps=None, id=name)
    check_segment(segment, heads, path, row)
    segments.append(segment)
  return Manifest("diving48", split, heads, tuple(segments), source=str(path))
