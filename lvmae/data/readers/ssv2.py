"""Something-Something v2: one 174-way head over whole videos, classes named by template.

Layout (the official release):

  root/labels/something-something-v2-labels.json       {"<template without brackets>": "<id>"}
  root/labels/something-something-v2-{train,validation}.json
                                                       [{"id", "label", "template", "placeholders"}]
  root/20bn-something-something-v2/<id>.webm

An entry's class is its template with the square brackets stripped ("Putting [something] on
[something]" -> "Putting something on something"), looked up in the labels file, whose ids are
strings. Examples are whole videos (start 0, stop None, the file's own frames).
"""
from __future__ import annotations

from pathlib import Path

from lvmae.data.manifest import AnnotationError, Head, Manifest, Segment, check_segment, read_json
from lvmae.data.readers.common import integer, json_list, json_object, text, vocabulary

SPLITS = ("train", "validation")
VIDEO_DIR = "20bn-something-something-v2"


def class_name(template: str) -> str:
  return template.replace("[", "").replace("]", "")


def read_labels(path: Path) -> tuple[str, ...]:
  labels = read_json(path)
  if not isinstance(labels, dict):
    raise AnnotationError(path, f"expected a JSON object of template -> id, found {type(labels).__name__}")
  return vocabulary(path, ((name, integer(path, name, labels, name), name) for name in labels))


def read(root: Path, split: str) -> Manifest:
  labels_path = Path(root) / "labels" / "something-something-v2-labels.json"
  heads = (Head("class", read_labels(labels_path)),)
  index = {name: i for i, name in enumerate(heads[0].classes)}
  path = Path(root) / "labels" / f"something-something-v2-{split}.json"
  segments = []
  for row, entry in enumerate(json_list(path)):
    values = json_object(path, row, entry)
    video_id = text(path, row, values, "id")
    template = text(path, row, values, "template")
    if class_name(template) not in index:
      raise AnnotationError(
          path, f"template {template!r} of video {video_id} is not in {labels_path.name}", row)
    segment = Segment(video=f"{VIDEO_DIR}/{video_id}.webm", labels=(index[class_name(template)],),
                      id=video_id)
    check_segment(segment, heads, path, row)
    segments.append(segment)
  return Manifest("ssv2", split, heads, tuple(segments), source=str(path))
