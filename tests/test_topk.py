"""Tests for the differentiable top-k estimators (lvmae.tokenizer.topk)."""
from __future__ import annotations

import math

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from lvmae.tokenizer.topk import (
    TOPK, hard_topk_mask, make_topk, perturbed_topk, sigmoid_topk, sinkhorn_topk, straight_through,
)

NAMES = sorted(TOPK)
TEMPERATURE = {"perturbed": "sigma", "sinkhorn": "epsilon", "sigmoid": "temperature"}


def _scores(n: int, seed: int = 0) -> jax.Array:
  """Distinct, well-separated scores: a random permutation of linspace(0, 1, n)."""
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.permutation(np.linspace(0.0, 1.0, n)), jnp.float32)


def _top_positions(scores, k: int) -> set[int]:
  return set(np.argsort(-np.asarray(scores))[:k].tolist())


def test_registry_names():
  assert NAMES == ["perturbed", "sigmoid", "sinkhorn"]


def test_hard_topk_mask_positions_and_ties():
  s = _scores(20, seed=3)
  m = np.asarray(hard_topk_mask(s, 6))
  assert m.dtype == np.float32 and m.sum() == 6
  assert set(np.flatnonzero(m).tolist()) == _top_positions(s, 6)
  # Ties go to the lower index, as in jax.lax.top_k.
  tied = np.asarray(hard_topk_mask(jnp.array([3.0, 2.0, 2.0, 1.0]), 2))
  np.testing.assert_array_equal(tied, [1.0, 1.0, 0.0, 0.0])


@pytest.mark.parametrize("name", NAMES)
def test_forward_hard_mask_is_top_k(name):
  s, k = _scores(32, seed=1), 8
  hard, soft = make_topk(name)(s, k, jax.random.PRNGKey(0))
  hard, soft = np.asarray(hard), np.asarray(soft)
  assert hard.shape == soft.shape == (32,)
  assert hard.dtype == soft.dtype == np.float32
  assert hard.sum() == k and set(np.unique(hard).tolist()) == {0.0, 1.0}
  assert set(np.flatnonzero(hard).tolist()) == _top_positions(s, k)
  assert np.all(soft >= 0.0) and np.all(soft <= 1.0)
  # The soft mask ranks the kept tokens above the dropped ones on average.
  assert soft[hard == 1].mean() > soft[hard == 0].mean()


@pytest.mark.parametrize("name", NAMES)
def test_vmap_and_jit(name):
  fn, k = make_topk(name), 5
  batch = jnp.stack([_scores(24, seed=i) for i in range(3)])
  keys = jax.random.split(jax.random.PRNGKey(1), 3)
  hard_b, soft_b = jax.jit(jax.vmap(lambda s, key: fn(s, k, key)))(batch, keys)
  assert hard_b.shape == soft_b.shape == (3, 24)
  jitted = jax.jit(fn, static_argnums=1)
  for i in range(3):
    assert set(np.flatnonzero(np.asarray(hard_b[i])).tolist()) == _top_positions(batch[i], k)
    hard, soft = jitted(batch[i], k, keys[i])
    np.testing.assert_array_equal(hard_b[i], hard)
    np.testing.assert_allclose(soft_b[i], soft, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_straight_through_gradient(name):
  fn, k = make_topk(name), 8
  s = _scores(32, seed=2)
  w = jnp.asarray(np.random.default_rng(0).normal(size=32), jnp.float32)
  key = jax.random.PRNGKey(2)

  def loss(scores):
    hard, soft = fn(scores, k, key)
    return jnp.sum(straight_through(hard, soft) * w)

  hard, soft = fn(s, k, key)
  np.testing.assert_allclose(straight_through(hard, soft), hard, atol=1e-6)  # forward is hard
  grad = np.asarray(jax.grad(loss)(s))
  assert np.all(np.isfinite(grad))
  assert np.abs(grad).max() > 1e-3


DIAGONAL_HPARAMS = {
    "perturbed": {"sigma": 0.1, "num_samples": 2000},
    "sinkhorn": {},
    "sigmoid": {},
}


@pytest.mark.parametrize("name", NAMES)
def test_own_score_raises_own_soft_mask(name):
  """d soft_i / d score_i >= 0 for the tokens around the threshold, > 0 for the k-th and (k+1)-th."""
  fn, n, k = make_topk(name, **DIAGONAL_HPARAMS[name]), 16, 4
  s = _scores(n, seed=4)
  jac = np.asarray(jax.jacrev(lambda x: fn(x, k, jax.random.PRNGKey(3))[1])(s))
  assert np.all(np.isfinite(jac))
  order = np.argsort(-np.asarray(s))
  near = order[k - 2:k + 2]  # ranks k-1, k, k+1, k+2 (1-based)
  diag = jac[near, near]
  assert np.all(diag >= 0.0), diag
  assert diag[1] > 0.0 and diag[2] > 0.0, diag


BASE_TEMPERATURE = {"perturbed": 0.5, "sinkhorn": 0.05, "sigmoid": 0.05}


@pytest.mark.parametrize("name", NAMES)
def test_soft_approaches_hard_as_temperature_goes_to_zero(name):
  s, k = _scores(64, seed=5), 16
  gaps = []
  for t in (BASE_TEMPERATURE[name], BASE_TEMPERATURE[name] / 10, BASE_TEMPERATURE[name] / 100):
    hard, soft = make_topk(name, **{TEMPERATURE[name]: t})(s, k, jax.random.PRNGKey(4))
    gaps.append(float(jnp.abs(soft - hard).mean()))
  assert gaps[1] < gaps[0] and gaps[2] <= gaps[1], gaps
  assert gaps[2] < 0.05, gaps


def test_perturbed_vjp_matches_numpy_monte_carlo():
  """The custom VJP is E[(g . hard(s + sigma Z_i)) Z_i] / sigma over the same noise draws."""
  n, k, sigma, m = 12, 3, 0.2, 500
  s = _scores(n, seed=6)
  key = jax.random.PRNGKey(5)
  g = np.random.default_rng(1).normal(size=n).astype(np.float32)
  soft, vjp = jax.vjp(lambda x: perturbed_topk(x, k, key, sigma=sigma, num_samples=m)[1], s)
  (grad,) = vjp(jnp.asarray(g))
  z = np.asarray(jax.random.normal(key, (m, n), jnp.float32), np.float64)
  perturbed = np.asarray(s, np.float64)[None, :] + sigma * z
  hard = np.zeros((m, n))
  np.put_along_axis(hard, np.argsort(-perturbed, axis=1, kind="stable")[:, :k], 1.0, axis=1)
  np.testing.assert_allclose(soft, hard.mean(axis=0), atol=1e-6)
  expected = ((hard @ g)[:, None] * z).mean(axis=0) / sigma
  np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-4)


