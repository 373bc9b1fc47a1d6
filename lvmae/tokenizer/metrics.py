"""Evaluation metrics of the tokenizer (plain numpy functions, host side): reconstruction PSNR,
codebook usage and perplexity, and how well a token selection covers SLC's event tokens.

Conventions:
- Inputs may be numpy or jax arrays; every function returns a Python float (or a numpy mask).
- Token masks are (B, N) with N = t*h*w flattened in the project's (t, h, w) row-major order
  (see lvmae.masking.grid).
- `event_tokens` maps SLC's per-pixel event mask `info` onto the token grid: a token is an event
  token when any pixel of its tubelet belongs to an event.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def psnr(recon, target, max_value: float = 1.0) -> float:
  """Mean over clips of 10 log10(max_value^2 / MSE of the clip); inputs (B, ...) floats. A clip
  reconstructed exactly has infinite PSNR (so does the mean then)."""
  recon, target = np.asarray(recon, np.float64), np.asarray(target, np.float64)
  if recon.shape != target.shape or recon.ndim < 1:
    raise ValueError(f"recon {recon.shape} and target {target.shape} must be the same (B, ...)")
  mse = np.mean(np.square(recon - target).reshape(recon.shape[0], -1), axis=1)
  with np.errstate(divide="ignore"):
    per_clip = 10.0 * np.log10(max_value ** 2 / mse)
  return float(np.mean(per_clip))


def _code_counts(indices, codebook_size: int) -> np.ndarray:
  idx = np.asarray(indices).ravel()
  if codebook_size < 1:
    raise ValueError(f"codebook_size={codebook_size} must be >= 1")
  if idx.size == 0:
    raise ValueError("indices must not be empty")
  if not np.issubdtype(idx.dtype, np.integer):
    raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
  if idx.min() < 0 or idx.max() >= codebook_size:
    raise ValueError(f"indices must lie in [0, {codebook_size}), got [{idx.min()}, {idx.max()}]")
  return np.bincount(idx, minlength=codebook_size)


def codebook_usage(indices, codebook_size: int) -> float:
  """Share of the codebook's codes that occur at least once in `indices` (any int shape)."""
  return float(np.count_nonzero(_code_counts(indices, codebook_size)) / codebook_size)


def codebook_perplexity(indices, codebook_size: int) -> float:
  """exp(entropy) (natural log) of the empirical code distribution: 1 for a single code,
  codebook_size for uniform use of every code."""
  counts = _code_counts(indices, codebook_size)
  p = counts[counts > 0] / counts.sum()
  return float(np.exp(-np.sum(p * np.log(p))))


def selection_recall(selected_mask, event_mask) -> float:
  """sum(selected & event) / sum(event), pooled over the batch; (B, N) bool or 0/1 masks.
  Returns float('nan') when there is no event token at all (recall is undefined)."""
  selected, event = np.asarray(selected_mask) != 0, np.asarray(event_mask) != 0
  if selected.shape != event.shape:
    raise ValueError(f"selected {selected.shape} and event {event.shape} mask shapes differ")
  total = int(np.count_nonzero(event))
  if total == 0:
    return float("nan")
  return float(np.count_nonzero(selected & event) / total)


def event_tokens(info, grid: Sequence[int], clip_frames_indices=None) -> np.ndarray:
  """SLC's event pixel mask (..., T, H, W) bool -> (..., t*h*w) bool event-token mask for the
  token grid (t, h, w): a token is an event token if any pixel of its (T/t, H/h, W/w) tubelet
  is. `clip_frames_indices`, when given, first picks the clip's sampled frames from axis -3
  (e.g. a full 128-frame `info`); otherwise `info` holds the sampled frames already. numpy in,
  numpy out; jax in (also under jit), jax out."""
  xp = jnp if isinstance(info, jax.Array) else np
  info = xp.asarray(info) != 0
  if clip_frames_indices is not None:
    info = xp.take(info, xp.asarray(clip_frames_indices), axis=-3)
  if info.ndim < 3:
    raise ValueError(f"info must be (..., T, H, W), got shape {info.shape}")
  return _per_token(info, grid, "info").any(axis=-1)


def event_token_ids(event_ids, grid: Sequence[int]):
  """SLC's per-pixel event ids (..., T, H, W) (0: no event) -> (..., t*h*w) int32 per-token
  event ids on the token grid: the largest id among the token's pixels (events do not share a
  token in SLC v2). numpy in, numpy out; jax in (also under jit), jax out."""
  xp = jnp if isinstance(event_ids, jax.Array) else np
  ids = xp.asarray(event_ids).astype(xp.int32)
  return _per_token(ids, grid, "event ids").max(axis=-1)


def _per_token(pixels, grid: Sequence[int], name: str):
  """(..., T, H, W) per-pixel values -> (..., t*h*w, pixels per token) on the token grid (t, h, w)."""
  gt, gh, gw = (int(g) for g in grid)
  frames, height, width = pixels.shape[-3:]
  if min(gt, gh, gw) < 1 or frames % gt or height % gh or width % gw:
    raise ValueError(f"{name} (T, H, W)={(frames, height, width)} is not divisible by the token "
                     f"grid {(gt, gh, gw)}")
  lead, n = pixels.shape[:-3], len(pixels.shape[:-3])
  x = pixels.reshape(lead + (gt, frames // gt, gh, height // gh, gw, width // gw))
  x = x.transpose(tuple(range(n)) + tuple(n + a for a in (0, 2, 4, 1, 3, 5)))
  return x.reshape(lead + (gt * gh * gw, -1))


def topk_mask(scores, budget: float) -> np.ndarray:
  """(B, N) scores -> (B, N) bool: the round(budget * N) highest scores of each clip (ties go to the
  lower token index)."""
  scores = np.asarray(scores, np.float64)
  if scores.ndim != 2:
    raise ValueError(f"scores must be (B, N), got shape {scores.shape}")
  if not 0.0 <= budget <= 1.0:
    raise ValueError(f"budget={budget} must be in [0, 1]")
  k = int(round(budget * scores.shape[1]))
  order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
  selected = np.zeros(scores.shape, dtype=bool)
  np.put_along_axis(selected, order, True, axis=1)
  return selected


def topk_recall(scores, event_mask, budget: float) -> float:
  """`selection_recall` of `topk_mask(scores, budget)`. scores, event_mask: (B, N)."""
  return selection_recall(topk_mask(scores, budget), event_mask)
