"""lvmae.cost: analytic MACs against published anchors, and against XLA's own count."""
import json

import pytest

import cli
import experiments
from lvmae import cost, runs


def _stage(name, profile, *sets):
  return runs.build(experiments.get(name, profile, sets))


def test_vit_b_video_encoder_matches_published_params_and_macs():
  # VideoMAE's ViT-B on 16x224x224 clips (2x16x16 tubelets, 1568 tokens): 87M parameters, 180 G.
  stage = _stage("finetune", "paper", "sampling.num_frames=16")
  assert stage.grid == (8, 14, 14)
  macs = cost.component_macs(stage)
  assert macs["embedding"] + macs["encoder"] == pytest.approx(180e9, rel=0.03)
  assert cost.component_params(stage)["encoder"] == pytest.approx(87e6, rel=0.03)


def test_transformer_macs_count_projections_mlp_and_attention():
  spec = experiments.base.transformer("B")
  tokens, d = 10, 768
  per_layer = 3 * tokens * d * d + tokens * d * d + 2 * tokens * d * 4 * d + 2 * tokens * tokens * d
  assert cost.transformer_macs(tokens, spec) == 12 * per_layer


def test_pretrain_components_follow_the_visible_and_selected_tokens():
  stage = _stage("pretrain", "smoke")
  tokens, macs = stage.num_tokens(), cost.component_macs(stage)
  assert macs["embedding"] == tokens["visible"] * stage.patch_dim * stage.encoder.width
  assert macs["heads"] == tokens["selected"] * stage.decoder.width * stage.target_dim
  wider = _stage("pretrain", "smoke", "masking.decoder_budget=0.5")
  assert cost.component_macs(wider)["decoder"] > macs["decoder"]
  assert cost.component_macs(wider)["encoder"] == macs["encoder"]


@pytest.mark.parametrize("name", ["pretrain", "finetune"])
def test_xla_flops_agree_with_the_analytic_count(name):
  # Without remat a train step is ~3 forward passes of 2 FLOPs per MAC; XLA also counts the
  # elementwise work (norms, softmax, GELU, the optimiser), a few percent more.
  stage = _stage(name, "smoke", "encoder.remat='none'", *(["decoder.remat='none'"] if name == "pretrain" else []))
  ratio = cost.analyse(stage)["compiled"]["flops_over_analytic_step"]
  assert 1.0 < ratio < 1.3


def test_unrolled_lowering_counts_every_layer_and_remat_recomputes():
  stage = _stage("pretrain", "smoke", "encoder.depth=4", "encoder.remat='none'", "decoder.remat='none'")
  scanned = stage.lower_train_step().compile().cost_analysis()["flops"]
  unrolled = cost.compiled_cost(stage)["flops"]
  assert unrolled > 1.5 * scanned  # a scan body is counted once
  remat = _stage("pretrain", "smoke", "encoder.depth=4", "encoder.remat='full'", "decoder.remat='none'")
  assert cost.compiled_cost(remat)["flops"] > unrolled


def test_cli_writes_the_analysis(tmp_path, capsys):
  out = tmp_path / "cost.json"
  assert cli.main(["cost", "finetune", "--stage", "pretrained", "--analytic-only", "--out", str(out)]) == 0
  result = json.loads(out.read_text())
  assert result["stage"] == "Pretrain" and "compiled" not in result
  assert result["macs_per_clip"]["total"] == sum(v for k, v in result["macs_per_clip"].items() if k != "total")
  assert "decoder" in capsys.readouterr().out


def test_memoised_computes_once_per_config_and_code(tmp_path, monkeypatch):
  calls = []
  compute = lambda: calls.append(1) or {"total_bytes": 7, "grid": (1, 2)}  # noqa: E731
  first = cost.memoised(tmp_path, "memory", "pretrain-abc", compute)
  assert first == {"total_bytes": 7, "grid": [1, 2]} and len(calls) == 1  # as a later call reads it
  assert cost.memoised(tmp_path, "memory", "pretrain-abc", compute) == first and len(calls) == 1
  cost.memoised(tmp_path, "memory", "pretrain-abd", compute)  # another config
  cost.memoised(tmp_path, "analysis", "pretrain-abc", compute)  # another analysis of it
  monkeypatch.setattr(cost, "code_fingerprint", lambda: "other code")
  cost.memoised(tmp_path, "memory", "pretrain-abc", compute)
  assert len(calls) == 4
  cost.memoised(None, "memory", "pretrain-abc", compute)  # nowhere to keep it: computed
  assert len(calls) == 5 and len(list(tmp_path.glob("*.json"))) == 4
