"""Tests of converting a video source to JPEG frames in ArrayRecord shards and reading them back
(lvmae/data/arrayrecord.py), on generated videos whose frames show their own index."""
import json

import numpy as np
import pytest
from array_record.python.array_record_data_source import ArrayRecordDataSource

from lvmae.data.arrayrecord import (ArrayRecordSource, convert, decode_header, decode_jpeg, encode_jpeg,
                                   loader_benchmark)
from lvmae.data.pipeline import Sampling
from lvmae.data.readers import read_manifest
from lvmae.data.videos import VideoSource
from tests import dataset_layouts
from tests.video_fixtures import frame_index, write_video

SHORT_SIDE = 24  # 64x48 videos -> 32x24 frames: 4-pixel bars, still readable


def _source(tmp_path, corrupt: str | None = None) -> tuple[VideoSource, dict]:
  root = tmp_path / "epic_kitchens_100"
  layout = dataset_layouts.write_epic_kitchens_100(root)
  for video, (num_frames, fps) in layout["videos"].items():
    write_video(root / video, num_frames, fps=fps, width=64, height=48)
  if corrupt is not None:
    (root / corrupt).write_bytes(b"\x00corrupt" * 50)
  manifest = read_manifest("epic_kitchens_100", root, "train")
  return VideoSource(manifest, root, short_side=SHORT_SIDE), layout


def _luma(frames: np.ndarray) -> np.ndarray:
  return frames.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
  tmp_path = tmp_path_factory.mktemp("arrayrecord")
  source, layout = _source(tmp_path)
  index = convert(source, tmp_path / "records", short_side=SHORT_SIDE, records_per_shard=2,
                  progress=False)
  return source, layout, index, tmp_path / "records"


def test_jpeg_round_trip_keeps_colours():
  # The test videos' frames have equal red and blue; this one tells the channels apart.
  ramp = np.linspace(0, 1, 32, dtype=np.float32)[None, :, None]
  frame = np.broadcast_to(ramp * np.array([220, 120, 20], np.float32), (24, 32, 3)).astype(np.uint8)
  back = decode_jpeg(encode_jpeg(frame, quality=90))
  assert back.shape == frame.shape and back.dtype == np.uint8
  assert np.abs(back.astype(np.int16) - frame).mean() < 3


def test_index_lists_shards_records_and_heads(converted):
  source, layout, index, out = converted
  assert index["records"] == len(source) == 3 and index["skipped"] == []
  assert index["shards"] == ["train-00000-of-00002.array_record", "train-00001-of-00002.array_record"]
  assert sorted(p.name for p in out.iterdir()) == sorted(index["shards"] + ["train.json"])
  assert json.loads((out / "train.json").read_text()) == index
  assert (index["dataset"], index["split"], index["short_side"], index["quality"]) == (
      "epic_kitchens_100", "train", SHORT_SIDE, 90)
  assert index["heads"] == [[name, list(classes)] for name, classes in layout["heads"].items()]


def test_records_follow_the_documented_layout(converted):
  source, _, _, out = converted
  raw = ArrayRecordDataSource([str(out / "train-00000-of-00002.array_record")])
  header, start = decode_header(raw[1])
  segment = source.manifest.segments[1]
  assert (header["row"], header["id"], header["labels"]) == (1, segment.id, list(segment.labels))
  assert header["num_frames"] == len(header["frame_bytes"]) == source[1]["video"].shape[0]
  assert header["fps"] == 25.0
  assert start + sum(header["frame_bytes"]) == len(raw[1])
  assert raw[1][start:start + 2] == b"\xff\xd8"  # a JPEG starts here


def test_elements_match_the_video_source(converted):
  source, _, _, out = converted
  records = ArrayRecordSource(out, "train")
  assert len(records) == len(source) and records.may_skip is False and records.skips is None
  assert "epic_kitchens_100 train, 3 clips" in repr(records)
  for i in range(len(source)):
    video, record = source[i], records[i]
    assert record["index"] == video["index"] and record["label"].dtype == np.int32
    assert record["label"].tolist() == video["label"].tolist()
    assert record["duration"] == pytest.approx(float(video["duration"]))
    assert record["video"].shape == video["video"].shape
    n = video["video"].shape[0]
    wanted = np.array([0, 3, n - 1, 3, n // 2])  # any order, repeats
    jpeg, decoded = record["video"][wanted], video["video"][wanted]
    assert jpeg.shape == decoded.shape == (5, 24, 32, 3) and jpeg.dtype == np.uint8
    assert [frame_index(f) for f in jpeg] == [frame_index(f) for f in decoded]
    first = video["video"].first_frame
    assert [frame_index(f) for f in jpeg] == (first + wanted).tolist()
    # JPEG keeps brightness at full resolution; colour is subsampled 2x (as in the videos), which
    # blurs the saturated bar edges of these test frames.
    assert np.abs(_luma(jpeg) - _luma(decoded)).mean() < 3
    assert np.median(np.abs(jpeg.astype(np.int16) - decoded)) <= 3
    assert np.abs(jpeg.astype(np.int16) - decoded).mean() < 16
  with pytest.raises(IndexError, match="not in a clip"):
    records[0]["video"][np.array([records[0]["video"].shape[0]])]


def test_unreadable_videos_are_skipped_and_counted(tmp_path):
  source, layout = _source(tmp_path, corrupt="P02/videos/P02_102.MP4")
  first = convert(source, tmp_path / "records", short_side=SHORT_SIDE, records_per_shard=1,
                  progress=False)
  assert first["records"] == 2 and len(first["shards"]) == 2
  index = convert(source, tmp_path / "records", short_side=SHORT_SIDE, progress=False)
  assert index["records"] == 2 and index["shards"] == ["train-00000-of-00001.array_record"]
  assert sorted(p.name for p in (tmp_path / "records").iterdir()) == [  # old shards replaced
      "train-00000-of-00001.array_record", "train.json"]
  assert len(index["skipped"]) == 1 and "P02_102.MP4" in index["skipped"][0]
  records = ArrayRecordSource(tmp_path / "records", "train")
  assert [records[i]["index"] for i in range(len(records))] == [0, 1]


def test_missing_directory_or_shard_is_a_clear_error(tmp_path, converted):
  with pytest.raises(FileNotFoundError, match=r"nowhere/validation\.json.*lvmae data convert"):
    ArrayRecordSource(tmp_path / "nowhere", "validation")
  _, _, index, out = converted
  partial = tmp_path / "partial"
  partial.mkdir()
  (partial / "train.json").write_text(json.dumps(index))
  with pytest.raises(FileNotFoundError, match=r"train-00000-of-00002\.array_record.*lvmae data convert"):
    ArrayRecordSource(partial, "train")


def test_loader_benchmark_reads_both_sources(converted):
  source, _, _, out = converted
  sampling = Sampling(num_frames=4, stride=2)

  def spatial(frames, rng):
    assert frames.shape == (4, 24, 32, 3)
    return frames[:, :16, :16]

  for s in (source, ArrayRecordSource(out, "train")):
    result = loader_benchmark(s, sampling, num_clips=3, spatial=spatial, seed=1)
    assert result["clips"] == 3 and result["frames"] == 4
    assert result["seconds"] > 0 and result["clips_per_s_per_core"] > 0
