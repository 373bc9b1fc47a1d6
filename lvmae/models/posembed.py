"""Fixed 3D sine-cosine position embeddings for the (t, h, w) token grid.

The width is split into three contiguous parts [t | h | w]; each part is the standard 1D sin-cos
embedding of that coordinate (Vaswani et al. 2017, as in MAE): the first half of the part is
sin(x * f_i), the second half cos(x * f_i), with f_i = 1 / 10000^(2i/d), i = 0 .. d/2 - 1, for a
part of width d. Coordinates are absolute token indices, so the embedding of a grid with more
frames extends the embedding of a grid with fewer (any frame count works).
"""
from __future__ import annotations

import numpy as np


def split_width(width: int) -> tuple[int, int, int]:
  """The (t, h, w) widths: h and w get 2 * (width // 6) each, t gets the (even) remainder.

  768 -> (256, 256, 256); 384 -> (128, 128, 128); 1024 (ViT-L) -> (344, 340, 340).
  Raises ValueError unless `width` is even and at least 6 (every part must be even and non-empty).
  """
  if width < 6 or width % 2:
    raise ValueError(f"width={width} must be an even number >= 6 to split into three sin-cos parts")
  spatial = 2 * (width // 6)
  return width - 2 * spatial, spatial, spatial


def sincos_1d(coords: np.ndarray, dim: int) -> np.ndarray:
  """(n,) coordinates -> (n, dim) float32 embedding: [sin(x f_0..), cos(x f_0..)]."""
  if dim <= 0 or dim % 2:
    raise ValueError(f"dim={dim} must be a positive even number")
  freqs = 1.0 / 10000.0 ** (np.arange(dim // 2, dtype=np.float64) * 2.0 / dim)
  angles = np.asarray(coords, np.float64)[:, None] * freqs[None, :]
  return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(np.float32)


def sincos_3d(grid: tuple[int, int, int], width: int) -> np.ndarray:
  """(t*h*w, width) float32 embeddings of every token of `grid`, in (t, h, w) row-major order."""
  gt, gh, gw = grid
  dt, dh, dw = split_width(width)
  tt, hh, ww = np.meshgrid(np.arange(gt), np.arange(gh), np.arange(gw), indexing="ij")
  return np.concatenate([
      sincos_1d(tt.reshape(-1), dt),
      sincos_1d(hh.reshape(-1), dh),
      sincos_1d(ww.reshape(-1), dw),
  ], axis=1)
