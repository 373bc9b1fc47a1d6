"""Encoder tube masking (VideoMAE): one random spatial mask per clip, repeated over time."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def num_visible(grid: tuple[int, int, int], ratio: float) -> int:
  """Visible tokens per clip: the same number of spatial positions is kept in every time slice."""
  if not 0.0 < ratio < 1.0:
    raise ValueError(f"mask ratio {ratio} must be in (0, 1)")
  gt, gh, gw = grid
  keep = int(round(gh * gw * (1.0 - ratio)))
  return gt * max(keep, 1)


def tube_mask(key: jax.Array, grid: tuple[int, int, int], ratio: float) -> tuple[jax.Array, jax.Array]:
  """Returns sorted (visible, masked) flat token indices of one clip.

  A random subset of the h*w spatial positions (fixed count) is visible in every time slice.
  """
  gt, gh, gw = grid
  spatial = gh * gw
  keep = num_visible(grid, ratio) // gt
  order = jax.random.permutation(key, spatial)
  visible_spatial = jnp.sort(order[:keep])
  masked_spatial = jnp.sort(order[keep:])
  offsets = (jnp.arange(gt) * spatial)[:, None]
  visible = (offsets + visible_spatial[None, :]).reshape(-1)
  masked = (offsets + masked_spatial[None, :]).reshape(-1)
  return visible.astype(jnp.int32), masked.astype(jnp.int32)
