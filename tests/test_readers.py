"""Tests of the dataset annotation readers (lvmae/data/readers) on small official-layout trees."""
import csv
import json
from pathlib import Path

import pytest

from lvmae.data.manifest import AnnotationError
from lvmae.data.readers import READERS, SPLITS, read_manifest
from tests import dataset_layouts as layouts


def _check(manifest, expected: dict, split: str) -> None:
  """The manifest's heads and segments are exactly the layout's expected ones."""
  assert {h.name: h.classes for h in manifest.heads} == expected["heads"]
  assert list(manifest.segments) == expected["segments"][split]
  assert {s.video for s in manifest.segments} <= set(expected["videos"])


def _edit_csv(path: Path, row: int, column: str, value: str) -> None:
  """Sets one cell; `row` is the file's 1-based line (the header is line 1)."""
  with open(path, newline="") as f:
    lines = list(csv.reader(f))
  lines[row - 1][lines[0].index(column)] = value
  with open(path, "w", newline="") as f:
    csv.writer(f).writerows(lines)


def _edit_json(path: Path, edit) -> None:
  data = json.loads(path.read_text())
  edit(data)
  path.write_text(json.dumps(data))


def _raises(call, *parts: str) -> str:
  with pytest.raises(AnnotationError) as info:
    call()
  for part in parts:
    assert part in str(info.value), (part, str(info.value))
  return str(info.value)


# ------------------------------------------------------------------------------------ registry


def test_registry_lists_every_dataset_and_rejects_unknown_names(tmp_path):
  assert set(READERS) == set(SPLITS) == {
      "epic_kitchens_100", "diving48", "ssv2", "kinetics_400", "kinetics_600", "kinetics_700",
      "kinetics_710", "finegym288"}
  with pytest.raises(ValueError, match="kinetics_400"):
    read_manifest("kinetics_401", tmp_path, "train")
  with pytest.raises(ValueError, match="validation"):
    read_manifest("ssv2", tmp_path, "val")
  _raises(lambda: read_manifest("ssv2", tmp_path / "absent", "train"), "absent", "not found")


# -------------------------------------------------------------------------------- labels, spans


@pytest.mark.parametrize("split", ["train", "validation"])
def test_epic_kitchens_two_heads_zero_based_frames_and_per_video_fps(tmp_path, split):
  expected = layouts.write_epic_kitchens_100(tmp_path)
  manifest = read_manifest("epic_kitchens_100", tmp_path, split)
  _check(manifest, expected, split)
  assert [h.name for h in manifest.heads] == ["verb", "noun"]
  assert manifest.heads[0].classes == ("take", "put", "wash")
  if split == "train":
    first, last = manifest.segments[0], manifest.segments[-1]
    assert (first.video, first.start_frame, first.stop_frame, first.fps) == (
        "P01/videos/P01_01.MP4", 0, 30, 25.0)
    assert (last.labels, last.start_frame, last.fps) == ((1, 3), 11, 30.0)
    assert last.start_seconds(99.0) == pytest.approx(11 / 30)


def test_diving48_vocabulary_joined_and_end_frame_exclusive(tmp_path):
  expected = layouts.write_diving48(tmp_path)
  for split in ("train", "test", "validation"):
    _check(read_manifest("diving48", tmp_path, split), expected, split)
  manifest = read_manifest("diving48", tmp_path, "train")
  assert manifest.heads[0].classes[0] == "Back / 15som / 05Twis / FREE"
  third = manifest.segments[2]
  assert (third.video, third.labels, third.start_frame, third.stop_frame, third.fps) == (
      "rgb/0a2k4nG3bCk_00012.mp4", (1,), 3, 30, None)


def test_ssv2_strips_brackets_and_maps_string_ids(tmp_path):
  expected = layouts.write_ssv2(tmp_path)
  for split in ("train", "validation"):
    _check(read_manifest("ssv2", tmp_path, split), expected, split)
  manifest = read_manifest("ssv2", tmp_path, "train")
  assert manifest.heads[0].classes == (
      "Holding something next to something", "Putting something on a surface",
      "Pushing something from left to right")
  holding, putting = manifest.segments
  assert (holding.video, holding.labels) == ("20bn-something-something-v2/78687.webm", (0,))
  assert putting.labels == (1,)
  assert (putting.start_frame, putting.stop_frame, putting.fps) == (0, None, None)