def test_perturbed_matches_gaussian_smoothing_in_closed_form():
  """N=2, k=1: soft_0 = Phi(d / (sigma sqrt 2)), d soft_0/d s_0 = phi(.) / (sigma sqrt 2)."""
  sigma, d = 0.5, 0.2
  s = jnp.array([d / 2, -d / 2], jnp.float32)
  fn = lambda x: perturbed_topk(x, 1, jax.random.PRNGKey(6), sigma=sigma, num_samples=20000)[1]
  u = d / (sigma * math.sqrt(2.0))
  phi_cdf = 0.5 * (1.0 + math.erf(u / math.sqrt(2.0)))
  phi_pdf = math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
  assert abs(float(fn(s)[0]) - phi_cdf) < 0.02
  jac = np.asarray(jax.jacrev(fn)(s))
  expected = phi_pdf / (sigma * math.sqrt(2.0))
  assert abs(jac[0, 0] - expected) < 0.05, (jac, expected)
  assert abs(jac[0, 1] + expected) < 0.05, (jac, expected)


def test_perturbed_noise_comes_from_the_key():
  s = _scores(16, seed=7)
  a = perturbed_topk(s, 4, jax.random.PRNGKey(0), sigma=0.3)[1]
  b = perturbed_topk(s, 4, jax.random.PRNGKey(0), sigma=0.3)[1]
  c = perturbed_topk(s, 4, jax.random.PRNGKey(1), sigma=0.3)[1]
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_sinkhorn_soft_mask_sums_to_k():
  n, k = 64, 16
  s = jnp.asarray(np.random.default_rng(8).normal(size=n), jnp.float32)  # not evenly spaced
  _, soft = sinkhorn_topk(s, k, None)
  soft = np.asarray(soft)
  assert abs(soft.sum() - k) < 1e-3
  assert np.all(soft >= 0.0) and np.all(soft <= 1.0)


def test_sigmoid_is_one_half_at_the_threshold():
  # The k-th and (k+1)-th scores tie: the threshold is their value, and both get exactly 0.5.
  hard, soft = sigmoid_topk(jnp.array([3.0, 2.0, 2.0, 1.0]), 2, None, temperature=0.1)
  np.testing.assert_array_equal(hard, [1.0, 1.0, 0.0, 0.0])
  assert float(soft[1]) == 0.5 and float(soft[2]) == 0.5
  # Distinct scores: the k-th and (k+1)-th sit symmetrically about the midpoint threshold.
  _, soft = sigmoid_topk(jnp.array([0.9, 0.1, 0.7, 0.5]), 2, None, temperature=0.1)
  assert abs(float(soft[2] + soft[3]) - 1.0) < 1e-6 and float(soft[2]) > 0.5


def test_make_topk_rejects_unknown_name_and_hparam():
  with pytest.raises(ValueError, match="perturbed.*sigmoid.*sinkhorn"):
    make_topk("gumbel")
  with pytest.raises(ValueError, match="temperature"):
    make_topk("sigmoid", sigma=0.1)
  with pytest.raises(ValueError):
    make_topk("sinkhorn", epsilon=-1.0)
  fn = make_topk("perturbed", sigma=0.2, num_samples=8)
  assert fn.keywords == {"sigma": 0.2, "num_samples": 8}


@pytest.mark.parametrize("name", NAMES)
def test_k_out_of_range_and_k_equal_n(name):
  fn, s, key = make_topk(name), _scores(8), jax.random.PRNGKey(0)
  for bad in (0, -1, 9):
    with pytest.raises(ValueError, match="1 <= k <= N"):
      fn(s, bad, key)
  with pytest.raises(ValueError):
    hard_topk_mask(s, 9)
  hard, soft = fn(s, 8, key)
  np.testing.assert_array_equal(hard, np.ones(8))
  np.testing.assert_array_equal(soft, np.ones(8))
  grad = jax.grad(lambda x: jnp.sum(straight_through(*fn(x, 8, key)) * jnp.arange(8.0)))(s)
  np.testing.assert_array_equal(grad, np.zeros(8))
