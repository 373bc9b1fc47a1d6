"""Differentiable top-k token selection: the estimators that pass gradients back to token scores.

The token scorer gives every token of a clip an importance score; in training the top k tokens
are kept and the rest zeroed. Every estimator has one signature, chosen by name in the config:

    topk(scores, k, key, **hparams) -> (hard_mask, soft_mask)

`scores` is (N,) for one clip (vmap over the batch); `k` is a static Python int, 1 <= k <= N.
`hard_mask` is (N,) float32 with exactly k ones (ties broken in `jax.lax.top_k`'s order);
`soft_mask` is (N,) float32 in [0, 1] and differentiable w.r.t. `scores`. Callers combine the two
with `straight_through` (forward: hard, backward: soft). Each estimator's temperature-like
hparam (`sigma`, `epsilon`, `temperature`) makes the soft mask approach the hard one as it goes
to 0. Hparams are treated as constants: they get no gradient.
"""
from __future__ import annotations

import functools
import inspect
from typing import Callable

import numpy as np
import jax
import jax.numpy as jnp

from lvmae.masking.hard_topk import top_k_mask


def _check_k(scores, k) -> jax.Array:
  """Returns the scores as a float32 vector, or raises if `k` is not a static int in [1, N]."""
  scores = jnp.asarray(scores)
  if scores.ndim != 1:
    raise ValueError(f"top-k scores must be one clip's (N,) vector, got shape {scores.shape}")
  if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
    raise TypeError(f"k must be a static Python int, got {type(k).__name__}")
  n = scores.shape[0]
  if not 1 <= k <= n:
    raise ValueError(f"k={k} must satisfy 1 <= k <= N={n}")
  return scores.astype(jnp.float32)


def _check_positive(**values) -> None:
  """Raises if a concrete (Python or numpy) hparam is not > 0; traced values are not checked."""
  for name, value in values.items():
    if isinstance(value, (int, float, np.number)) and not value > 0:
      raise ValueError(f"top-k hparam {name}={value} must be > 0")


def _all_kept(scores: jax.Array) -> tuple[jax.Array, jax.Array]:
  """k == N: every token is kept; the constant masks carry no gradient."""
  ones = jnp.ones(scores.shape, jnp.float32)
  return ones, ones


def hard_topk_mask(scores, k: int) -> jax.Array:
  """The (N,) float32 mask with ones at the k largest scores (lvmae.masking.hard_topk: ties go to
  the lower index, `jax.lax.top_k`'s order)."""
  return top_k_mask(_check_k(scores, k), k).astype(jnp.float32)


def straight_through(hard: jax.Array, soft: jax.Array) -> jax.Array:
  """Forward value `hard`, gradient of `soft`: hard + soft - stop_gradient(soft)."""
  return hard + soft - jax.lax.stop_gradient(soft)


# --- Perturbed maximum ----------------------------------------------------------------------------
# Berthet et al. 2020, "Learning with Differentiable Perturbed Optimizers": the smoothed argmax
# y_sigma(s) = E_Z[y*(s + sigma Z)], Z ~ N(0, I), has Jacobian E[y*(s + sigma Z) Z^T] / sigma
# (Gaussian integration by parts). Cordonnier et al. 2021, "Differentiable Patch Selection for
# Image Recognition", use it with y* = the top-k indicator.


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def _perturbed_soft(scores, noise, sigma, k):
  """Monte-Carlo smoothed top-k mask: mean over noise rows of hard(scores + sigma * noise_i)."""
  soft, _ = _perturbed_fwd(scores, noise, sigma, k)
  return soft


def _perturbed_fwd(scores, noise, sigma, k):
  hard = jax.vmap(lambda z: hard_topk_mask(scores + sigma * z, k))(noise)  # (M, N)
  return hard.mean(axis=0), (hard, noise, sigma)


def _perturbed_bwd(k, residuals, g):
  """VJP E[(g . hard_i) Z_i] / sigma, in the n-vector form: (M, N) matrices, no (N, N) Jacobian."""
  del k
  hard, noise, sigma = residuals
  weights = hard @ g  # (M,): g . hard_i
  grad_scores = (weights[:, None] * noise).mean(axis=0) / sigma
  return grad_scores, jnp.zeros_like(noise), jnp.zeros_like(sigma)


_perturbed_soft.defvjp(_perturbed_fwd, _perturbed_bwd)


def perturbed_topk(scores, k: int, key, *, sigma: float = 0.05, num_samples: int = 64):
  """Perturbed-maximum top-k: soft = mean of hard masks of Gaussian-perturbed scores."""
  scores = _check_k(scores, k)
  _check_positive(sigma=sigma, num_samples=num_samples)
  if k == scores.shape[0]:
    return _all_kept(scores)
  noise = jax.random.normal(key, (int(num_samples), scores.shape[0]), jnp.float32)
  soft = _perturbed_soft(scores, noise, jnp.asarray(sigma, jnp.float32), int(k))
  return hard_topk_mask(scores, k), soft


