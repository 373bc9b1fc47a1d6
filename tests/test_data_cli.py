"""Tests of `lvmae data check` and `--data-root` (cli/, lvmae/data/check.py)."""
import re

import fiddle as fdl
import pytest

import experiments
from cli import main
from lvmae.data.videos import VideoData
from tests import dataset_layouts
from tests.video_fixtures import truncate, write_video


@pytest.fixture
def diving48(tmp_path):
  root = tmp_path / "diving48"
  layout = dataset_layouts.write_diving48(root)
  for video, (num_frames, fps) in layout["videos"].items():
    write_video(root / video, num_frames, fps=fps)
  return root, layout


def test_data_check_passes_a_complete_dataset(diving48, capsys):
  root, layout = diving48
  assert main(["data", "check", "diving48", str(root), "--decode", "segments"]) == 0
  out = capsys.readouterr().out
  n = len(layout["segments"]["train"])
  assert (f"train: {n} segments in {n} videos; 0 missing, 0 unreadable, 0 with frames that cannot be decoded, "
          f"0 segments past the video's end") in out
  assert out.strip().endswith(": OK")


def test_data_check_names_missing_unreadable_and_out_of_range_files(diving48, capsys):
  root, layout = diving48
  train = layout["segments"]["train"]
  (root / train[0].video).write_bytes(b"corrupt")
  (root / train[1].video).unlink()
  write_video(root / train[2].video, train[2].stop_frame // 2, fps=25.0)  # shorter than its segment
  assert main(["data", "check", "diving48", str(root), "--split", "train"]) == 1
  out = capsys.readouterr().out
  assert f"missing: {root / train[1].video}" in out
  assert f"unreadable: {root / train[0].video}: cannot open" in out
  assert f"out_of_range: {root / train[2].video}: row {train[2].id}" in out
  assert "3 problem(s)" in out


def test_data_check_decodes_every_frame_and_names_a_truncated_file_whose_header_still_reads(diving48, capsys):
  root, layout = diving48
  video, (num_frames, fps) = next(iter((v, layout["videos"][v]) for v in sorted({s.video for s in layout["segments"]["test"]})))
  cut = truncate(write_video(root / video, num_frames, fps=fps, faststart=True), keep=0.75)  # its header intact
  assert main(["data", "check", "diving48", str(root), "--split", "test", "--decode", "none"]) == 0  # headers alone: fine
  capsys.readouterr()
  assert main(["data", "check", "diving48", str(root), "--split", "test"]) == 1
  out = capsys.readouterr().out
  # What decodes of the header's count, and that the stream ends before its header says.
  assert re.search(rf"undecodable: {re.escape(str(cut))}: \d+ of {num_frames} frames \(header\) decode; .*truncated", out)
  assert "1 problem(s)" in out


def test_data_check_reports_annotation_errors_and_bad_roots(tmp_path, capsys):
  root = tmp_path / "diving48"
  dataset_layouts.write_diving48(root)
  (root / "Diving48_V2_train.json").write_text('[{"vid_name": "a", "label": 999, "start_frame": 0, "end_frame": 9}]')
  assert main(["data", "check", "diving48", str(root), "--split", "train"]) == 1
  assert "Diving48_V2_train.json, row 0" in capsys.readouterr().out
  assert main(["data", "check", "diving48", str(tmp_path / "nowhere")]) == 2
  assert "nowhere: dataset root directory not found" in capsys.readouterr().err


def test_data_root_points_every_real_dataset_of_a_paper_config(tmp_path):
  cfg = experiments.get("finetune", "paper", data_root=str(tmp_path))
  roots = [cfg.data.root, cfg.pretrained.data.root]
  assert roots == [str(tmp_path)] * 2 and fdl.get_callable(cfg.data) is VideoData
  with pytest.raises(ValueError, match="reads no real videos"):
    experiments.get("finetune", "smoke", data_root=str(tmp_path))


def test_data_convert_writes_shards_the_arrayrecord_source_reads(diving48, capsys):
  root, layout = diving48
  assert main(["data", "convert", "diving48", str(root), "--split", "train", "--short-side", "24"]) == 0
  assert "diving48 train: 3 clips in 1 shards" in capsys.readouterr().out
  data = VideoData(name="diving48", root=str(root.parent), image_size=16, source_format="arrayrecord")
  source = data.source("train")
  assert [source[i]["label"].tolist() for i in range(len(source))] == [list(s.labels) for s in layout["segments"]["train"]]
  assert source[0]["video"][[0, 1]].shape == (2, 24, 32, 3)


def test_loader_benchmark_measures_both_paths(tmp_path):
  from lvmae.data import loader_bench
  out = loader_bench.run(frames=(8,), num_videos=1, num_clips=1, workdir=tmp_path)
  for name in ("video", "arrayrecord"):
    assert out[name]["8"]["clips"] == 1 and out[name]["8"]["clips_per_s_per_core"] > 0
