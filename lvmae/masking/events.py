"""SLC's event tokens on the token grid, and how well a decoder selection covers them.

SLC (lvmae.data.slc) marks every pixel of a clip that belongs to an event (`info`, bool) and which
event (`event_ids`, 0: none). On the token grid (t, h, w) (row-major, lvmae.masking.grid) a token
is an event token when any pixel of its tubelet is. Pre-training logs its selection's recall of
event tokens and the loss per token type from these; the precompute, flow-scores and tokenizer
stages measure their scores' recall; the selection figures (ablations/kinds/selection_figure.py)
draw and score them.

Every function takes numpy or jax arrays: numpy in, numpy (or a Python float) out; jax in (also
under jit), jax out. Token masks are (..., N) with N = t*h*w.
"""
from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from lvmae.masking.hard_topk import top_k_mask


def event_tokens(info, grid: Sequence[int], clip_frames_indices=None):
  """A pixel mask (..., T, H, W) -> (..., t*h*w) bool token mask on the token grid (t, h, w): a
  token is on if any pixel of its (T/t, H/h, W/w) tubelet is. `clip_frames_indices`, when given,
  first picks the clip's sampled frames from axis -3 (e.g. a full 128-frame `info`); otherwise
  `info` holds the sampled frames already."""
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
  token in SLC v2)."""
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


def selection_recall(selected_mask, event_mask):
  """sum(selected & event) / sum(event), pooled over the batch; (B, N) bool or 0/1 masks. NaN when
  there is no event token at all (recall is undefined): float('nan') for numpy in, a NaN scalar
  for jax in."""
  jax_in = isinstance(selected_mask, jax.Array) or isinstance(event_mask, jax.Array)
  xp = jnp if jax_in else np
  selected, event = xp.asarray(selected_mask) != 0, xp.asarray(event_mask) != 0
  if selected.shape != event.shape:
    raise ValueError(f"selected {selected.shape} and event {event.shape} mask shapes differ")
  hits, total = xp.sum(selected & event), xp.sum(event)
  if jax_in:
    return jnp.where(total > 0, hits / jnp.maximum(total, 1), jnp.nan)
  return float(hits / total) if total else float("nan")


def topk_mask(scores, budget: float) -> np.ndarray:
  """(B, N) scores -> (B, N) bool numpy: the round(budget * N) highest scores of each clip (ties go
  to the lower token index; lvmae.masking.hard_topk)."""
  scores = np.asarray(scores, np.float32)
  if scores.ndim != 2:
    raise ValueError(f"scores must be (B, N), got shape {scores.shape}")
  if not 0.0 <= budget <= 1.0:
    raise ValueError(f"budget={budget} must be in [0, 1]")
  return np.asarray(top_k_mask(scores, int(round(budget * scores.shape[1]))))


def topk_recall(scores, event_mask, budget: float) -> float:
  """`selection_recall` of `topk_mask(scores, budget)`. scores, event_mask: (B, N)."""
  return selection_recall(topk_mask(scores, budget), event_mask)
