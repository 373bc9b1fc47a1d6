"""Optimisation settings: AdamW with a linear warm-up and cosine decay (optax), optional global-norm
gradient clipping and layer-wise learning-rate decay."""
from __future__ import annotations

import dataclasses
from typing import Annotated

import jax
import numpy as np
import optax

from lvmae.validation import (ConfigError, HalfOpenUnit, NonNegativeFloat, NonNegativeInt, PositiveFloat,
                              PositiveInt, Range, check_fields)


@dataclasses.dataclass(frozen=True)
class Schedule:
  """How long and how fast a stage trains."""
  steps: PositiveInt
  batch_size: PositiveInt
  learning_rate: PositiveFloat        # peak, reached at the end of warm-up
  warmup_steps: NonNegativeInt = 0
  final_learning_rate: NonNegativeFloat = 0.0
  weight_decay: NonNegativeFloat = 0.05
  b1: HalfOpenUnit = 0.9
  b2: HalfOpenUnit = 0.95
  clip_norm: NonNegativeFloat = 0.0   # global-norm gradient clipping; 0 turns it off
  # layer-wise learning-rate decay of the encoder (BEiT), in (0, 1]; 1 turns it off
  layer_decay: Annotated[float, Range(0, 1, open_low=True)] = 1.0
  checkpoint_every: PositiveInt = 1000
  log_every: PositiveInt = 10

  def __post_init__(self):
    check_fields(self)
    if self.warmup_steps >= self.steps:
      raise ConfigError("warmup_steps", self.warmup_steps, f"must be in [0, steps={self.steps})")

  def learning_rate_fn(self) -> optax.Schedule:
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=self.learning_rate, warmup_steps=self.warmup_steps,
        decay_steps=self.steps, end_value=self.final_learning_rate)

  def optimizer(self) -> optax.GradientTransformation:
    """AdamW; weight decay on weight matrices ("kernel") only, not biases, norms or tokens.

    The chain: [clip by global norm] -> Adam's scaling -> + weight_decay * param (kernels) ->
    [x layer-decay scale] -> x -learning rate. The layer-decay scale multiplies the decay term too,
    as in BEiT / VideoMAE, whose per-layer scale multiplies the learning rate of a parameter group
    (PyTorch's AdamW applies that rate to both the Adam step and the decoupled weight decay).
    Without clipping and layer decay this is exactly `optax.adamw`.
    """
    layer_decay = [scale_by_layer_decay(self.layer_decay)] if self.layer_decay < 1.0 else []
    adamw = optax.chain(optax.scale_by_adam(b1=self.b1, b2=self.b2),
                        optax.add_decayed_weights(self.weight_decay, mask=decay_mask),
                        *layer_decay,
                        optax.scale_by_learning_rate(self.learning_rate_fn()))
    if self.clip_norm > 0:
      return optax.chain(optax.clip_by_global_norm(self.clip_norm), adamw)
    return adamw


def _names(path) -> tuple[str, ...]:
  """A pytree path's dict keys / attribute names, without nnx.Variable's trailing `value`."""
  names = tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", "")))) for k in path)
  return names[:-1] if names and names[-1] == "value" else names


ENCODER_EMBED = ("encoder", "embed")
ENCODER_BLOCKS = ("encoder", "transformer", "blocks")


def layer_decay_scales(params, decay: float):
  """Per-parameter update scales decay ** (depth + 1 - layer) of a model with an `encoder`
  (lvmae.models.vit.VideoEncoder): a tree like `params` of numpy float32 arrays.

  Layers (BEiT's layer-wise learning-rate decay): the tubelet embedding `encoder.embed` is layer 0,
  transformer block j (0-based) is layer j + 1, and every other parameter (the encoder's final
  norm, the classifier's norm and head, an MAE decoder) is layer depth + 1, scale 1. The blocks are
  stacked on a leading layer axis, so a block parameter of shape (depth, ...) gets the scales
  decay ** (depth - j) along axis 0, shaped (depth, 1, ..., 1) to broadcast.
  Works on arrays and on shapes (jax.ShapeDtypeStruct); raises ValueError without encoder blocks.
  """
  leaves = jax.tree_util.tree_flatten_with_path(params)[0]
  depths = {leaf.shape[0] for path, leaf in leaves if _names(path)[:3] == ENCODER_BLOCKS}
  if len(depths) != 1:
    raise ValueError("layer decay needs a model with stacked encoder blocks at encoder.transformer.blocks")
  depth = depths.pop()

  def scale(path, leaf):
    names = _names(path)
    if names[:2] == ENCODER_EMBED:
      return np.float32(decay ** (depth + 1))
    if names[:3] == ENCODER_BLOCKS:
      per_block = decay ** (depth - np.arange(depth, dtype=np.float64))
      return per_block.astype(np.float32).reshape((depth,) + (1,) * (len(leaf.shape) - 1))
    return np.float32(1.0)

  return jax.tree_util.tree_map_with_path(scale, params)


def scale_by_layer_decay(decay: float) -> optax.GradientTransformation:
  """Multiplies each update by its layer's scale from `layer_decay_scales` (stateless)."""
  def scale_updates(updates, params=None):
    del params
    scales = layer_decay_scales(updates, decay)
    return jax.tree.map(lambda u, s: u * s.astype(u.dtype), updates, scales)
  return optax.stateless(scale_updates)


def decay_mask(params):
  """True for leaves whose path names a weight matrix ("kernel")."""
  def is_kernel(path, _):
    return any(getattr(k, "key", getattr(k, "name", None)) == "kernel" for k in path)
  return jax.tree_util.tree_map_with_path(is_kernel, params)
