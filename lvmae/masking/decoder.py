"""Decoder masking strategies: which tokens the MAE decoder reconstructs.

Every strategy has one signature, chosen by name in the config:

    select(key, num_tokens, budget, *, scores=None, masked=None, grid=None, **options) -> (K,) int32, sorted

`budget` is the share of all `num_tokens` tokens the decoder reconstructs; `masked` are the
encoder-masked token indices (used by `none`, which decodes every one of them); `grid` is the
(t, h, w) token grid (used by the structured strategies `uniform` and `running_cell`); `scores`
are per-token importances for the score-based strategies. K is static: see `num_selected`.
The loss is taken over tokens that are both encoder-masked and selected (PAPER.md, Eq. 1).

The score-based strategies (`SCORED`) share one selection, the top `top_share` of the budget by
score plus uniformly random tokens among the rest; they differ only in where the scores come from
(lvmae.train.pretrain): `adaptive` the frozen tokenizer's importance, `flow` the optical-flow
magnitude, `everest` the change of the MAE's own patch embedding, `oracle` SLC's event tokens.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

RUNNING_CELL_BUDGETS = (0.25, 0.5, 0.75)  # 1, 2 or 3 of each 2x2 cell's tokens (VideoMAE V2)


def _none(key, num_tokens, budget, *, scores=None, masked=None, grid=None):
  """Decode every encoder-masked token (VideoMAE's default; the budget is not used)."""
  del key, num_tokens, budget, scores, grid
  if masked is None:
    raise ValueError("decoder strategy 'none' needs the encoder-masked token indices")
  return jnp.asarray(masked, jnp.int32)


def _random(key, num_tokens, budget, *, scores=None, masked=None, grid=None):
  """Tokens drawn uniformly over space-time, without replacement."""
  del scores, masked, grid
  k = _budget_count(num_tokens, budget)
  return jnp.sort(jax.random.permutation(key, num_tokens)[:k]).astype(jnp.int32)


def _top_plus_random(key, num_tokens, budget, *, scores=None, masked=None, grid=None, top_share=2 / 3):
  """The top `top_share` of the budget by score, the rest uniformly random among the other tokens
  (the paper's default: 10% top + 5% random = a 15% budget). Ties go to the lower token index."""
  del masked, grid
  if scores is None:
    raise ValueError("a score-based decoder strategy needs per-token scores")
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


def oracle_scores(key, events):
  """The oracle's scores from (..., N) 0/1 event tokens: every event token above every other, the
  others' order random (so a budget larger than the events is not piled on the first tokens)."""
  events = jnp.asarray(events, jnp.float32)
  return events + 0.5 * jax.random.uniform(key, events.shape)


def uniform_slices(num_slices: int, budget: float, step: int | None = None) -> tuple[int, int]:
  """(slices kept, step) of the `uniform` strategy over `num_slices` time slices: round(budget x
  slices) of them (at least one), `step` apart (round(1 / budget) unless given: 7 at 15%, the
  paper's), the step shortened if the slices would not fit the clip otherwise."""
  count = max(1, int(round(num_slices * budget)))
  if step is None:
    step = max(1, int(round(1 / budget)))
    if count > 1:
      step = min(step, (num_slices - 1) // (count - 1))
  elif step < 1 or (count - 1) * step > num_slices - 1:
    raise ValueError(f"uniform step {step}: {count} slices {step} apart do not fit {num_slices} time slices")
  return count, step


def _uniform(key, num_tokens, budget, *, scores=None, masked=None, grid=None, step=None):
  """Whole time slices `step` apart from a random first slice (every spatial token of each)."""
  del scores, masked
  gt, gh, gw = _grid(grid, num_tokens, "uniform")
  count, step = uniform_slices(gt, budget, step)
  first = jax.random.randint(key, (), 0, gt - (count - 1) * step)
  slices = first + step * jnp.arange(count)
  per_slice = gh * gw
  return (slices[:, None] * per_slice + jnp.arange(per_slice)[None, :]).reshape(-1).astype(jnp.int32)


def running_cell_keep(budget: float) -> int:
  """Tokens kept per 2x2 cell for a running-cell budget (0.25, 0.5 or 0.75)."""
  for allowed in RUNNING_CELL_BUDGETS:
    if abs(budget - allowed) < 1e-9:
      return int(round(4 * allowed))
  raise ValueError(f"decoder strategy 'running_cell' expresses budgets {RUNNING_CELL_BUDGETS} only, not {budget}")


def _running_cell(key, num_tokens, budget, *, scores=None, masked=None, grid=None):
  """VideoMAE V2's running cell: the grid is tiled by 2x2 cells whose positions, in row-major cell
  order, are kept `keep` at a time in a cyclic window that moves one position per time slice, from
  a random phase. Every position is kept `keep` times in any 4 consecutive slices."""
  del scores, masked
  gt, gh, gw = _grid(grid, num_tokens, "running_cell")
  if gh % 2 or gw % 2:
    raise ValueError(f"decoder strategy 'running_cell' needs an even spatial grid, got {gh}x{gw}")
  keep = running_cell_keep(budget)
  phase = jax.random.randint(key, (), 0, 4)
  t, y, x = jnp.meshgrid(jnp.arange(gt), jnp.arange(gh), jnp.arange(gw), indexing="ij")
  position = 2 * (y % 2) + x % 2
  kept = (position - phase - t) % 4 < keep
  return jnp.flatnonzero(kept.reshape(-1), size=gt * gh * gw * keep // 4).astype(jnp.int32)


STRATEGIES: dict[str, Callable] = {
    "none": _none, "random": _random, "uniform": _uniform, "running_cell": _running_cell,
    "adaptive": _top_plus_random, "flow": _top_plus_random, "everest": _top_plus_random, "oracle": _top_plus_random,
}
SCORED = ("adaptive", "flow", "everest", "oracle")  # strategies that select by per-token scores
STRUCTURED = ("uniform", "running_cell")           # strategies that need the token grid


def _grid(grid, num_tokens: int, strategy: str) -> tuple[int, int, int]:
  if grid is None:
    raise ValueError(f"decoder strategy {strategy!r} needs the token grid")
  gt, gh, gw = (int(g) for g in grid)
  if gt * gh * gw != num_tokens:
    raise ValueError(f"token grid {tuple(grid)} does not hold {num_tokens} tokens")
  return gt, gh, gw


def _budget_count(num_tokens: int, budget: float) -> int:
  if not 0.0 < budget <= 1.0:
    raise ValueError(f"decoder budget {budget} must be in (0, 1]")
  return max(1, int(round(num_tokens * budget)))


def num_selected(strategy: str, num_tokens: int, budget: float, num_masked: int, *,
                 grid=None, step: int | None = None) -> int:
  """The static number of tokens `select` returns."""
  _check_strategy(strategy)
  if strategy == "none":
    return num_masked
  if strategy == "uniform":
    gt, gh, gw = _grid(grid, num_tokens, strategy)
    return uniform_slices(gt, budget, step)[0] * gh * gw
  if strategy == "running_cell":
    _grid(grid, num_tokens, strategy)
    return num_tokens * running_cell_keep(budget) // 4
  return _budget_count(num_tokens, budget)


def _check_strategy(strategy: str) -> None:
  if strategy not in STRATEGIES:
    raise ValueError(f"unknown decoder strategy {strategy!r}; choose from {sorted(STRATEGIES)}")


def select(strategy: str, key, num_tokens: int, budget: float, *, scores=None, masked=None, grid=None, **options):
  """Runs the named strategy for one clip (vmap it over a batch)."""
  _check_strategy(strategy)
  return STRATEGIES[strategy](key, num_tokens, budget, scores=scores, masked=masked, grid=grid, **options)
