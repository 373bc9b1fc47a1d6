"""Decoder masking strategies: which tokens the MAE decoder reconstructs.

Every strategy has one signature, chosen by name in the config:

    select(key, num_tokens, budget, *, scores=None, masked=None) -> indices (K,) int32, sorted

`budget` is the share of all `num_tokens` tokens the decoder reconstructs; `masked` are the
encoder-masked token indices (used by `none`, which decodes every one of them); `scores` are
per-token importances for score-based strategies; strategy options (e.g. `top_share`) pass through
as keywords. K is static: see `num_selected`.
The loss is taken over tokens that are both encoder-masked and selected (PAPER.md, Eq. 1).
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


def _none(key, num_tokens, budget, *, scores=None, masked=None):
  """Decode every encoder-masked token (VideoMAE's default; the budget is not used)."""
  del key, num_tokens, budget, scores
  if masked is None:
    raise ValueError("decoder strategy 'none' needs the encoder-masked token indices")
  return jnp.asarray(masked, jnp.int32)


def _random(key, num_tokens, budget, *, scores=None, masked=None):
  """Tokens drawn uniformly over space-time, without replacement."""
  del scores, masked
  k = _budget_count(num_tokens, budget)
  return jnp.sort(jax.random.permutation(key, num_tokens)[:k]).astype(jnp.int32)


def _adaptive(key, num_tokens, budget, *, scores=None, masked=None, top_share=2 / 3):
  """The top `top_share` of the budget by importance score, the rest uniformly random among the
  other tokens (the paper's default: 10% top + 5% random = a 15% budget)."""
  del masked
  if scores is None:
    raise ValueError("decoder strategy 'adaptive' needs per-token importance scores")
  if not 0.0 <= top_share <= 1.0:
    raise ValueError(f"top_share {top_share} must be in [0, 1]")
  k = _budget_count(num_tokens, budget)
  k_top = int(round(k * top_share))
  scores = jnp.asarray(scores, jnp.float32).reshape(num_tokens)
  chosen = jnp.zeros(num_tokens, bool)
  if k_top:
    chosen = chosen.at[jax.lax.top_k(scores, k_top)[1]].set(True)
  if k - k_top:
    priority = jnp.where(chosen, -1.0, jax.random.uniform(key, (num_tokens,)))
    chosen = chosen.at[jax.lax.top_k(priority, k - k_top)[1]].set(True)
  return jnp.flatnonzero(chosen, size=k).astype(jnp.int32)


STRATEGIES: dict[str, Callable] = {"none": _none, "random": _random, "adaptive": _adaptive}
SCORED = ("adaptive",)  # strategies that need per-token importance scores


def _budget_count(num_tokens: int, budget: float) -> int:
  if not 0.0 < budget <= 1.0:
    raise ValueError(f"decoder budget {budget} must be in (0, 1]")
  return max(1, int(round(num_tokens * budget)))


def num_selected(strategy: str, num_tokens: int, budget: float, num_masked: int) -> int:
  """The static number of tokens `select` returns."""
  _check_strategy(strategy)
  return num_masked if strategy == "none" else _budget_count(num_tokens, budget)


def _check_strategy(strategy: str) -> None:
  if strategy not in STRATEGIES:
    raise ValueError(f"unknown decoder strategy {strategy!r}; choose from {sorted(STRATEGIES)}")


def select(strategy: str, key, num_tokens: int, budget: float, *, scores=None, masked=None, **options):
  """Runs the named strategy for one clip (vmap it over a batch)."""
  _check_strategy(strategy)
  return STRATEGIES[strategy](key, num_tokens, budget, scores=scores, masked=masked, **options)
