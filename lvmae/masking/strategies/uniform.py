"""Decoder strategy `uniform`: whole time slices a fixed step apart from a random first slice
(every spatial token of each). Needs the token grid; option `step` (the config's `uniform_step`,
None: round(1 / budget))."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lvmae.masking.strategies.base import Strategy, token_grid


def uniform_slices(num_slices: int, budget: float, step: int | None = None) -> tuple[int, int]:
  """(slices kept, step) over `num_slices` time slices: round(budget x slices) of them (at least
  one), `step` apart (round(1 / budget) unless given: 7 at 15%, the paper's), the step shortened
  if the slices would not fit the clip otherwise."""
  count = max(1, int(round(num_slices * budget)))
  if step is None:
    step = max(1, int(round(1 / budget)))
    if count > 1:
      step = min(step, (num_slices - 1) // (count - 1))
  elif step < 1 or (count - 1) * step > num_slices - 1:
    raise ValueError(f"uniform step {step}: {count} slices {step} apart do not fit {num_slices} time slices")
  return count, step


class UniformSlices(Strategy):
  name = "uniform"

  def select(self, key, num_tokens, budget, *, scores=None, masked=None, grid=None, step=None):
    del scores, masked
    gt, gh, gw = token_grid(grid, num_tokens, self.name)
    count, step = uniform_slices(gt, budget, step)
    first = jax.random.randint(key, (), 0, gt - (count - 1) * step)
    slices = first + step * jnp.arange(count)
    per_slice = gh * gw
    return (slices[:, None] * per_slice + jnp.arange(per_slice)[None, :]).reshape(-1).astype(jnp.int32)

  def count(self, num_tokens, budget, num_masked, *, grid=None, step=None, **options):
    del num_masked, options
    gt, gh, gw = token_grid(grid, num_tokens, self.name)
    return uniform_slices(gt, budget, step)[0] * gh * gw

  def options(self, masking) -> dict:
    return {"step": masking.uniform_step}


STRATEGY = UniformSlices()
