"""The tokenizer model and its training stage: top-k zeroing, GAN switch-on, restore, config errors."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import experiments
from lvmae import runs
from lvmae.tokenizer.losses import FeatureNetwork
from lvmae.train.tokenizer import load_tokenizer
from lvmae.validation import ConfigError


def _stage(*sets):
  return runs.build(experiments.get("tokenizer", "smoke", sets))


def test_adaptive_forward_keeps_exactly_k_tokens_and_zeroes_the_rest():
  stage = _stage()
  model = stage.build_model(nnx.Rngs(0))
  video = jax.random.uniform(jax.random.key(1), (2, 16, 32, 32, 3), minval=-1, maxval=1)
  out = model(video, jax.random.key(2))
  t, h, w = stage.grid
  n = t * h * w
  k = round(stage.adaptive.keep_ratio * n)
  keep = np.asarray(out["keep"])
  assert out["z"].shape == (2, t, h, w, stage.quantizer.dim)
  assert out["recon"].shape == video.shape
  np.testing.assert_array_equal(keep.sum(axis=1), [k, k])
  assert set(np.unique(keep)) <= {0.0, 1.0}
  # The kept tokens are the top-k scores; the others are zero before quantization.
  scores = np.asarray(out["scores"])
  for b in range(2):
    np.testing.assert_array_equal(np.sort(np.argsort(-scores[b], kind="stable")[:k]), np.flatnonzero(keep[b]))
  z = np.asarray(out["z"]).reshape(2, n, -1)
  assert np.all(z[keep == 0] == 0) and np.any(z[keep == 1] != 0)


def test_scorer_gets_gradients_through_the_top_k():
  stage = _stage()
  model = stage.build_model(nnx.Rngs(0))
  video = jax.random.uniform(jax.random.key(1), (2, 16, 32, 32, 3), minval=-1, maxval=1)

  def loss(m):
    return jnp.mean(jnp.square(m(video, jax.random.key(3))["recon"] - video))

  grads = nnx.grad(loss)(model)
  scorer = jax.tree.leaves(nnx.state(grads.scorer, nnx.Param))
  assert all(np.all(np.isfinite(g)) for g in scorer)
  assert any(np.any(np.asarray(g) != 0) for g in scorer)


def test_config_errors_name_the_field():
  with pytest.raises(ConfigError, match="latent_dim"):
    _stage("autoencoder.latent_dim=3")
  with pytest.raises(ConfigError, match="num_frames"):
    _stage("sampling.num_frames=9")
  with pytest.raises(ConfigError, match="topk"):
    _stage("adaptive.topk='magic'")


def test_smoke_run_with_gan_and_perceptual_loss_restores_to_its_metrics(tmp_path):
  rng = np.random.default_rng(0)
  net = tmp_path / "features.npz"
  FeatureNetwork.save(net, [rng.normal(size=(3, 3, 3, 4)).astype(np.float32)], [np.zeros(4, np.float32)])
  cfg = experiments.get("tokenizer", "smoke", [
      "losses.gan_weight=0.5", "losses.gan_start=3", f"losses.perceptual_file='{net}'"])
  run_dir = runs.execute(cfg, tmp_path / "runs")
  result = json.loads((run_dir / "result.json").read_text())
  assert result["finished"] and result["num_eval"] == 8
  assert 0 < result["codebook_usage"] <= 1 and 1 <= result["codebook_perplexity"] <= result["codebook_size"]
  for name in ("event_recall", "event_recall_untrained", "event_recall_pixels"):
    assert 0 <= result[name] <= 1
  assert result["event_tokens"] > 0
  rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
  by_step = {row["step"]: row for row in rows}
  assert by_step[2]["generator"] == 0 and by_step[2]["discriminator"] == 0  # before gan_start
  assert by_step[6]["generator"] != 0 and by_step[6]["discriminator"] > 0
  assert all(row["perceptual"] > 0 for row in rows)
  # The restored tokenizer reproduces the metrics computed at the end of training.
  stage = runs.build(cfg)
  again = stage.evaluate(load_tokenizer(stage, run_dir))
  assert again["psnr"] == pytest.approx(result["psnr"], rel=1e-5)
  assert again["codebook_usage"] == result["codebook_usage"]
  assert again["event_recall"] == result["event_recall"]