# --- Entropic optimal transport -------------------------------------------------------------------
# Xie et al. 2020, "Differentiable Top-k with Optimal Transport": move N scores (mass 1/N each) to
# two anchors {0, 1} with masses ((N - k)/N, k/N) under an entropy-regularised plan; the mass a
# token sends to anchor 1, times N, is its soft top-k indicator. Solved with log-domain Sinkhorn
# and epsilon scaling (Schmitzer 2019, "Stabilized Sparse Scaling Algorithms for Entropy
# Regularized Transport Problems"): the first half of the iterations anneal the regulariser
# geometrically from 1 (the cost's scale) down to `epsilon`, warm-starting the potentials, so that
# small epsilons converge within `num_iters`; the second half run at `epsilon`.


def sinkhorn_topk(scores, k: int, key, *, epsilon: float = 0.05, num_iters: int = 200):
  """Entropic-OT top-k: soft = N * the plan's column for the top anchor (`key` is unused).

  Gradients flow by unrolled autodiff through the Sinkhorn iterations.
  """
  del key
  scores = _check_k(scores, k)
  _check_positive(epsilon=epsilon, num_iters=num_iters)
  n = scores.shape[0]
  if k == n:
    return _all_kept(scores)
  lo = jax.lax.stop_gradient(scores.min())
  hi = jax.lax.stop_gradient(scores.max())
  x = (scores - lo) / jnp.maximum(hi - lo, 1e-12)  # normalised to [0, 1]
  anchors = jnp.array([0.0, 1.0], jnp.float32)
  cost = (x[:, None] - anchors[None, :]) ** 2  # (N, 2)
  log_mu = jnp.full((n,), -jnp.log(n), jnp.float32)
  log_nu = jnp.log(jnp.array([(n - k) / n, k / n], jnp.float32))
  eps = jnp.asarray(epsilon, jnp.float32)

  def step(i, potentials):
    f, g = potentials
    frac = jnp.minimum(1.0, 2.0 * i / num_iters)
    e = jnp.maximum(eps, eps ** frac)  # 1 -> epsilon over the first half (constant if eps >= 1)
    f = e * (log_mu - jax.nn.logsumexp((g[None, :] - cost) / e, axis=1))
    g = e * (log_nu - jax.nn.logsumexp((f[:, None] - cost) / e, axis=0))
    return f, g

  f0 = jnp.zeros((n,), jnp.float32)
  g0 = jnp.zeros((2,), jnp.float32)
  f, g = jax.lax.fori_loop(0, int(num_iters), step, (f0, g0))
  plan = jnp.exp((f[:, None] + g[None, :] - cost) / eps)
  soft = jnp.clip(n * plan[:, 1], 0.0, 1.0)
  return hard_topk_mask(scores, k), soft


# --- Straight-through sigmoid ---------------------------------------------------------------------


def sigmoid_topk(scores, k: int, key, *, temperature: float = 0.05):
  """Sigmoid relaxation around the midpoint of the k-th and (k+1)-th scores (`key` is unused)."""
  del key
  scores = _check_k(scores, k)
  _check_positive(temperature=temperature)
  if k == scores.shape[0]:
    return _all_kept(scores)
  top, _ = jax.lax.top_k(scores, k + 1)
  threshold = jax.lax.stop_gradient(0.5 * (top[k - 1] + top[k]))
  soft = jax.nn.sigmoid((scores - threshold) / temperature)
  return hard_topk_mask(scores, k), soft


TOPK: dict[str, Callable] = {
    "perturbed": perturbed_topk,
    "sinkhorn": sinkhorn_topk,
    "sigmoid": sigmoid_topk,
}


def make_topk(name: str, **hparams) -> Callable:
  """The estimator `name` with its hparams bound: a callable (scores, k, key) -> (hard, soft)."""
  if name not in TOPK:
    raise ValueError(f"unknown top-k estimator {name!r}; valid names: {sorted(TOPK)}")
  fn = TOPK[name]
  valid = [p.name for p in inspect.signature(fn).parameters.values()
           if p.kind is inspect.Parameter.KEYWORD_ONLY]
  unknown = sorted(set(hparams) - set(valid))
  if unknown:
    raise ValueError(f"unknown hparams {unknown} for top-k estimator {name!r}; valid hparams: "
                     f"{valid} (valid names: {sorted(TOPK)})")
  _check_positive(**hparams)
  return functools.partial(fn, **hparams)
