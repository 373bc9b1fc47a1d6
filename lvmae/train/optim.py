"""Optimisation settings: AdamW with a linear warm-up and cosine decay (optax)."""
from __future__ import annotations

import dataclasses

import jax
import optax

from lvmae.validation import ConfigError, check_positive


@dataclasses.dataclass(frozen=True)
class Schedule:
  """How long and how fast a stage trains."""
  steps: int
  batch_size: int
  learning_rate: float        # peak, reached at the end of warm-up
  warmup_steps: int = 0
  final_learning_rate: float = 0.0
  weight_decay: float = 0.05
  b1: float = 0.9
  b2: float = 0.95
  clip_norm: float = 0.0      # global-norm gradient clipping; 0 turns it off
  checkpoint_every: int = 1000
  log_every: int = 10

  def __post_init__(self):
    for field in ("steps", "batch_size", "learning_rate", "checkpoint_every", "log_every"):
      check_positive(field, getattr(self, field))
    if not 0 <= self.warmup_steps < self.steps:
      raise ConfigError("warmup_steps", self.warmup_steps, f"must be in [0, steps={self.steps})")
    for field in ("weight_decay", "clip_norm", "final_learning_rate"):
      if getattr(self, field) < 0:
        raise ConfigError(field, getattr(self, field), "must not be negative")
    for field in ("b1", "b2"):
      if not 0.0 <= getattr(self, field) < 1.0:
        raise ConfigError(field, getattr(self, field), "must be in [0, 1)")

  def learning_rate_fn(self) -> optax.Schedule:
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=self.learning_rate, warmup_steps=self.warmup_steps,
        decay_steps=self.steps, end_value=self.final_learning_rate)

  def optimizer(self) -> optax.GradientTransformation:
    """AdamW; weight decay on weight matrices ("kernel") only, not biases, norms or tokens."""
    adamw = optax.adamw(self.learning_rate_fn(), b1=self.b1, b2=self.b2,
                        weight_decay=self.weight_decay, mask=decay_mask)
    if self.clip_norm > 0:
      return optax.chain(optax.clip_by_global_norm(self.clip_norm), adamw)
    return adamw


def decay_mask(params):
  """True for leaves whose path names a weight matrix ("kernel")."""
  def is_kernel(path, _):
    return any(getattr(k, "key", getattr(k, "name", None)) == "kernel" for k in path)
  return jax.tree_util.tree_map_with_path(is_kernel, params)
