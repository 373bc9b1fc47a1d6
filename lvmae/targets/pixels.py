"""Pixel reconstruction targets and their per-token normalisations.

Pixels are taken in [0, 1] (uint8 / 255) and cut into tubelets in the project's token order.
  - "tubelet": each token's t*p*p*C values normalised jointly (image MAE's norm_pix_loss):
               (x - mean) / sqrt(var + 1e-6), biased variance.
  - "channel": each channel of a token normalised over its t*p*p pixels (VideoMAE):
               (x - mean) / (std + 1e-6), unbiased standard deviation.
  - "none":    the raw [0, 1] pixels.
"""
from __future__ import annotations

import jax.numpy as jnp

from lvmae.masking.grid import patchify

NORMALISATIONS = ("tubelet", "channel", "none")


def pixel_targets(video, tubelet: tuple[int, int, int], normalisation: str, channels: int = 3):
  """(B, T, H, W, C) uint8 or float in [0, 1] -> (B, N, t*p*p*C) float32 targets."""
  if normalisation not in NORMALISATIONS:
    raise ValueError(f"unknown pixel normalisation {normalisation!r}; choose from {NORMALISATIONS}")
  x = jnp.asarray(video)
  x = x.astype(jnp.float32) / 255.0 if x.dtype == jnp.uint8 else x.astype(jnp.float32)
  tokens = patchify(x, tubelet)
  if normalisation == "tubelet":
    mean = tokens.mean(-1, keepdims=True)
    var = tokens.var(-1, keepdims=True)
    return (tokens - mean) / jnp.sqrt(var + 1e-6)
  if normalisation == "channel":
    b, n, d = tokens.shape
    per_channel = tokens.reshape(b, n, d // channels, channels)
    mean = per_channel.mean(-2, keepdims=True)
    std = per_channel.std(-2, keepdims=True, ddof=1)
    return ((per_channel - mean) / (std + 1e-6)).reshape(b, n, d)
  return tokens
