"""Tests for lvmae.tokenizer.scorer: temporal-difference importance, the two-conv token scorer."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lvmae.tokenizer.scorer import TokenScorer, selection_scores, split_stride, temporal_difference_scores

C = 4  # video channels = scorer features: few distinct kernel shapes, few init compiles


def np_scores(f):
  """Reference: ||f[t] - f[t-1]|| for t >= 1; t = 0 gets max(rest) + 1 (per sample)."""
  b, t, h, w, _ = f.shape
  out = np.zeros((b, t, h, w))
  for i in range(b):
    for k in range(1, t):
      out[i, k] = np.sqrt(((f[i, k] - f[i, k - 1]) ** 2).sum(-1))
    out[i, 0] = out[i, 1:].max() + 1 if t > 1 else 1.0
  return out.reshape(b, t * h * w)


def test_split_stride():
  assert [split_stride(s) for s in (1, 2, 4, 8, 16, 6)] == [
      (1, 1), (2, 1), (2, 2), (4, 2), (4, 4), (3, 2)]
  with pytest.raises(ValueError):
    split_stride(0)


def test_temporal_difference_scores_matches_numpy():
  f = np.random.default_rng(0).normal(size=(2, 3, 2, 3, 5)).astype(np.float32)
  got = np.asarray(temporal_difference_scores(jnp.asarray(f)))
  want = np_scores(f.astype(np.float64))
  assert got.shape == (2, 3 * 2 * 3) and got.dtype == np.float32
  np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
  first, rest = got[:, :6], got[:, 6:]
  assert np.all(first.min(axis=1) > rest.max(axis=1))
  bonus = np.broadcast_to(rest.max(axis=1, keepdims=True) + 1, first.shape)
  np.testing.assert_allclose(first, bonus, rtol=1e-6)
  # the first time step's bonus is stop-gradient: no gradient flows through it
  g_first = jax.grad(lambda x: temporal_difference_scores(x)[:, :6].sum())(jnp.asarray(f))
  assert float(jnp.max(jnp.abs(g_first))) == 0.0
  g_rest = jax.grad(lambda x: temporal_difference_scores(x)[:, 6:].sum())(jnp.asarray(f))
  assert float(jnp.max(jnp.abs(g_rest))) > 0.0


def test_single_time_step_scores_are_ones():
  got = temporal_difference_scores(jnp.ones((2, 1, 2, 2, 3)))
  np.testing.assert_array_equal(np.asarray(got), np.ones((2, 4), np.float32))


def test_zero_difference_has_zero_score_and_finite_gradient():
  f = jnp.broadcast_to(jnp.arange(6.0).reshape(1, 1, 1, 2, 3), (1, 3, 1, 2, 3))
  scores, grad = jax.value_and_grad(lambda x: temporal_difference_scores(x).sum())(f)
  assert np.all(np.isfinite(np.asarray(grad)))
  np.testing.assert_array_equal(np.asarray(temporal_difference_scores(f))[:, 2:], 0.0)
  assert float(scores) == 2 * 1.0  # two first-step tokens, each 0 + 1


@pytest.fixture(scope="module")
def scorer():
  return TokenScorer(C, C, temporal_stride=2, spatial_stride=4, rngs=nnx.Rngs(0))


@nnx.jit
def _score(scorer, video):
  return scorer(video)


def test_scorer_shapes(scorer):
  video = jax.random.normal(jax.random.key(0), (2, 8, 8, 12, C))
  assert scorer.token_grid((8, 8, 12)) == (4, 2, 3)
  assert scorer.conv1.strides == (2, 2, 2) and scorer.conv2.strides == (1, 2, 2)
  assert scorer.features(video).shape == (2, 4, 2, 3, C)
  scores = _score(scorer, video)
  assert scores.shape == (2, 4 * 2 * 3) and scores.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(scores),
                             np_scores(np.asarray(scorer.features(video), np.float64)),
                             rtol=1e-4, atol=1e-5)
  with pytest.raises(ValueError, match="not divisible"):
    scorer(jnp.zeros((1, 7, 8, 8, C)))


def test_static_video_zero_and_local_change_is_top(scorer):
  frame = jax.random.normal(jax.random.key(1), (1, 1, 8, 8, C))
  static = jnp.broadcast_to(frame, (1, 8, 8, 8, C))
  grid, hw = (4, 2, 2), 4
  scores = np.asarray(_score(scorer, static)).reshape(grid)
  np.testing.assert_array_equal(scores[1:], 0.0)
  np.testing.assert_allclose(scores[0], 1.0)
  # a large change from frame 4 on (latent t = 2) inside token (h, w) = (1, 0)
  changed = static.at[:, 4:, 4:8, 0:4, :].add(5.0)
  scores = np.asarray(_score(scorer, changed))
  rest = scores[0, hw:]
  target = 2 * hw + 1 * 2 + 0 - hw  # flat index of (t=2, h=1, w=0) within the t >= 1 tokens
  assert int(np.argmax(rest)) == target
  assert rest[target] > 0
  np.testing.assert_array_equal(np.delete(rest, target), 0.0)
  assert np.all(scores[0, :hw] > rest.max())


def test_scorer_gradients_finite(scorer):
  video = jax.random.normal(jax.random.key(2), (1, 4, 8, 8, C))
  static = jnp.broadcast_to(video[:, :1], video.shape)

  @nnx.jit
  def grads(scorer, video):
    weights = jnp.linspace(0.5, 1.5, 2 * 2 * 2)
    return nnx.grad(lambda m: jnp.sum(m(video) * weights))(scorer)

  for clip, nonzero in ((video, True), (static, False)):
    leaves = [np.asarray(x) for x in jax.tree.leaves(nnx.state(grads(scorer, clip), nnx.Param))]
    assert len(leaves) == 4
    assert all(np.all(np.isfinite(x)) for x in leaves)
    assert (sum(float(np.abs(x).sum()) for x in leaves) > 0) == nonzero


def test_selection_scores_match_a_loop_and_score_the_first_step_by_its_change():
  features = np.random.default_rng(0).normal(size=(2, 3, 2, 2, 5)).astype(np.float32)
  scores = selection_scores(features).reshape(2, 3, 2, 2)
  for b, t, y, x in np.ndindex(2, 3, 2, 2):
    previous, current = (0, 1) if t == 0 else (t - 1, t)
    expected = np.sqrt(np.sum((features[b, current, y, x] - features[b, previous, y, x]) ** 2))
    assert scores[b, t, y, x] == pytest.approx(expected, rel=1e-5)
  assert np.all(selection_scores(features[:, :1]) == 1)  # one step: nothing to compare
