"""Optical-flow importance of tokens: per-pixel flow magnitudes of a clip (OpenCV) pooled over the
token grid, the scores of the `flow` decoder-masking strategy (cached per clip by
lvmae.train.flow_scores.FlowScores).

Conventions:
- frames are uint8 (T, H, W, 3) RGB and are converted to grey before the flow;
- the magnitude at frame i >= 1 is |flow from frame i-1 to frame i| (OpenCV's `prev -> next`
  field, which lies on frame i-1's pixel grid); frame 0 repeats frame 1's magnitude so every frame
  has one; a one-frame clip has zero magnitude everywhere;
- a token's score is the mean magnitude over its tubelet's pixels, in the project's (t, h, w)
  row-major token order (lvmae.masking.grid), divided by the clip's largest token score (an
  all-zero clip stays zero). Dividing by a positive constant keeps the scores' order, so a per-clip
  top-k selection is the same with or without this normalisation (up to float32 rounding ties).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from lvmae.masking.grid import token_grid

FLOW_METHODS = ("farneback", "dis")

# Farneback (cv2.calcOpticalFlowFarneback): a 2-level pyramid halving the size, 9x9 averaging
# windows, 3 iterations per level, degree-5 polynomial neighbourhoods with Gaussian sigma 1.1.
# Small windows suit 32-64 px frames; these are the settings SLC.md's flow recalls were measured with.
FARNEBACK = dict(pyr_scale=0.5, levels=2, winsize=9, iterations=3, poly_n=5, poly_sigma=1.1, flags=0)

# DIS (cv2.DISOpticalFlow): the MEDIUM preset (8x8 patches, stride 3, finest scale 1, variational
# refinement). OpenCV refuses frames whose sides are both below 12 px and crashes (segfault, not an
# exception) on some thin frames (e.g. 16x200, 12x40); every tested frame with both sides >= 32 px
# works. Smaller frames are therefore upscaled by the integer factor s = ceil(DIS_MIN_SIDE / min
# side) (bilinear), the flow's magnitude divided by s (pixels of the original frame) and
# block-averaged back to the original size.
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
DIS_MIN_SIDE = 32


def _check_method(method: str) -> None:
  if method not in FLOW_METHODS:
    raise ValueError(f"unknown optical-flow method {method!r}; expected one of {list(FLOW_METHODS)}")


def _farneback(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
  p = FARNEBACK
  return cv2.calcOpticalFlowFarneback(prev, cur, None, p["pyr_scale"], p["levels"], p["winsize"],
                                      p["iterations"], p["poly_n"], p["poly_sigma"], p["flags"])


def _magnitude(flow: np.ndarray) -> np.ndarray:
  return np.sqrt(np.square(flow[..., 0]) + np.square(flow[..., 1]))


def flow_magnitudes(frames: np.ndarray, method: str) -> np.ndarray:
  """uint8 (T, H, W, 3) RGB frames -> (T, H, W) float32 flow magnitudes (pixels per frame)."""
  _check_method(method)
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(f"frames must be uint8 (T, H, W, 3) RGB, got {frames.dtype} {frames.shape}")
  count, height, width = frames.shape[:3]
  out = np.zeros((count, height, width), np.float32)
  if count < 2:
    return out
  grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
  if method == "farneback":
    for i in range(1, count):
      out[i] = _magnitude(_farneback(grey[i - 1], grey[i]))
  else:
    scale = max(1, math.ceil(DIS_MIN_SIDE / min(height, width)))
    if scale > 1:
      grey = [cv2.resize(g, (width * scale, height * scale), interpolation=cv2.INTER_LINEAR) for g in grey]
    dis = cv2.DISOpticalFlow_create(DIS_PRESET)  # one per call: instances are not shared by threads
    for i in range(1, count):
      magnitude = _magnitude(dis.calc(grey[i - 1], grey[i], None))
      if scale > 1:
        magnitude = magnitude.reshape(height, scale, width, scale).mean(axis=(1, 3)) / scale
      out[i] = magnitude
  out[0] = out[1]
  return out


def pool_token_scores(magnitudes: np.ndarray, tubelet: tuple[int, int, int]) -> np.ndarray:
  """(T, H, W) per-pixel magnitudes -> (N,) float32 token scores: each tubelet's mean, in (t, h, w)
  row-major order, divided by the largest (all zeros stay zeros)."""
  magnitudes = np.asarray(magnitudes, np.float32)
  if magnitudes.ndim != 3:
    raise ValueError(f"magnitudes must be (T, H, W), got shape {magnitudes.shape}")
  gt, gh, gw = token_grid(*magnitudes.shape, tubelet)
  tt, ph, pw = tubelet
  scores = magnitudes.reshape(gt, tt, gh, ph, gw, pw).mean(axis=(1, 3, 5), dtype=np.float64)
  scores = scores.reshape(-1).astype(np.float32)
  top = scores.max()
  return scores / top if top > 0 else scores


def token_flow_scores(frames: np.ndarray, tubelet: tuple[int, int, int], method: str) -> np.ndarray:
  """uint8 (T, H, W, 3) RGB frames -> (N,) float32 normalised optical-flow scores of its tokens."""
  _check_method(method)
  frames = np.asarray(frames)
  if frames.ndim != 4:
    raise ValueError(f"frames must be uint8 (T, H, W, 3) RGB, got {frames.dtype} {frames.shape}")
  token_grid(*frames.shape[:3], tubelet)  # validates before any flow is computed
  return pool_token_scores(flow_magnitudes(frames, method), tubelet)
