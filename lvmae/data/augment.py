"""Clip augmentation on the host: random resized crop, flip, RandAugment and evaluation crops.

Clips are uint8 (T, H, W, 3) arrays and stay uint8. Every random parameter is drawn once per clip,
so all frames get the same crop, flip, RandAugment ops and magnitudes. The ops that read the
image (autocontrast, equalize, contrast) take their statistics over the whole clip, so they too
apply one mapping to every frame.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Callable

import cv2
import numpy as np

from lvmae.validation import ConfigError, NonNegativeFloat, NonNegativeInt, PositiveFloat, Range, check_fields

CROP_TRIES = 10
MAX_MAGNITUDE = 10.0
FILL = (128, 128, 128)          # what rotations, shears and translations reveal
MAX_ROTATE_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATE = 0.45            # of the frame side
MAX_ENHANCE = 0.9               # enhance factors span 1 +- 0.9
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
SMOOTH = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float32) / 13.0


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """Training augmentation of one clip; rand_augment_ops=0 turns RandAugment off."""
  crop_scale: tuple[float, float] = (0.08, 1.0)     # share of the frame's area
  crop_ratio: tuple[PositiveFloat, PositiveFloat] = (3 / 4, 4 / 3)  # width / height, drawn log-uniformly
  flip: bool = True
  rand_augment_ops: NonNegativeInt = 0               # N
  rand_augment_magnitude: Annotated[float, Range(0, MAX_MAGNITUDE)] = 9.0  # M, on a 0..10 scale
  rand_augment_std: NonNegativeFloat = 0.5           # per-clip Gaussian jitter of M

  def __post_init__(self):
    check_fields(self)
    lo, hi = self.crop_scale
    if not 0.0 < lo <= hi <= 1.0:
      raise ConfigError("crop_scale", self.crop_scale, "must satisfy 0 < low <= high <= 1")
    lo, hi = self.crop_ratio
    if not lo <= hi:
      raise ConfigError("crop_ratio", self.crop_ratio, "must satisfy low <= high")


def _check_clip(frames: np.ndarray) -> None:
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(f"expected a uint8 (T, H, W, 3) clip, got {frames.dtype} {frames.shape}")


def _check_size(size: int) -> None:
  if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
    raise ConfigError("size", size, "must be a positive int")


# ----------------------------------------------------------------------------- resizing and crops

def _resize(frames: np.ndarray, width: int, height: int) -> np.ndarray:
  """Every frame resized to (height, width): area averaging when no side grows, else bilinear."""
  h, w = frames.shape[1:3]
  if (h, w) == (height, width):
    return np.ascontiguousarray(frames)
  interp = cv2.INTER_AREA if height <= h and width <= w else cv2.INTER_LINEAR
  out = np.empty((frames.shape[0], height, width, 3), np.uint8)
  for t, frame in enumerate(frames):
    out[t] = cv2.resize(np.ascontiguousarray(frame), (width, height), interpolation=interp)
  return out


def resize_short_side(frames: np.ndarray, size: int) -> np.ndarray:
  """The clip resized so its shorter side is `size`, keeping the aspect ratio."""
  _check_clip(frames)
  _check_size(size)
  h, w = frames.shape[1:3]
  scale = size / min(h, w)
  height = size if h <= w else max(1, round(h * scale))
  width = size if w <= h else max(1, round(w * scale))
  return _resize(frames, width, height)


def sample_crop(height: int, width: int, aug: Augmentation,
                rng: np.random.Generator) -> tuple[int, int, int, int]:
  """An Inception-style crop box (top, left, box_height, box_width) inside a height x width frame.

  Up to CROP_TRIES draws of an area share and a log-uniform aspect ratio; when none fits, the
  largest centred box whose ratio lies within crop_ratio.
  """
  area = height * width
  log_lo, log_hi = math.log(aug.crop_ratio[0]), math.log(aug.crop_ratio[1])
  for _ in range(CROP_TRIES):
    target = area * rng.uniform(*aug.crop_scale)
    ratio = math.exp(rng.uniform(log_lo, log_hi))
    w = round(math.sqrt(target * ratio))
    h = round(math.sqrt(target / ratio))
    if 0 < w <= width and 0 < h <= height:
      top = int(rng.integers(0, height - h + 1))
      left = int(rng.integers(0, width - w + 1))
      return top, left, h, w
  frame_ratio = width / height
  if frame_ratio < aug.crop_ratio[0]:
    w, h = width, max(1, round(width / aug.crop_ratio[0]))
  elif frame_ratio > aug.crop_ratio[1]:
    w, h = max(1, round(height * aug.crop_ratio[1])), height
  else:
    w, h = width, height
  return (height - h) // 2, (width - w) // 2, h, w


def augment_clip(frames: np.ndarray, size: int, aug: Augmentation,
                 rng: np.random.Generator) -> np.ndarray:
  """Random resized crop to size x size, horizontal flip, then RandAugment; (T, size, size, 3)."""
  _check_clip(frames)
  _check_size(size)
  top, left, h, w = sample_crop(frames.shape[1], frames.shape[2], aug, rng)
  out = _resize(frames[:, top:top + h, left:left + w], size, size)
  if aug.flip and rng.random() < 0.5:
    out = np.ascontiguousarray(out[:, :, ::-1])
  if aug.rand_augment_ops:
    out = rand_augment(out, aug, rng)
  return out


def eval_crops(frames: np.ndarray, size: int, num_crops: int) -> np.ndarray:
  """(num_crops, T, size, size, 3): the short side resized to `size`, then 1 centre crop or 3
  crops at the start, centre and end of the long side."""
  _check_clip(frames)
  if num_crops not in (1, 3):
    raise ConfigError("num_crops", num_crops, "must be 1 or 3")
  frames = resize_short_side(frames, size)
  h, w = frames.shape[1:3]
  landscape = w >= h
  extra = (w if landscape else h) - size
  starts = [extra // 2] if num_crops == 1 else [0, extra // 2, extra]
  if landscape:
    crops = [frames[:, :, s:s + size] for s in starts]
  else:
    crops = [frames[:, s:s + size, :] for s in starts]
  return np.stack(crops)


# ----------------------------------------------------------------------------- RandAugment ops
# Each op maps a uint8 clip, a level in [0, 1] (magnitude / 10) and a sign in {-1, +1} to a clip.

def _to_uint8(x: np.ndarray) -> np.ndarray:
  return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _per_channel_lut(frames: np.ndarray, tables: list[np.ndarray]) -> np.ndarray:
  out = np.empty_like(frames)
  for c, table in enumerate(tables):
    out[..., c] = table.astype(np.uint8)[frames[..., c]]
  return out


def _warp(frames: np.ndarray, matrix: np.ndarray) -> np.ndarray:
  h, w = frames.shape[1:3]
  out = np.empty_like(frames)
  for t, frame in enumerate(frames):
    out[t] = cv2.warpAffine(frame, matrix, (w, h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=FILL)
  return out


def _centre(frames: np.ndarray) -> tuple[float, float]:
  h, w = frames.shape[1:3]
  return (w - 1) / 2.0, (h - 1) / 2.0


def _gray(frames: np.ndarray) -> np.ndarray:
  return frames.astype(np.float32) @ LUMA


def _enhance_factor(level: float, sign: int) -> float:
  return 1.0 + sign * MAX_ENHANCE * level


def _identity(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  return frames


def _autocontrast(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  tables = []
  for c in range(3):
    lo, hi = int(frames[..., c].min()), int(frames[..., c].max())
    values = np.arange(256, dtype=np.float32)
    tables.append(values if hi <= lo else np.clip((values - lo) * 255.0 / (hi - lo), 0, 255))
  return _per_channel_lut(frames, [np.rint(t) for t in tables])


def _equalize(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  tables = []
  for c in range(3):
    hist = np.bincount(frames[..., c].ravel(), minlength=256)
    used = hist[hist > 0]
    step = (int(used.sum()) - int(used[-1])) // 255
    if step == 0:
      tables.append(np.arange(256))
      continue
    below = np.concatenate([[0], np.cumsum(hist)[:-1]])
    tables.append(np.clip((below + step // 2) // step, 0, 255))
  return _per_channel_lut(frames, tables)


def _rotate(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  matrix = cv2.getRotationMatrix2D(_centre(frames), sign * MAX_ROTATE_DEGREES * level, 1.0)
  return _warp(frames, matrix)


def _solarize(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  threshold = 256.0 - 256.0 * level
  values = np.arange(256)
  table = np.where(values >= threshold, 255 - values, values)
  return _per_channel_lut(frames, [table] * 3)


def _posterize(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  bits = 8 - int(level * 4)
  return frames & np.uint8((0xFF << (8 - bits)) & 0xFF)


def _color(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  gray = _gray(frames)[..., None]
  return _to_uint8(gray + _enhance_factor(level, sign) * (frames - gray))


def _contrast(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  mean = float(_gray(frames).mean())
  return _to_uint8(mean + _enhance_factor(level, sign) * (frames.astype(np.float32) - mean))


def _brightness(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  return _to_uint8(_enhance_factor(level, sign) * frames.astype(np.float32))


def _sharpness(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  x = frames.astype(np.float32)
  smooth = x.copy()   # the one-pixel border is kept as is
  for t, frame in enumerate(x):
    smooth[t, 1:-1, 1:-1] = cv2.filter2D(frame, -1, SMOOTH)[1:-1, 1:-1]
  return _to_uint8(smooth + _enhance_factor(level, sign) * (x - smooth))


def _shear_x(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  s = sign * MAX_SHEAR * level
  _, cy = _centre(frames)
  return _warp(frames, np.array([[1.0, s, -s * cy], [0.0, 1.0, 0.0]]))


def _shear_y(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  s = sign * MAX_SHEAR * level
  cx, _ = _centre(frames)
  return _warp(frames, np.array([[1.0, 0.0, 0.0], [s, 1.0, -s * cx]]))


def _translate_x(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  shift = sign * MAX_TRANSLATE * level * frames.shape[2]
  return _warp(frames, np.array([[1.0, 0.0, shift], [0.0, 1.0, 0.0]]))


def _translate_y(frames: np.ndarray, level: float, sign: int) -> np.ndarray:
  shift = sign * MAX_TRANSLATE * level * frames.shape[1]
  return _warp(frames, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, shift]]))


Op = Callable[[np.ndarray, float, int], np.ndarray]
RAND_AUGMENT_OPS: dict[str, Op] = {
    "identity": _identity, "autocontrast": _autocontrast, "equalize": _equalize,
    "rotate": _rotate, "solarize": _solarize, "color": _color, "posterize": _posterize,
    "contrast": _contrast, "brightness": _brightness, "sharpness": _sharpness,
    "shear_x": _shear_x, "shear_y": _shear_y, "translate_x": _translate_x,
    "translate_y": _translate_y,
}


def rand_augment(frames: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
  """aug.rand_augment_ops ops drawn uniformly with replacement, applied in order to the whole clip.

  Each op gets its own magnitude (M jittered by rand_augment_std, clipped to [0, 10]) and sign,
  drawn once for the clip.
  """
  names = list(RAND_AUGMENT_OPS)
  for index in rng.integers(0, len(names), size=aug.rand_augment_ops):
    magnitude = aug.rand_augment_magnitude
    if aug.rand_augment_std > 0:
      magnitude = float(np.clip(rng.normal(magnitude, aug.rand_augment_std), 0.0, MAX_MAGNITUDE))
    sign = -1 if rng.random() < 0.5 else 1
    frames = RAND_AUGMENT_OPS[names[index]](frames, magnitude / MAX_MAGNITUDE, sign)
  return frames
