"""EPIC-Kitchens-100 action recognition: verb and noun heads over spans of untrimmed videos.

Layout (the official annotation repository under `root/annotations/`, videos by participant):

  root/annotations/EPIC_100_{train,validation}.csv   narration_id, participant_id, video_id, ...,
                                                     start_frame, stop_frame, ..., verb_class, noun_class
  root/annotations/EPIC_100_{verb,noun}_classes.csv  id, key, instances, category
  root/annotations/EPIC_100_video_info.csv           video_id, duration, fps, resolution
  root/<participant_id>/videos/<video_id>.MP4

EPIC frame numbers are 1-based and the stop frame is inclusive, so a row's span is the 0-based,
stop-exclusive [start_frame - 1, stop_frame), counted at the video's fps from the video info file.
"""
from __future__ import annotations

from pathlib import Path

from lvmae.data.manifest import AnnotationError, Head, Manifest, Segment, check_segment, field, read_csv
from lvmae.data.readers.common import class_id, integer, text, vocabulary

SPLITS = ("train", "validation")
COLUMNS = ("narration_id", "participant_id", "video_id", "start_frame", "stop_frame",
           "verb_class", "noun_class")


def read_classes(path: Path) -> tuple[str, ...]:
  """Class keys indexed by id from EPIC_100_{verb,noun}_classes.csv."""
  rows = read_csv(path, ("id", "key"))
  return vocabulary(path, ((row, integer(path, row, v, "id"), text(path, row, v, "key")) for row, v in rows))


def read_video_fps(path: Path) -> dict[str, float]:
  """video_id -> frame rate from EPIC_100_video_info.csv."""
  fps = {}
  for row, values in read_csv(path, ("video_id", "fps")):
    fps[text(path, row, values, "video_id")] = field(path, row, values, "fps", float)
  return fps


def read(root: Path, split: str) -> Manifest:
  annotations = Path(root) / "annotations"
  verb_path = annotations / "EPIC_100_verb_classes.csv"
  noun_path = annotations / "EPIC_100_noun_classes.csv"
  info_path = annotations / "EPIC_100_video_info.csv"
  heads = (Head("verb", read_classes(verb_path)), Head("noun", read_classes(noun_path)))
  video_fps = read_video_fps(info_path)
  path = annotations / f"EPIC_100_{split}.csv"
  segments = []
  for row, values in read_csv(path, COLUMNS):
    video_id = text(path, row, values, "video_id")
    if video_id not in video_fps:
      raise AnnotationError(path, f"video_id {video_id!r} is not in {info_path.name}", row)
    start = integer(path, row, values, "start_frame")
    if start < 1:
      raise AnnotationError(path, f"start_frame={start} but EPIC frames count from 1", row)
    labels = (class_id(path, row, values, "verb_class", heads[0].classes, verb_path),
              class_id(path, row, values, "noun_class", heads[1].classes, noun_path))
    segment = Segment(
        video=f"{text(path, row, values, 'participant_id')}/videos/{video_id}.MP4", labels=labels,
        start_frame=start - 1, stop_frame=integer(path, row, values, "stop_frame"),
        fps=video_fps[video_id], id=text(path, row, values, "narration_id"))
    check_segment(segment, heads, path, row)
    segments.append(segment)
  return Manifest("epic_kitchens_100", split, heads, tuple(segments), source=str(path))