@pytest.mark.parametrize("layout", layouts.KINETICS_LAYOUTS)
def test_kinetics_400_layouts(tmp_path, layout):
  expected = layouts.write_kinetics(tmp_path, layout=layout)
  for split in ("train", "validation", "test"):
    _check(read_manifest("kinetics_400", tmp_path, split), expected, split)
  manifest = read_manifest("kinetics_400", tmp_path, "validation")
  assert manifest.heads[0].classes == ("abseiling", "air drumming", "zumba")
  video = {"flat": "val/5fQ_RUe_x1Y_000040_000050.mp4",
           "by_label": "val/air drumming/5fQ_RUe_x1Y_000040_000050.mp4",
           "by_label_underscores": "val/air_drumming/5fQ_RUe_x1Y_000040_000050.mp4"}[layout]
  assert (manifest.segments[0].video, manifest.segments[0].labels) == (video, (1,))


def test_kinetics_val_csv_and_validate_dir_without_is_cc(tmp_path):
  expected = layouts.write_kinetics(tmp_path, validation_csv="val.csv", validation_dir="validate",
                                    is_cc=False)
  (tmp_path / "validate").mkdir()
  manifest = read_manifest("kinetics_700", tmp_path, "validation")
  assert manifest.dataset == "kinetics_700"
  assert [s.video for s in manifest.segments] == [
      "validate/" + Path(s.video).name for s in expected["segments"]["validation"]]


def test_kinetics_710_union_deduplication_and_validation_removal(tmp_path):
  expected = layouts.write_kinetics_710(tmp_path)
  for split in ("train", "validation"):
    _check(read_manifest("kinetics_710", tmp_path, split), expected, split)
  train = read_manifest("kinetics_710", tmp_path, "train")
  assert train.heads[0].classes == ("abseiling", "air drumming", "baking cookies", "yoga", "zumba")
  ids = [s.id.rsplit("_", 2)[0] for s in train.segments]
  assert len(ids) == len(set(ids)) == 6
  assert "vvvvvvvvvv1" not in ids and "wwwwwwwwww2" not in ids
  assert train.segments[3].video == "k600/train/Air Drumming/dddddddddd4_000001_000011.mp4"
  assert train.segments[3].labels == (1,)


def test_finegym_seconds_from_subaction_ids(tmp_path):
  expected = layouts.write_finegym288(tmp_path)
  for split in ("train", "validation"):
    _check(read_manifest("finegym288", tmp_path, split), expected, split)
  manifest = read_manifest("finegym288", tmp_path, "train")
  assert manifest.heads[0].classes[1] == "(FX) split jump with 1 turn"
  underscored = manifest.segments[1]  # Zx_7d2Kq_AB_E_000002_000012_A_0001_0004
  assert (underscored.video, underscored.start_frame, underscored.stop_frame, underscored.fps) == (
      "videos/Zx_7d2Kq_AB.mp4", 3, 6, 1.0)
  assert underscored.stop_seconds(25.0) == 6.0


# --------------------------------------------------------------------------------------- errors


def test_missing_file_is_named(tmp_path):
  layouts.write_epic_kitchens_100(tmp_path)
  (tmp_path / "annotations" / "EPIC_100_video_info.csv").unlink()
  _raises(lambda: read_manifest("epic_kitchens_100", tmp_path, "train"), "EPIC_100_video_info.csv",
          "not found")
  layouts.write_ssv2(tmp_path / "ssv2")
  (tmp_path / "ssv2" / "labels" / "something-something-v2-validation.json").unlink()
  _raises(lambda: read_manifest("ssv2", tmp_path / "ssv2", "validation"),
          "something-something-v2-validation.json")


def test_wrong_column_is_named(tmp_path):
  layouts.write_epic_kitchens_100(tmp_path)
  _edit_csv(tmp_path / "annotations" / "EPIC_100_train.csv", 1, "stop_frame", "end_frame")
  _raises(lambda: read_manifest("epic_kitchens_100", tmp_path, "train"), "EPIC_100_train.csv",
          "stop_frame")
  layouts.write_kinetics(tmp_path / "k400")
  _edit_csv(tmp_path / "k400" / "annotations" / "train.csv", 1, "youtube_id", "video")
  _raises(lambda: read_manifest("kinetics_400", tmp_path / "k400", "train"), "train.csv", "youtube_id")


