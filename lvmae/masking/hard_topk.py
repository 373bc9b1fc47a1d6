"""The project's one hard top-k: a boolean mask of the k largest scores of each row.

Every hard top-k goes through `top_k_mask` (the decoder's score-based selection, the tokenizer's
top-k estimators' forward masks, the event-recall metrics), so equal scores keep the same tokens
everywhere: ties go to the lower token index, `jax.lax.top_k`'s order.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def top_k_mask(scores, k: int) -> jax.Array:
  """(..., N) scores -> (..., N) bool, True at the k largest of each row; k static, 0 <= k <= N.
  numpy or jax in (also under jit and vmap), jax out."""
  scores = jnp.asarray(scores)
  n = scores.shape[-1]
  if not 0 <= k <= n:
    raise ValueError(f"top-k of {n} scores: k={k} must be in [0, {n}]")
  if k == 0:
    return jnp.zeros(scores.shape, bool)
  _, idx = jax.lax.top_k(scores, k)
  rows = idx.reshape(-1, k)
  mask = jnp.zeros((rows.shape[0], n), bool).at[jnp.arange(rows.shape[0])[:, None], rows].set(True)
  return mask.reshape(scores.shape)
