"""The peer, parts and device sections of `lvmae bench` (experiments/bench_points.py): their configurations,
a step taken apart and the device check run on a CPU at tiny shapes, one point measured in its own process,
the memory budget."""
import json

import pytest

import cli
import experiments
from experiments import bench_points
from lvmae import bench, cost, runs


def _stage(point):
  return runs.build(experiments.get("pretrain", "paper", sets=point.sets))


def test_the_device_check_measures_vit_b_at_16_32_and_128_frames_with_both_decoder_budgets():
  points = bench_points.device_points("paper", "gpu")
  assert [p.name for p in points] == [f"{f} frames, {b}" for f in (16, 32, 128) for b in ("100%", "15%")]
  for point in points:
    stage = _stage(point)
    assert (stage.encoder.width, stage.encoder.depth, stage.decoder.width) == (768, 12, 384)
    assert stage.encoder.dtype == stage.decoder.dtype == "bfloat16"
    assert stage.encoder.attention_impl == stage.decoder.attention_impl == "cudnn"
    assert stage.schedule.batch_size * stage.sampling.num_frames == 512
    tokens = stage.num_tokens()
    assert tokens["selected"] == (tokens["total"] - tokens["visible"] if point.name.endswith("100%")
                                  else round(0.15 * tokens["total"]))
  assert all(_stage(p).encoder.attention_impl == "xla" for p in bench_points.device_points("paper", "cpu"))


def test_the_peer_section_covers_four_configurations_at_equal_work_and_15_percent_with_both_remat_settings():
  points = bench_points.peer_points()
  assert len(points) == 40 and {c for c, _, _ in points} == set(bench_points.PEER)
  tiny = _stage(next(p for c, s, p in points if c == "tiny, 32 frames" and s == "none"))
  assert (tiny.grid, tiny.schedule.batch_size, tiny.encoder.width, tiny.encoder.dtype) == ((16, 4, 4), 8, 192, "float32")
  assert tiny.num_tokens()["selected"] == 256 - tiny.num_tokens()["visible"]  # every masked token decoded
  vit_b = _stage(next(p for c, s, p in points if c == "ViT-B, 128 frames" and s == "random"))
  assert (vit_b.grid, vit_b.schedule.batch_size, vit_b.decoder.depth) == ((64, 14, 14), 1, 4)
  settings = {(_stage(p).encoder.remat, _stage(p).decoder.remat, _stage(p).encoder.attention_impl,
               _stage(p).decoder.attention_impl) for _, _, p in points}
  assert settings == {(remat, remat, attention, attention) for remat, attention in bench_points.PEER_SETTINGS}
  assert {remat for remat, _ in bench_points.PEER_SETTINGS} == {"none", "full", "mlp"}


def test_bench_device_on_a_cpu_measures_the_tiny_points(tmp_path, monkeypatch, capsys):
  # In-process here (the subprocess path has its own test): the same `measure`.
  monkeypatch.setattr(bench_points, "measure_in_subprocess",
                      lambda point, warmup, steps: bench_points.measure(point.sets, warmup, steps))
  out = tmp_path / "bench.json"
  args = ["bench", "--sections", "device", "--device-frames", "4", "16", "--device-steps", "2", "--out", str(out)]
  assert cli.main(args) == 0
  section = json.loads(out.read_text())["device"]["cpu"]
  assert section["shapes"] == "tiny" and list(section["points"]) == [f"{f} frames, {b}" for f in (4, 16)
                                                                     for b in ("100%", "15%")]
  for name, result in section["points"].items():
    assert result["run"] and result["seconds_per_step"] > 0 and result["predicted_gib"] > 0, name
    assert result["device_peak_gib"] is None and result["mfu"] is None  # a CPU has neither
  assert "16 frames, 15%: " in capsys.readouterr().out


