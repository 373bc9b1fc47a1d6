"""Decoder strategy `random`: the budget's tokens drawn uniformly over space-time, without
replacement. No scores, no options."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lvmae.masking.strategies.base import Strategy, budget_count


class RandomTokens(Strategy):
  name = "random"

  def select(self, key, num_tokens, budget, *, scores=None, masked=None, grid=None):
    del scores, masked, grid
    k = budget_count(num_tokens, budget)
    return jnp.sort(jax.random.permutation(key, num_tokens)[:k]).astype(jnp.int32)


STRATEGY = RandomTokens()
