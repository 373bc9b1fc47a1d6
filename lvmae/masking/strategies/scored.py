"""The selection every score-based decoder strategy shares: the top `top_share` of the budget by
score, the rest uniformly random among the other tokens (the paper's default: 10% top + 5% random
= a 15% budget). Strategies differ only in their `ScoreSource` (see adaptive, flow, everest,
oracle). Option `top_share` (the config's, 2/3 by default)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lvmae.masking.hard_topk import top_k_mask
from lvmae.masking.strategies.base import ScoreSource, Strategy, budget_count


def top_plus_random(key, num_tokens, budget, *, scores, top_share=2 / 3):
  """(K,) int32 sorted: the top round(K x top_share) scores (ties go to the lower token index),
  then uniformly random tokens among the others."""
  if scores is None:
    raise ValueError("a score-based decoder strategy needs per-token scores")
  if not 0.0 <= top_share <= 1.0:
    raise ValueError(f"top_share {top_share} must be in [0, 1]")
  k = budget_count(num_tokens, budget)
  k_top = int(round(k * top_share))
  chosen = top_k_mask(jnp.asarray(scores, jnp.float32).reshape(num_tokens), k_top)
  if k - k_top:
    priority = jnp.where(chosen, -1.0, jax.random.uniform(key, (num_tokens,)))
    chosen = chosen | top_k_mask(priority, k - k_top)
  return jnp.flatnonzero(chosen, size=k).astype(jnp.int32)


class Scored(Strategy):
  """A score-based strategy: `top_plus_random` over the scores of its `source`."""

  def __init__(self, name: str, source: ScoreSource):
    self.name, self.source = name, source

  def select(self, key, num_tokens, budget, *, scores=None, masked=None, grid=None, top_share=2 / 3):
    del masked, grid
    return top_plus_random(key, num_tokens, budget, scores=scores, top_share=top_share)

  def options(self, masking) -> dict:
    return {"top_share": masking.top_share}
