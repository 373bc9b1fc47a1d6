"""Precompute (windowed tokenization, cache), token targets (Eq. 2) and adaptive decoder masking."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import experiments
from lvmae import runs
from lvmae.data.pipeline import first_view
from lvmae.masking.events import event_tokens, topk_recall
from lvmae.train.precompute import TokenCache, jitted_tokenize
from lvmae.validation import ConfigError

ADAPTIVE = ["pretrained.targets.kind='adaptive_fsq_magvit'", "pretrained.tokens=@tokens_adaptive_fsq_magvit",
            "pretrained.masking.decoder_strategy='adaptive'", "pretrained.importance=@tokens_adaptive_fsq_magvit"]


def _precompute(*sets):
  return runs.build(experiments.get("tokens_adaptive_fsq_magvit", "smoke", sets))


@pytest.mark.parametrize("frames,window,stride,expect", [
    (32, 16, 16, [0, 16]), (32, 16, 8, [0, 8, 16]), (32, 32, 8, [0]), (48, 16, 12, [0, 12, 24, 32])])
def test_window_starts_cover_the_clip(frames, window, stride, expect):
  stage = _precompute(f"sampling.num_frames={frames}", "sampling.stride=2", f"window={window}",
                      f"window_stride={stride}")
  assert stage.window_starts() == expect


def test_assemble_takes_each_latent_step_from_the_first_window_covering_it():
  stage = _precompute("window_stride=8")  # windows at frames 0, 8, 16; ft = 2
  windows = [np.full((1, 8), i)[..., None] * 100 + np.arange(8)[None, :, None] for i in range(3)]
  out = stage.assemble(windows)[0, :, 0]
  # latent step j covers frames 2j, 2j+1: steps 0-7 from window 0; 8-11 from window 1 (its local
  # steps 4-7); 12-15 from window 2 (local 4-7).
  np.testing.assert_array_equal(out, [0, 1, 2, 3, 4, 5, 6, 7, 104, 105, 106, 107, 204, 205, 206, 207])


def test_windowed_tokenization_equals_tokenizing_each_window():
  stage = _precompute()
  model = stage.tokenizer.build_model(nnx.Rngs(0))
  video = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 32, 3), dtype=np.uint8)
  out = stage.tokenize_clips(jitted_tokenize(model), video)
  halves = [model.tokenize(jnp.asarray(video[:, s:s + 16], jnp.float32) / 127.5 - 1) for s in (0, 16)]
  np.testing.assert_allclose(out["latents"], np.concatenate([h["latents"] for h in halves], axis=1), atol=1e-6)
  t, h, w = stage.grid
  assert out["latents"].shape == (2, t, h, w, stage.tokenizer.quantizer.dim)
  # Scores: distance of the scorer's features to the previous latent step across the window
  # boundary; the first step takes the second step's value (numpy reference).
  feats = np.concatenate([np.asarray(x["score_features"]) for x in halves], axis=1)
  ref = np.zeros((2, t, h, w))
  for step in range(1, t):
    ref[:, step] = np.sqrt(((feats[:, step] - feats[:, step - 1]) ** 2).sum(-1))
  ref[:, 0] = ref[:, 1]
  np.testing.assert_allclose(out["scores"], ref.reshape(2, -1), rtol=1e-4, atol=1e-6)


def test_token_target_loss_is_mse_on_cached_latents_over_masked_and_selected():
  stage = runs.build(experiments.get("finetune", "smoke", ADAPTIVE).pretrained)
  rng = np.random.default_rng(1)
  t, h, w = stage.grid
  n = t * h * w
  latents = rng.normal(size=(2, t, h, w, stage.target_dim)).astype(np.float32)
  scores = rng.normal(size=(2, n)).astype(np.float32)
  video = rng.integers(0, 256, (2, 32, 32, 32, 3), dtype=np.uint8)
  seen = {}

  def model(patches, visible, selected, grid):
    seen["visible"], seen["selected"] = np.asarray(visible), np.asarray(selected)
    return jnp.zeros(selected.shape + (stage.target_dim,))

  loss, _ = stage.loss(model, {"video": video, "latents": latents, "scores": scores}, jax.random.key(0))
  flat = latents.reshape(2, n, -1)
  errors = [np.mean(flat[b, i] ** 2) for b in range(2) for i in seen["selected"][b] if i not in seen["visible"][b]]
  np.testing.assert_allclose(float(loss), np.mean(errors), rtol=1e-5)
  k_top = round(round(n * stage.masking.decoder_budget) * stage.masking.top_share)
  for b in range(2):  # the adaptive strategy keeps the top-scored tokens
    assert set(np.argsort(-scores[b])[:k_top]) <= set(seen["selected"][b].tolist())


@pytest.mark.parametrize("sets,field", [
    (["pretrained.targets.kind='fsq_magvit'"], "tokens"),
    (["pretrained.targets.kind='fsq_magvit'", "pretrained.tokens=@tokens_adaptive_fsq_magvit"], "tokens"),
    (["pretrained.masking.decoder_strategy='adaptive'"], "importance"),
    (["pretrained.masking.decoder_strategy='adaptive'", "pretrained.importance=@tokens_fsq_magvit"], "importance"),
    (["pretrained.targets.kind='magvit'", "pretrained.tokens=@tokens_magvit", "pretrained.data.preset='long'"],
     "tokens.data"),
    (["pretrained.targets.kind='magvit'", "pretrained.tokens=@tokens_magvit", "pretrained.tubelet=(4, 4, 4)"],
     "tokens.tokenizer.autoencoder"),
])
def test_mismatched_token_stages_are_config_errors(sets, field):
  with pytest.raises(ConfigError) as err:
    runs.build(experiments.get("finetune", "smoke", sets))
  assert err.value.field == f"pretrained.{field}" or err.value.field == field


def test_token_cache_reads_latents_and_scores(tmp_path):
  source = [{"video": np.zeros((1,), np.uint8)} for _ in range(3)]
  np.save(tmp_path / "latents.npy", np.arange(3 * 4, dtype=np.float16).reshape(3, 2, 2))
  np.save(tmp_path / "scores.npy", np.arange(3 * 2, dtype=np.float32).reshape(3, 2))
  cache = TokenCache(source, latents_dir=tmp_path, scores_dir=tmp_path)
  np.testing.assert_array_equal(cache[1]["latents"], [[4, 5], [6, 7]])
  np.testing.assert_array_equal(cache[2]["scores"], [4, 5])
  with pytest.raises(ValueError, match="clips"):
    TokenCache(source[:2], latents_dir=tmp_path)
  with pytest.raises(FileNotFoundError, match="scores"):
    TokenCache(source, scores_dir=tmp_path / "nowhere")


def test_adaptive_chain_runs_end_to_end_and_shares_one_precompute(tmp_path):
  run_dir = runs.execute(experiments.get("finetune", "smoke", ADAPTIVE), tmp_path)
  result = json.loads((run_dir / "result.json").read_text())
  pretrain = json.loads((tmp_path / result["upstream"]["pretrained"] / "result.json").read_text())
  assert pretrain["upstream"]["tokens"] == pretrain["upstream"]["importance"]
  cache = tmp_path / pretrain["upstream"]["tokens"]
  latents, scores = np.load(cache / "latents.npy"), np.load(cache / "scores.npy")
  assert latents.shape[:4] == (64, 16, 4, 4) and scores.shape == (64, 256)
  assert np.isfinite(latents).all() and np.isfinite(scores).all() and 0 <= result["top1"] <= 1
  assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["finetune", "precompute", "pretrain", "tokenizer"]
  # The run's recall is that of the cached scores against each clip's own event tokens.
  stage, summary = _precompute(), json.loads((cache / "result.json").read_text())
  source = stage.data.source("train")
  events = np.stack([event_tokens(first_view(source[i]["info"], stage.sampling), stage.grid) for i in range(64)])
  assert summary["event_tokens"] == events.sum() > 0
  assert summary["event_recall"] == pytest.approx(topk_recall(scores, events, 0.15))


def test_bench_writes_train_step_times_and_precompute_cost_per_clip(tmp_path):
  import cli
  out = tmp_path / "bench.json"
  (tmp_path / "bench.json").write_text('{"other": {"kept": 1}}')
  args = ["bench", "--profile", "smoke", "--frames", "16", "32", "--out", str(out), "--skip-loader"]
  assert cli.main(args) == 0  # the loader benchmark has its own test (test_data_cli)
  data = json.loads(out.read_text())
  assert data["other"] == {"kept": 1}  # other sections survive
  section = data["precompute"]["smoke"]
  assert set(section["ms_per_clip"]) == {"16", "32"} and all(v > 0 for v in section["ms_per_clip"].values())
  assert section["frame_ratio_longest_to_shortest"] == 2
  flow = data["flow_scores"]["smoke"]
  assert flow["method"] == "farneback" and set(flow["ms_per_clip"]) == {"16", "32"}
  assert all(v > 0 for v in flow["ms_per_clip"].values())
  for name in ("pretrain", "finetune"):
    step = data["train_steps"]["smoke"][name]
    assert step["seconds_per_step"] > 0 and step["mfu"] is None  # no known peak on a CPU
    assert step["tokens_per_second"] == pytest.approx(step["clips_per_second"] * 16 * 4 * 4)
    assert step["model_flops_per_step"] > 0
