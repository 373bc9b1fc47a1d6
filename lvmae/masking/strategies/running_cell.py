"""Decoder strategy `running_cell` (VideoMAE V2): 1, 2 or 3 tokens of every 2x2 cell in a window
that runs over the cell's positions with time. Needs an even spatial token grid and a budget of
25, 50 or 75%. No scores, no options."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lvmae.masking.strategies.base import Strategy, token_grid

RUNNING_CELL_BUDGETS = (0.25, 0.5, 0.75)  # 1, 2 or 3 of each 2x2 cell's tokens


def running_cell_keep(budget: float) -> int:
  """Tokens kept per 2x2 cell for a running-cell budget (0.25, 0.5 or 0.75)."""
  for allowed in RUNNING_CELL_BUDGETS:
    if abs(budget - allowed) < 1e-9:
      return int(round(4 * allowed))
  raise ValueError(f"decoder strategy 'running_cell' expresses budgets {RUNNING_CELL_BUDGETS} only, not {budget}")


class RunningCell(Strategy):
  name = "running_cell"

  def select(self, key, num_tokens, budget, *, scores=None, masked=None, grid=None):
    """The grid is tiled by 2x2 cells whose positions, in row-major cell order, are kept `keep` at a
    time in a cyclic window that moves one position per time slice, from a random phase. Every
    position is kept `keep` times in any 4 consecutive slices."""
    del scores, masked
    gt, gh, gw = self._grid(grid, num_tokens)
    keep = running_cell_keep(budget)
    phase = jax.random.randint(key, (), 0, 4)
    t, y, x = jnp.meshgrid(jnp.arange(gt), jnp.arange(gh), jnp.arange(gw), indexing="ij")
    position = 2 * (y % 2) + x % 2
    kept = (position - phase - t) % 4 < keep
    return jnp.flatnonzero(kept.reshape(-1), size=gt * gh * gw * keep // 4).astype(jnp.int32)

  def count(self, num_tokens, budget, num_masked, *, grid=None, **options):
    del num_masked, options
    self._grid(grid, num_tokens)
    return num_tokens * running_cell_keep(budget) // 4

  def _grid(self, grid, num_tokens):
    gt, gh, gw = token_grid(grid, num_tokens, self.name)
    if gh % 2 or gw % 2:
      raise ValueError(f"decoder strategy 'running_cell' needs an even spatial grid, got {gh}x{gw}")
    return gt, gh, gw


STRATEGY = RunningCell()
