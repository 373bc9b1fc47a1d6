"""The probe: its features stage, the linear and attentive heads, the held-out choice, end to end."""
import dataclasses
import json

import jax
import numpy as np
import pytest

import experiments
from lvmae import runs
from lvmae.data.pipeline import sample_indices
from lvmae.masking.grid import patchify
from lvmae.train import probe_heads
from lvmae.train.evaluate import PREDICTIONS
from lvmae.train.probe_features import FEATURE_FILES, TOKEN_FILES, load_features
from lvmae.validation import ConfigError

experiments.registry._load()
# Every synthetic linear fit below has 800 train rows of 16 features, SLC's one head of 8 classes
# and 500 L-BFGS steps at most, so that they share one compiled solver.
ROWS, DIM, HEADS, STEPS = 800, 16, (8,), 500


def _gaussian_classes(rng, n, classes=8, dim=DIM, separation=6.0):
  """Features of `classes` well separated Gaussian blobs, labels (n,)."""
  means = rng.normal(size=(classes, dim)) * separation
  labels = rng.integers(0, classes, n)
  return (means[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


def _linear_top1(train_x, train_y, eval_x, eval_y, l2=1e-3):
  mean, std = probe_heads.standardiser(train_x)
  weights = np.ones(len(train_y), np.float32)
  params = probe_heads.fit_linear((train_x - mean) / std, train_y[:, None], weights, l2, heads=HEADS, steps=STEPS)
  return probe_heads.top1(probe_heads.linear_probs(params, (eval_x - mean) / std, HEADS), eval_y[:, None], HEADS)


def _numpy_loss(w, b, x, labels, l2, heads):
  """Sum over heads of the mean softmax cross-entropy + l2/2 ||w||^2, in float64 numpy."""
  logits, loss, start = x @ w + b, 0.0, 0
  for h, classes in enumerate(heads):
    z = logits[:, start:start + classes]
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss -= log_p[np.arange(len(x)), labels[:, h]].mean()
    start += classes
  return loss + 0.5 * l2 * np.sum(w ** 2)


def test_linear_loss_and_gradient_match_numpy_finite_differences():
  rng = np.random.default_rng(0)
  heads, n, dim, l2 = (3, 2), 20, 5, 0.3  # two heads: their cross-entropies add up
  x = rng.normal(size=(n, dim))
  labels = np.stack([rng.integers(0, c, n) for c in heads], -1)
  w, b = rng.normal(size=(dim, sum(heads))), rng.normal(size=sum(heads))
  params = {"w": np.float32(w), "b": np.float32(b)}
  value, grads = jax.value_and_grad(probe_heads.linear_loss)(params, np.float32(x), labels, l2, heads)
  assert float(value) == pytest.approx(_numpy_loss(w, b, x, labels, l2, heads), rel=1e-5)
  eps = 1e-6
  for name, array in (("w", w), ("b", b)):
    numeric = np.zeros_like(array)
    for i in np.ndindex(array.shape):
      up, down = array.copy(), array.copy()
      up[i] += eps
      down[i] -= eps
      args = {"w": w, "b": b}
      numeric[i] = (_numpy_loss(**{**args, name: up}, x=x, labels=labels, l2=l2, heads=heads)
                    - _numpy_loss(**{**args, name: down}, x=x, labels=labels, l2=l2, heads=heads)) / (2 * eps)
    np.testing.assert_allclose(np.asarray(grads[name]), numeric, atol=1e-4)


def test_linear_probe_separates_gaussian_classes_and_not_shuffled_labels():
  rng = np.random.default_rng(1)
  x, y = _gaussian_classes(rng, ROWS + 400)
  assert _linear_top1(x[:ROWS], y[:ROWS], x[ROWS:], y[ROWS:]) > 0.98
  shuffled = rng.permutation(y[:ROWS])
  assert _linear_top1(x[:ROWS], shuffled, x[ROWS:], y[ROWS:]) < 0.25  # chance is 0.125


def test_the_strongest_regularisation_wins_a_tie():
  assert probe_heads.choose_regularisation({0.01: 0.4, 0.1: 0.5, 1.0: 0.5}) == 1.0
  assert probe_heads.choose_regularisation({0.01: 0.6, 0.1: 0.5, 1.0: 0.5}) == 0.01
  fit, held = probe_heads.held_out_split(10, 0.2, seed=0)
  assert len(held) == 2 and sorted(np.concatenate([fit, held])) == list(range(10))


def _probe_stage(**changes):
  """The smoke `probe_pixels` Probe stage (its features' data: SLC, one head of 8 classes)."""
  return dataclasses.replace(runs.build(experiments.get("probe_pixels", "smoke")), **changes)


def _write_features(directory, train_x, train_y, eval_x, eval_y):
  directory.mkdir(parents=True, exist_ok=True)
  for which, x, y in (("train", train_x, train_y), ("eval", eval_x, eval_y)):
    np.savez(directory / FEATURE_FILES[which], pooled=x, label=y, index=np.arange(len(y)))
  return directory


def test_held_out_choice_picks_the_weak_l2_that_a_cancelling_direction_needs(tmp_path):
  # Two features share a large noise: only their difference (a large-weight direction) carries the
  # label, so a strong L2 (weights towards the class-mean direction) scores near chance. The other
  # 14 features are noise.
  rng = np.random.default_rng(2)
  n = ROWS + 200
  signal, noise = rng.choice([-1.0, 1.0], n), rng.normal(size=n) * 3
  x = np.concatenate([np.stack([signal + noise, noise], 1), rng.normal(size=(n, DIM - 2))], 1).astype(np.float32)
  y = (signal > 0).astype(np.int64)
  features = _write_features(tmp_path / "features", x[:ROWS], y[:ROWS], x[ROWS:], y[ROWS:])
  stage = _probe_stage(regularisation=(1e-4, 10.0), steps=STEPS)
  result = stage.run(tmp_path, {"features": features})
  assert result["chosen_regularisation"] == 1e-4
  assert result["held_out_top1"]["0.0001"] > 0.95 and result["held_out_top1"]["10.0"] < 0.75
  assert result["top1"] > 0.95 and result["num_train"] == 800 and result["num_eval"] == 200


def test_the_same_features_and_config_give_the_same_top1(tmp_path):
  rng = np.random.default_rng(3)
  x, y = _gaussian_classes(rng, ROWS + 200, separation=0.4)  # overlapping: top1 well below 1
  features = _write_features(tmp_path / "features", x[:ROWS], y[:ROWS], x[ROWS:], y[ROWS:])
  stage = _probe_stage(regularisation=(1e-3, 1e-1), steps=STEPS)
  (tmp_path / "a").mkdir()
  (tmp_path / "b").mkdir()
  first = stage.run(tmp_path / "a", {"features": features})
  second = stage.run(tmp_path / "b", {"features": features})
  assert 0.2 < first["top1"] < 1.0 and first["top1"] == second["top1"]
  assert first["held_out_top1"] == second["held_out_top1"]
  with np.load(tmp_path / "a" / PREDICTIONS) as a, np.load(tmp_path / "b" / PREDICTIONS) as b:
    np.testing.assert_array_equal(a["probs"], b["probs"])


def _one_token_task(rng, n, length=16, classes=8, dim=DIM):
  """Tokens whose class is told by the one flagged token; every other token shows a random class."""
  labels = rng.integers(0, classes, n)
  tokens = np.zeros((n, length, dim), np.float32)
  tokens[np.arange(n)[:, None], np.arange(length), rng.integers(0, classes, (n, length))] = 1.0
  flagged = rng.integers(0, length, n)
  tokens[np.arange(n), flagged] = 0.0
  tokens[np.arange(n), flagged, labels] = 1.0
  tokens[np.arange(n), flagged, classes] = 1.0  # the flag
  return tokens + rng.normal(size=tokens.shape).astype(np.float32) * 0.1, labels


def test_attentive_probe_learns_a_task_only_one_token_solves():
  rng = np.random.default_rng(4)
  train_tokens, train_y = _one_token_task(rng, ROWS)
  eval_tokens, eval_y = _one_token_task(rng, 400)
  weights = np.ones(ROWS, np.float32)
  model = probe_heads.fit_attentive(train_tokens, train_y[:, None], weights, 0.01, heads=HEADS, num_heads=2,
                                    steps=300, batch_size=64, learning_rate=3e-3, seed=0)
  probs = probe_heads.attentive_probs(model, eval_tokens, HEADS)
  assert probe_heads.top1(probs, eval_y[:, None], HEADS) > 0.9
  # the mean over tokens mostly averages the distractors away from the answer
  assert _linear_top1(train_tokens.mean(1), train_y, eval_tokens.mean(1), eval_y, l2=1e-4) < 0.6


def test_pixel_features_are_the_mean_of_the_patchified_clip(tmp_path):
  stage = runs.build(experiments.get("probe_pixels", "smoke")).features
  stage = dataclasses.replace(stage, data=dataclasses.replace(stage.data, num_train=3, num_eval=2), batch_size=2)
  result = stage.run(tmp_path, {})  # 3 clips in batches of 2: the short last batch is padded
  assert result["num_train"] == 3 and result["num_eval"] == 2 and not result["tokens"]
  train = load_features(tmp_path, "train")
  source = stage.data.source("train")
  for row, index in enumerate(train["index"]):
    element = source[int(index)]
    clip = element["video"][sample_indices(element["video"].shape[0], stage.sampling)]
    expected = patchify(clip[None].astype(np.float64) / 255.0, stage.tubelet).mean(axis=1)[0]
    np.testing.assert_allclose(train["pooled"][row], expected, atol=1e-5)
    assert train["label"][row] == element["label"]
  assert train["pooled"].shape == (3, stage.patch_dim) and train["pooled"].dtype == np.float32
  with pytest.raises(ValueError, match="no per-token features"):
    load_features(tmp_path, "eval", tokens=True)


def test_several_eval_clips_give_one_pooled_row_per_view_and_one_train_view(tmp_path):
  stage = runs.build(experiments.get("probe_pixels", "smoke")).features
  stage = dataclasses.replace(stage, data=dataclasses.replace(stage.data, num_train=2, num_eval=3), batch_size=2,
                              sampling=dataclasses.replace(stage.sampling, eval_clips=3))
  stage.run(tmp_path, {})
  train, evaluation = load_features(tmp_path, "train"), load_features(tmp_path, "eval")
  assert train["pooled"].shape == (2, stage.patch_dim) and evaluation["pooled"].shape == (3, 3, stage.patch_dim)
  source = stage.data.source("eval")
  for row, index in enumerate(evaluation["index"]):
    video = source[int(index)]["video"]
    for view in range(3):  # the evaluation views of sample_indices, in order
      clip = video[sample_indices(video.shape[0], stage.sampling, view=view)]
      expected = patchify(clip[None].astype(np.float64) / 255.0, stage.tubelet).mean(axis=1)[0]
      np.testing.assert_allclose(evaluation["pooled"][row, view], expected, atol=1e-5)


def test_the_linear_probe_averages_the_posteriors_of_several_eval_views(tmp_path):
  rng = np.random.default_rng(4)
  x, y = _gaussian_classes(rng, ROWS + 100, separation=0.5)
  views = x[ROWS:, None] + rng.normal(size=(100, 3, DIM)).astype(np.float32)  # three noisy views per clip
  single = _probe_stage(regularisation=(1e-2,), steps=STEPS)
  multi = _write_features(tmp_path / "multi", x[:ROWS], y[:ROWS], views, y[ROWS:])
  (tmp_path / "a").mkdir()
  single.run(tmp_path / "a", {"features": multi})
  per_view = []
  for view in range(3):  # the same fit (same train rows and choice), scored on one view at a time
    one = _write_features(tmp_path / f"view{view}", x[:ROWS], y[:ROWS], views[:, view], y[ROWS:])
    (tmp_path / f"r{view}").mkdir()
    single.run(tmp_path / f"r{view}", {"features": one})
    with np.load(tmp_path / f"r{view}" / PREDICTIONS) as p:
      per_view.append(p["probs"])
  with np.load(tmp_path / "a" / PREDICTIONS) as p:
    np.testing.assert_allclose(p["probs"], np.mean(per_view, axis=0), atol=1e-6)


def _small_encoder_features(**changes):
  """The smoke random-init encoder's features stage on 3 train and 2 eval clips, in batches of 2."""
  stage = runs.build(experiments.get("probe_random_init", "smoke")).features
  return dataclasses.replace(stage, data=dataclasses.replace(stage.data, num_train=3, num_eval=2), batch_size=2,
                             **changes)


def test_encoder_tokens_are_computed_and_stored_only_with_keep_tokens(tmp_path):
  pooled_only, with_tokens = _small_encoder_features(), _small_encoder_features(keep_tokens=True)
  size = pooled_only.data.image_size
  video = jax.ShapeDtypeStruct((2, pooled_only.sampling.num_frames, size, size, 3), np.uint8)
  assert set(jax.eval_shape(pooled_only.feature_fn(None), video)) == {"pooled"}  # no tokens returned at all
  assert set(jax.eval_shape(with_tokens.feature_fn(None), video)) == {"pooled", "tokens"}
  (tmp_path / "pooled").mkdir()
  (tmp_path / "tokens").mkdir()
  assert not pooled_only.run(tmp_path / "pooled", {})["tokens"]
  assert sorted(p.name for p in (tmp_path / "pooled").iterdir()) == sorted(FEATURE_FILES.values())
  assert with_tokens.run(tmp_path / "tokens", {})["tokens"]
  assert sorted(p.name for p in (tmp_path / "tokens").iterdir()) == sorted([*FEATURE_FILES.values(),
                                                                            *TOKEN_FILES.values()])
  for which, clips in (("train", 3), ("eval", 2)):
    pooled, kept = load_features(tmp_path / "pooled", which), load_features(tmp_path / "tokens", which, tokens=True)
    np.testing.assert_array_equal(pooled["pooled"], kept["pooled"])
    tokens = kept["tokens"]
    assert isinstance(tokens, np.memmap) and not tokens.flags.writeable
    assert tokens.shape == (clips, 256, 64) and tokens.dtype == np.float16  # N, 16x4x4, width
    np.testing.assert_allclose(tokens.astype(np.float32).mean(1), kept["pooled"], atol=1e-2)
    with pytest.raises(ValueError, match="keep_tokens=True"):
      load_features(tmp_path / "pooled", which, tokens=True)


def test_token_memmap_round_trip_reads_the_filled_rows_only(tmp_path):
  # The .npy has a row per clip of the source; clips that fail to decode leave its last rows unused.
  rng = np.random.default_rng(5)
  tokens = rng.normal(size=(5, 4, 3)).astype(np.float16)
  np.savez(tmp_path / FEATURE_FILES["eval"], pooled=tokens[:4].astype(np.float32).mean(1), label=np.arange(4),
           index=np.array([0, 1, 3, 4]))
  stored = np.lib.format.open_memmap(tmp_path / TOKEN_FILES["eval"], mode="w+", dtype=np.float16, shape=(6, 4, 3))
  stored[:4] = tokens[:4]
  stored.flush()
  del stored
  loaded = load_features(tmp_path, "eval", tokens=True)
  assert isinstance(loaded["tokens"], np.memmap) and not loaded["tokens"].flags.writeable
  np.testing.assert_array_equal(loaded["tokens"], tokens[:4])
  np.testing.assert_array_equal(loaded["index"], [0, 1, 3, 4])
  assert "tokens" not in load_features(tmp_path, "eval")


def _check_probe_run(run_dir, clips=64):
  result = json.loads((run_dir / runs.RESULT_FILE).read_text())
  assert 0.0 <= result["top1"] <= 1.0 and result["num_train"] == result["num_eval"] == clips
  assert result["classes"] == 8 and result["chosen_regularisation"] in (float(k) for k in result["held_out_top1"])
  with np.load(run_dir / PREDICTIONS) as p:
    assert sorted(p.files) == ["index", "label", "prediction", "probs"]
    assert p["probs"].shape == (clips, 8) and p["label"].shape == p["prediction"].shape == (clips,)
    np.testing.assert_allclose(p["probs"].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(p["prediction"], p["probs"].argmax(-1))
  return result


def test_probe_and_pixel_floor_run_end_to_end_at_smoke(tmp_path):
  cfg = experiments.get("probe", "smoke")
  _check_probe_run(runs.execute(cfg, tmp_path))
  features_dir = tmp_path / runs.run_id(cfg.features)
  assert not any((features_dir / name).exists() for name in TOKEN_FILES.values())  # the linear probe's: pooled only
  assert load_features(features_dir, "train")["pooled"].shape == (64, 64)
  pixels = _check_probe_run(runs.execute(experiments.get("probe_pixels", "smoke"), tmp_path))
  assert pixels["source"] == "pixels" and pixels["head"] == "linear"


@pytest.mark.parametrize("name,assignment,field", [
    ("probe", "head='bogus'", "head"),
    ("probe", "held_out=1.5", "held_out"),
    ("probe", "regularisation=()", "regularisation"),
    ("probe", "features.source='rgb'", "features.source"),
    ("probe", "features.tubelet=(2, 4, 4)", "features.tubelet"),
    ("probe_pixels", "head='attentive'", "head"),
    ("probe", "head='attentive'", "features.keep_tokens"),  # the linear probe's features: pooled only
    ("probe_pixels", "features.keep_tokens=True", "features.keep_tokens"),
    ("probe_attentive", "features.sampling.eval_clips=2", "features.sampling.eval_clips"),
    ("probe_attentive", "attention_heads=3", "attention_heads"),
])
def test_bad_values_name_their_field(name, assignment, field):
  cfg = experiments.get(name, "smoke", [assignment])
  with pytest.raises(ConfigError) as err:
    runs.build(cfg)
  assert str(err.value).startswith(field + "=") and "\n" not in str(err.value)


def test_only_the_attentive_probe_keeps_tokens():
  for name in ("probe", "probe_random_init", "probe_pixels", "probe_attentive"):
    assert experiments.get(name, "smoke").features.keep_tokens == (name == "probe_attentive")
