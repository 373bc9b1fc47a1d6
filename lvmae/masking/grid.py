"""The token grid: how a clip is cut into tubelets and how tokens are numbered.

Convention (used everywhere in the project): a clip of shape (T, H, W, C) is cut into tubelets
of shape (t, p, p); tokens form a grid (T/t, H/p, W/p) flattened in (t, h, w) row-major order,
and each token's values are flattened in (t, p, p, C) order. A pixel mask goes onto the token grid
with lvmae.masking.events.event_tokens.
"""
from __future__ import annotations

import numpy as np
import jax.numpy as jnp


def token_grid(frames: int, height: int, width: int, tubelet: tuple[int, int, int]) -> tuple[int, int, int]:
  """Returns the (t, h, w) token grid of a clip, or raises if the tubelet does not divide it."""
  tt, ph, pw = tubelet
  for name, size, step in (("frames", frames, tt), ("height", height, ph), ("width", width, pw)):
    if size % step:
      raise ValueError(f"{name}={size} is not divisible by the tubelet size {step}")
  return frames // tt, height // ph, width // pw


def patchify(video, tubelet: tuple[int, int, int]):
  """(B, T, H, W, C) -> (B, N, t*p*p*C) in the project's token order. Works on numpy and jax."""
  xp = jnp if not isinstance(video, np.ndarray) else np
  b, frames, height, width, channels = video.shape
  gt, gh, gw = token_grid(frames, height, width, tubelet)
  tt, ph, pw = tubelet
  x = video.reshape(b, gt, tt, gh, ph, gw, pw, channels)
  x = xp.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
  return x.reshape(b, gt * gh * gw, tt * ph * pw * channels)


def unpatchify(tokens, grid: tuple[int, int, int], tubelet: tuple[int, int, int], channels: int = 3):
  """Inverse of `patchify`: (B, N, t*p*p*C) -> (B, T, H, W, C)."""
  xp = jnp if not isinstance(tokens, np.ndarray) else np
  gt, gh, gw = grid
  tt, ph, pw = tubelet
  b = tokens.shape[0]
  x = tokens.reshape(b, gt, gh, gw, tt, ph, pw, channels)
  x = xp.transpose(x, (0, 1, 4, 2, 5, 3, 6, 7))
  return x.reshape(b, gt * tt, gh * ph, gw * pw, channels)