def test_bench_parts_times_each_part_of_a_peer_configurations_step_at_its_shapes(tmp_path, capsys):
  out = tmp_path / "bench.json"
  args = ["bench", "--sections", "parts", "--parts-config", "tiny, 32 frames", "--peer-steps", "1", "--out", str(out)]
  assert cli.main(args) == 0
  section = json.loads(out.read_text())["parts"]["tiny, 32 frames"]
  point = bench_points.peer_point("tiny, 32 frames", "none", "mlp", "blockwise")
  assert section["point"] == point.name
  tokens = _stage(point).num_tokens()
  assert tokens["visible"] + tokens["selected"] == tokens["total"]  # equal work: every token decoded
  assert section["tokens"] == {"encoder": tokens["visible"], "decoder": tokens["total"]}
  parts = section["parts"]
  assert set(parts) == {"encoder", "decoder", "encoder_attention", "decoder_attention", "optimizer_update"}
  assert all(seconds > 0 for seconds in parts.values()) and section["step"] > 0
  assert section["rest"] == pytest.approx(section["step"] - parts["encoder"] - parts["decoder"]
                                          - parts["optimizer_update"])
  assert f"{point.name}: step " in capsys.readouterr().out


def test_an_unknown_parts_config_stops_the_bench_before_anything_runs(tmp_path, capsys):
  out = tmp_path / "bench.json"
  assert cli.main(["bench", "--sections", "steps", "parts", "--parts-config", "ViT-H", "--out", str(out)]) == 2
  assert "config='ViT-H'" in capsys.readouterr().err and not out.exists()


def test_a_point_is_measured_in_its_own_process_and_a_point_over_the_memory_budget_is_not_run(monkeypatch):
  point = bench_points.device_points("tiny", "cpu")[1]
  result = bench_points.measure_in_subprocess(point, warmup=1, steps=1)
  assert result["run"] and result["peak_rss_gib"] > 0.1 and result["grid"] == [2, 4, 4]
  monkeypatch.setattr(bench_points, "memory_budget_bytes", lambda: 1)
  skipped = bench_points.measure(point.sets, warmup=1, steps=1)
  assert not skipped["run"] and skipped["predicted_gib"] > 0 and "seconds_per_step" not in skipped


def test_the_peer_summary_keeps_the_fastest_setting_within_the_peers_memory_beside_the_peers_numbers(
    tmp_path, monkeypatch):
  """Remat none is faster and remat full leaner: the summary keeps the fastest setting within the
  peer's memory, or the fastest where none is (ViT-B at 16 frames, all over 2.37 GiB here)."""
  def fake(point, warmup, steps):
    if "ViT-B, 128 frames, none" in point.name:
      return {"run": False, "predicted_gib": 17.7, "budget_gib": 14.0}
    seconds = 1.0 if "remat none" in point.name else 2.0
    gib = 9.0 if "ViT-B, 16 frames" in point.name else 2.0 if "remat none" in point.name else 0.5
    return {"run": True, "seconds_per_step": seconds, "peak_rss_gib": gib, "gflops_per_second": 50.0,
            "clips_per_second": 1.0, "device_peak_gib": None, "predicted_gib": 1.0, "mfu": None}

  monkeypatch.setattr(bench_points, "measure_in_subprocess", fake)
  out = tmp_path / "bench.json"
  assert cli.main(["bench", "--sections", "peer", "--out", str(out)]) == 0
  summary = json.loads(out.read_text())["peer"]["any"]["summary"]
  assert summary["tiny, 32 frames"]["peer_seconds"] == pytest.approx(0.159)
  tiny = summary["tiny, 32 frames"]["none"]
  assert (tiny["seconds_per_step"], tiny["within_peer_memory"]) == (2.0, True)  # remat none: faster, over 0.83 GiB
  assert tiny["setting"] == "remat full, attention xla" and tiny["speedup_over_peer"] == pytest.approx(0.159 / 2.0)
  vit = summary["ViT-B, 16 frames"]["none"]
  assert (vit["seconds_per_step"], vit["within_peer_memory"]) == (1.0, False)
  assert vit["setting"] == "remat none, attention xla"
  assert summary["ViT-B, 128 frames"]["none"] is None and summary["ViT-B, 128 frames"]["random"] is not None


def test_a_measured_step_is_the_one_lvmae_cost_analyses_compiled_before_the_state_exists():
  stage = _stage(bench_points.device_points("tiny", "cpu")[1])
  result = bench.train_step_times(stage, warmup=1, steps=1)
  assert result["run"] and result["seconds_per_step"] > 0
  assert result["predicted_bytes"] == cost.compiled_memory(stage)["total_bytes"]  # the same lowering
