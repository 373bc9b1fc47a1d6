"""Mixup and CutMix of a device batch, inside the jitted train step.

Each example is mixed with its partner in the reversed batch, with one lambda for the whole batch;
every label head (EPIC-Kitchens' verb and noun) is mixed with that same lambda. Shapes are static:
the CutMix box is a mask built from iota comparisons, so the step compiles once.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp

from lvmae.validation import ConfigError


def _check(mixup_alpha: float, cutmix_alpha: float, switch_prob: float) -> None:
  for field, alpha in (("mixup_alpha", mixup_alpha), ("cutmix_alpha", cutmix_alpha)):
    if not alpha >= 0.0:
      raise ConfigError(field, alpha, "must be non-negative")
  if not 0.0 <= switch_prob <= 1.0:
    raise ConfigError("switch_prob", switch_prob, "must be in [0, 1]")


def cutmix_box(key: jax.Array, lam: jax.Array, height: int,
               width: int) -> tuple[jax.Array, jax.Array]:
  """A (height, width) bool mask of a box with sides sqrt(1 - lam) of the frame's, centred at a
  uniform random pixel and clipped to the frame; and the share of pixels outside it."""
  cut = jnp.sqrt(1.0 - lam)
  cut_h = jnp.floor(cut * height).astype(jnp.int32)
  cut_w = jnp.floor(cut * width).astype(jnp.int32)
  key_y, key_x = jax.random.split(key)
  cy = jax.random.randint(key_y, (), 0, height)
  cx = jax.random.randint(key_x, (), 0, width)
  y0, y1 = jnp.clip(cy - cut_h // 2, 0, height), jnp.clip(cy - cut_h // 2 + cut_h, 0, height)
  x0, x1 = jnp.clip(cx - cut_w // 2, 0, width), jnp.clip(cx - cut_w // 2 + cut_w, 0, width)
  rows = jax.lax.broadcasted_iota(jnp.int32, (height, width), 0)
  cols = jax.lax.broadcasted_iota(jnp.int32, (height, width), 1)
  mask = (rows >= y0) & (rows < y1) & (cols >= x0) & (cols < x1)
  kept = 1.0 - ((y1 - y0) * (x1 - x0)).astype(jnp.float32) / (height * width)
  return mask, kept


def mix_batch(key: jax.Array, video: jax.Array, targets: Sequence[jax.Array], *,
              mixup_alpha: float, cutmix_alpha: float,
              switch_prob: float = 0.5) -> tuple[jax.Array, tuple[jax.Array, ...]]:
  """Mix a (B, T, H, W, C) batch and its (B, C_i) targets with the reversed batch.

  With both alphas positive, CutMix is chosen with probability switch_prob, else Mixup; with one
  positive, that one; with both zero, the inputs come back untouched. Lambda ~ Beta(alpha, alpha)
  once per batch; for CutMix it becomes the share of pixels kept from the original.
  """
  _check(mixup_alpha, cutmix_alpha, switch_prob)
  targets = tuple(targets)
  if mixup_alpha == 0 and cutmix_alpha == 0:
    return video, targets
  key_mix, key_cut, key_box, key_switch = jax.random.split(key, 4)
  partner = video[::-1]
  lam = jnp.float32(1.0)
  mixed = video
  if mixup_alpha > 0:
    lam = jax.random.beta(key_mix, mixup_alpha, mixup_alpha, dtype=jnp.float32)
    mixed = lam.astype(video.dtype) * video + (1 - lam).astype(video.dtype) * partner
  if cutmix_alpha > 0:
    lam_cut = jax.random.beta(key_cut, cutmix_alpha, cutmix_alpha, dtype=jnp.float32)
    mask, lam_cut = cutmix_box(key_box, lam_cut, video.shape[2], video.shape[3])
    cut = jnp.where(mask[None, None, :, :, None], partner, video)
    if mixup_alpha > 0:
      use_cut = jax.random.bernoulli(key_switch, switch_prob)
      mixed, lam = jnp.where(use_cut, cut, mixed), jnp.where(use_cut, lam_cut, lam)
    else:
      mixed, lam = cut, lam_cut
  mixed_targets = tuple(lam.astype(t.dtype) * t + (1 - lam).astype(t.dtype) * t[::-1]
                        for t in targets)
  return mixed, mixed_targets