def test_non_integer_frame_names_file_and_row(tmp_path):
  layouts.write_epic_kitchens_100(tmp_path)
  _edit_csv(tmp_path / "annotations" / "EPIC_100_train.csv", 3, "start_frame", "41.5")
  _raises(lambda: read_manifest("epic_kitchens_100", tmp_path, "train"), "EPIC_100_train.csv",
          "row 3", "start_frame")
  layouts.write_diving48(tmp_path / "d48")
  path = tmp_path / "d48" / "Diving48_V2_train.json"
  _edit_json(path, lambda rows: rows[1].update(end_frame=52.5))
  _raises(lambda: read_manifest("diving48", tmp_path / "d48", "train"), "Diving48_V2_train.json",
          "row 1", "end_frame")
  layouts.write_finegym288(tmp_path / "gym")
  path = tmp_path / "gym" / "annotations" / "gym288_val_element.txt"
  path.write_text(path.read_text() + "0LtLS9wROrk_E_000004_000020_A_00x3_0005 1\n")
  _raises(lambda: read_manifest("finegym288", tmp_path / "gym", "validation"),
          "gym288_val_element.txt", "row 2", "action_start")


def test_bad_label_id_names_file_and_row(tmp_path):
  layouts.write_diving48(tmp_path)
  _edit_json(tmp_path / "Diving48_V2_test.json", lambda rows: rows[0].update(label=3))
  _raises(lambda: read_manifest("diving48", tmp_path, "validation"), "Diving48_V2_test.json",
          "row 0", "Diving48_vocab.json")
  layouts.write_epic_kitchens_100(tmp_path / "epic")
  _edit_csv(tmp_path / "epic" / "annotations" / "EPIC_100_validation.csv", 2, "noun_class", "4")
  _raises(lambda: read_manifest("epic_kitchens_100", tmp_path / "epic", "validation"),
          "EPIC_100_validation.csv", "row 2", "noun_class")
  layouts.write_finegym288(tmp_path / "gym")
  path = tmp_path / "gym" / "annotations" / "gym288_train_element_v1.1.txt"
  path.write_text(path.read_text().replace("_A_0003_0005 1", "_A_0003_0005 288"))
  _raises(lambda: read_manifest("finegym288", tmp_path / "gym", "train"),
          "gym288_train_element_v1.1.txt", "row 1", "gym288_categories.txt")


def test_unknown_template_or_label_names_file_and_row(tmp_path):
  layouts.write_ssv2(tmp_path)
  path = tmp_path / "labels" / "something-something-v2-train.json"
  _edit_json(path, lambda rows: rows[1].update(template="Putting [something] under [something]"))
  _raises(lambda: read_manifest("ssv2", tmp_path, "train"), "something-something-v2-train.json",
          "row 1", "42326", "Putting [something] under [something]")
  layouts.write_kinetics(tmp_path / "k600")
  _edit_csv(tmp_path / "k600" / "annotations" / "validate.csv", 3, "label", "yodelling")
  _raises(lambda: read_manifest("kinetics_600", tmp_path / "k600", "validation"), "validate.csv",
          "row 3", "yodelling")
  _edit_csv(tmp_path / "k600" / "annotations" / "test.csv", 2, "label", "")
  _raises(lambda: read_manifest("kinetics_600", tmp_path / "k600", "test"), "test.csv", "row 2", "label")


def test_video_missing_from_info_and_empty_spans_are_rejected(tmp_path):
  layouts.write_epic_kitchens_100(tmp_path)
  _edit_csv(tmp_path / "annotations" / "EPIC_100_train.csv", 2, "video_id", "P09_09")
  _raises(lambda: read_manifest("epic_kitchens_100", tmp_path, "train"), "EPIC_100_train.csv",
          "row 2", "P09_09", "EPIC_100_video_info.csv")
  layouts.write_diving48(tmp_path / "d48")
  _edit_json(tmp_path / "d48" / "Diving48_V2_train.json", lambda rows: rows[2].update(end_frame=3))
  _raises(lambda: read_manifest("diving48", tmp_path / "d48", "train"), "Diving48_V2_train.json",
          "row 2", "stop frame 3 <= start frame 3")
  layouts.write_finegym288(tmp_path / "gym")
  path = tmp_path / "gym" / "annotations" / "gym288_categories.txt"
  path.write_text(path.read_text().replace("Clabel: 2;", "Clabel: 5;"))
  _raises(lambda: read_manifest("finegym288", tmp_path / "gym", "train"), "gym288_categories.txt",
          "missing [2]")


def test_readers_do_not_need_videos(tmp_path):
  expected = layouts.write_finegym288(tmp_path)
  assert not (tmp_path / "videos").exists()
  assert len(read_manifest("finegym288", tmp_path, "train")) == len(expected["segments"]["train"])
