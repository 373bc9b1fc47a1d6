"""SparseLongCount (SLC): the procedurally generated default dataset (spec: shared/SLC.md).

This module owns SLC's splits, versions, seeds, the v1 clip generator and the grain data source.
A clip is a pure function of (split, index, preset, size, version). v1: 128 frames of a panning
textured background, bouncing distractor discs and 8 brief static glyph events (one per 16-frame
segment); the label is the number of disc glyphs among the 8 events. v2 (lvmae.data.slc_v2) is
the benchmark redesigned so that a small MAE can learn it. Side outputs (`info`, `event_ids`,
`distract`, onsets, kinds, cells or blocks) are for oracle masks and tests, never model inputs.
"""
from __future__ import annotations

import dataclasses
import operator

import numpy as np

from lvmae.data import slc_v2

SPLIT_SIZES = {"unlabelled": 20_000, "train": 2_000, "val": 2_000, "test": 2_000}
NUM_CLASSES = 8
CLIP_FRAMES = 128
NUM_EVENTS = 8
EVENT_FRAMES = 2
SEGMENT_FRAMES = CLIP_FRAMES // NUM_EVENTS  # 16
VALID_SIZES = (32, 64)
PER_FRAME_OUTPUTS = ("video", "info", "event_ids", "distract")  # (128, ...) outputs of generate_clip

# Fixed stream ids: changing any of them changes the dataset (bump the version instead).
VERSIONS = (1, 2)
_SPLIT_IDS = {"unlabelled": 11, "train": 12, "val": 13, "test": 14}
_PRESET_IDS = {"easy": 21, "medium": 22, "hard": 23, "long": 24}

# Sizes below are for the 32x32 clip and scale with size / 32.
_CELL = 4              # glyph / event cell side (px)
_DISC_RADIUS = 2.5     # distractor radius (px)
_DISC_SPEED = (2.0, 4.0)  # distractor speed range (px/frame)
_DISC_MAX_RED = 0.6
_BG_SIGMA = 1.0        # spatial std (px) of the Gaussian low-pass applied to the noise


@dataclasses.dataclass(frozen=True)
class SLCPreset:
  """Difficulty knobs. `bg_speed` is the (min, max) panning speed in px/frame at size 32."""
  bg_contrast: float
  bg_speed: tuple[float, float]
  num_distractors: int
  glyph_colour: tuple[float, float, float]


PRESETS: dict[str, SLCPreset] = {
    "easy": SLCPreset(0.3, (0.5, 1.5), 1, (1.0, 1.0, 1.0)),
    "medium": SLCPreset(0.6, (1.0, 3.0), 3, (1.0, 0.15, 0.15)),
    "hard": SLCPreset(1.0, (2.0, 4.0), 5, (0.9, 0.3, 0.3)),
}


def _pattern(rows: str) -> np.ndarray:
  return np.array([[c == "#" for c in row] for row in rows.split()], dtype=bool)


# Glyph kinds: 0 = disc (the target), 1 = X, 2 = ring, 3 = bar (the foils).
DISC, X, RING, BAR = 0, 1, 2, 3
GLYPHS = np.stack([
    _pattern(".##. #### #### .##."),  # disc
    _pattern("#..# .##. .##. #..#"),  # X
    _pattern("#### #..# #..# ####"),  # ring
    _pattern(".... #### #### ...."),  # bar
])
GLYPHS.setflags(write=False)


def presets(version: int) -> tuple[str, ...]:
  """The preset names of an SLC version."""
  if version not in VERSIONS:
    raise ValueError(f"unknown SLC version {version!r}; valid versions: {list(VERSIONS)}")
  return tuple(PRESETS) if version == 1 else tuple(slc_v2.PRESETS)


def _check(split: str, preset: str, size: int, version: int = 1) -> None:
  if split not in SPLIT_SIZES:
    raise ValueError(f"unknown split {split!r}; valid splits: {sorted(SPLIT_SIZES)}")
  if preset not in presets(version):
    raise ValueError(f"unknown preset {preset!r} of SLC v{version}; valid presets: {sorted(presets(version))}")
  if isinstance(size, bool) or size not in VALID_SIZES:
    raise ValueError(f"size={size!r} is not supported; valid sizes: {list(VALID_SIZES)}")


def clip_seed_sequence(split: str, index: int, preset: str = "medium", size: int = 32,
                       version: int = 1) -> np.random.SeedSequence:
  """The seed of one clip. The split id is part of the entropy, so splits use disjoint streams;
  so is the version, so v1 and v2 clips of the same index are unrelated."""
  _check(split, preset, size, version)
  return np.random.SeedSequence([version, _SPLIT_IDS[split], int(index), _PRESET_IDS[preset], size])


def _draw_events(rng: np.random.Generator):
  """Label, shuffled glyph kinds, onsets (one per segment) and cells (row, col) of the 8 events."""
  label = int(rng.integers(0, NUM_CLASSES))
  kinds = np.concatenate([np.full(label, DISC), rng.integers(1, len(GLYPHS), NUM_EVENTS - label)])
  kinds = rng.permutation(kinds).astype(np.int64)
  starts = np.arange(NUM_EVENTS) * SEGMENT_FRAMES
  onsets = starts + rng.integers(0, SEGMENT_FRAMES - EVENT_FRAMES + 1, NUM_EVENTS)
  cells = rng.integers(0, 32 // _CELL, (NUM_EVENTS, 2))  # an 8x8 grid of cells at every size
  return label, kinds, onsets.astype(np.int64), cells.astype(np.int64)


def _background(rng: np.random.Generator, preset: SLCPreset, size: int) -> np.ndarray:
  """(T, size, size, 3) float32: a tiling low-passed noise texture panned with wrap-around."""
  scale = size / 32
  side = 2 * size
  noise = rng.standard_normal((side, side, 3))
  freq = np.fft.fftfreq(side)
  f2 = freq[:, None] ** 2 + freq[None, :] ** 2
  gain = np.exp(-2.0 * np.pi**2 * (_BG_SIGMA * scale) ** 2 * f2)  # Gaussian blur, periodic
  tex = np.fft.ifft2(np.fft.fft2(noise, axes=(0, 1)) * gain[:, :, None], axes=(0, 1)).real
  lo, hi = tex.min(axis=(0, 1)), tex.max(axis=(0, 1))
  tex = (tex - lo) / (hi - lo)
  canvas = (0.5 + preset.bg_contrast * (tex - 0.5)).astype(np.float32)

  angle = rng.uniform(0.0, 2.0 * np.pi)
  speed = rng.uniform(*preset.bg_speed) * scale
  start = rng.uniform(0.0, side, 2)
  t = np.arange(CLIP_FRAMES)
  offset = start[None, :] + t[:, None] * speed * np.array([np.sin(angle), np.cos(angle)])  # (T, 2)
  base = np.floor(offset).astype(np.int64)
  frac = (offset - base).astype(np.float32)
  # The sub-pixel fraction is the same for every pixel of a frame: gather one (size+1)^2 window
  # per frame, then interpolate along columns and rows.
  span = np.arange(size + 1)
  rows = (base[:, 0:1] + span) % side  # (T, size+1)
  cols = (base[:, 1:2] + span) % side
  win = np.take(canvas.reshape(-1, 3), rows[:, :, None] * side + cols[:, None, :], axis=0)
  fy, fx = frac[:, 0, None, None, None], frac[:, 1, None, None, None]
  across = np.subtract(win[:, :, 1:], win[:, :, :-1])
  across *= fx
  across += win[:, :, :-1]
  frames = np.subtract(across[:, 1:], across[:, :-1])
  frames *= fy
  frames += across[:, :-1]
  return frames


def _bounce(start: np.ndarray, velocity: np.ndarray, lo: float, hi: float) -> np.ndarray:
  """Positions (T, 2) of a point moving at `velocity` and reflecting off [lo, hi] on both axes."""
  length = hi - lo
  free = start[None, :] - lo + np.arange(CLIP_FRAMES)[:, None] * velocity[None, :]
  u = np.mod(free, 2 * length)
  return lo + length - np.abs(u - length)


def _distractors(rng: np.random.Generator, video: np.ndarray, count: int, size: int) -> np.ndarray:
  """Draws `count` bouncing discs into `video` (in place); returns their (T, H, W) pixel mask."""
  scale = size / 32
  radius = _DISC_RADIUS * scale
  centres = np.arange(size, dtype=np.float32) + 0.5
  mask = np.zeros(video.shape[:3], dtype=bool)
  for _ in range(count):
    start = rng.uniform(radius, size - radius, 2)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    speed = rng.uniform(*_DISC_SPEED) * scale
    colour = (rng.uniform(0.0, 1.0, 3) * np.array([_DISC_MAX_RED, 1.0, 1.0])).astype(np.float32)
    pos = _bounce(start, speed * np.array([np.sin(angle), np.cos(angle)]), radius, size - radius)
    pos = pos.astype(np.float32)
    dy2 = (centres[None, :] - pos[:, 0:1]) ** 2  # (T, H)
    dx2 = (centres[None, :] - pos[:, 1:2]) ** 2  # (T, W)
    disc = dy2[:, :, None] + dx2[:, None, :] <= radius * radius
    video.reshape(-1, 3)[np.flatnonzero(disc)] = colour  # much faster than video[disc] = colour
    mask |= disc
  return mask


def _to_uint8(x: np.ndarray) -> np.ndarray:
  """[0, 1] floats -> uint8, rounding half up (used for every pixel, glyph colours included)."""
  return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def generate_clip(split: str, index: int, preset: str = "medium", size: int = 32,
                  version: int = 1, frames=None) -> dict[str, np.ndarray]:
  """Generates one SLC clip; a pure function of its arguments (byte-identical on every call).

  Returns video (128, size, size, 3) uint8, label int64 scalar, info (128, size, size) bool (the
  whole cell or square of each event while it is visible), event_ids (128, size, size) uint8
  (event i + 1 where `info`, else 0), distract (128, size, size) bool (visible distractor pixels,
  i.e. not covered by a glyph), onsets (8,), kinds (8,) and, in v1, cells (8, 2) (cell row, cell
  col; a cell is `4 * size // 32` pixels), in v2 blocks (8, 2) (see lvmae.data.slc_v2).
  `frames` (sorted distinct indices; None: all 128) renders only those frames of the per-frame
  outputs, each identical to the whole clip's; v2 then costs about the subset's share.
  """
  _check(split, preset, size, version)
  index = operator.index(index)
  if not 0 <= index < SPLIT_SIZES[split]:
    raise IndexError(f"index {index} out of range for split {split!r} of {SPLIT_SIZES[split]} clips")
  rng = np.random.default_rng(clip_seed_sequence(split, index, preset, size, version))
  if version == 2:
    return slc_v2.generate(rng, preset, size, frames)
  if frames is not None:  # v1 renders whole clips
    clip = generate_clip(split, index, preset, size, version)
    return {k: v[frames] if k in PER_FRAME_OUTPUTS else v for k, v in clip.items()}
  cfg = PRESETS[preset]
  label, kinds, onsets, cells = _draw_events(rng)
  frames = _background(rng, cfg, size)
  distract = _distractors(rng, frames, cfg.num_distractors, size)
  video = _to_uint8(frames)

  cell = _CELL * size // 32
  glyph_rgb = _to_uint8(np.array(cfg.glyph_colour))
  event_ids = np.zeros(video.shape[:3], dtype=np.uint8)
  for i, (onset, kind, (row, col)) in enumerate(zip(onsets, kinds, cells)):
    when = slice(onset, onset + EVENT_FRAMES)
    ys, xs = slice(row * cell, (row + 1) * cell), slice(col * cell, (col + 1) * cell)
    glyph = np.repeat(np.repeat(GLYPHS[kind], cell // _CELL, 0), cell // _CELL, 1)
    video[when, ys, xs][:, glyph] = glyph_rgb
    distract[when, ys, xs] &= ~glyph
    event_ids[when, ys, xs] = i + 1
  return {
      "video": video,
      "label": np.array(label, dtype=np.int64),
      "info": event_ids > 0,
      "event_ids": event_ids,
      "distract": distract,
      "onsets": onsets,
      "kinds": kinds,
      "cells": cells,
  }


class SLCSource:
  """A grain random-access source over one SLC split (satisfies `grain.python.RandomAccessDataSource`).

  Clips are generated on the fly, lazily: an element's `video` and `info` are SLCFrames, rendered
  when indexed by the frames a view samples (np.asarray gives all 128). `num_clips` takes the
  first clips of the split (smoke runs). An element's `info` is the clip's per-pixel `event_ids`
  (uint8, 0: no event), so that losses can tell the events apart. The instance is small and
  picklable (grain worker processes).
  """

  def __init__(self, split: str, preset: str = "medium", size: int = 32, num_clips: int | None = None,
               version: int = 1):
    _check(split, preset, size, version)
    total = SPLIT_SIZES[split]
    num_clips = total if num_clips is None else operator.index(num_clips)
    if not 0 < num_clips <= total:
      raise ValueError(f"num_clips={num_clips} must be in [1, {total}] for split {split!r}")
    self.split, self.preset, self.size, self.num_clips = split, preset, size, num_clips
    self.version = version

  def __len__(self) -> int:
    return self.num_clips

  def __getitem__(self, index: int) -> dict[str, np.ndarray]:
    index = operator.index(index)
    if index < 0:
      index += self.num_clips
    if not 0 <= index < self.num_clips:
      raise IndexError(f"index {index} out of range for {self!r}")
    clip = LazySLCClip(self.split, index, self.preset, self.size, self.version)
    return {
        "video": SLCFrames(clip, "video"),
        "label": np.array(clip.label(), dtype=np.int32),
        "info": SLCFrames(clip, "event_ids"),
        "index": np.array(index, dtype=np.int32),
    }

  def __repr__(self) -> str:
    return (f"SLCSource(split={self.split!r}, preset={self.preset!r}, size={self.size}, "
            f"num_clips={self.num_clips}, version={self.version})")


class LazySLCClip:
  """One SLC clip, rendered on demand: `frames(key, indices)` renders the frames asked for (the
  last rendering is kept, so a view's video and event ids come from one rendering)."""

  def __init__(self, split: str, index: int, preset: str, size: int, version: int):
    self.split, self.index, self.preset, self.size, self.version = split, index, preset, size, version
    self._last: tuple[np.ndarray, dict] | None = None

  def label(self) -> int:
    """The clip's label: the first draw of its generator, in both versions (nothing rendered)."""
    rng = np.random.default_rng(clip_seed_sequence(self.split, self.index, self.preset, self.size, self.version))
    if self.version == 2:
      return slc_v2.draw_label(rng)
    return _draw_events(rng)[0]

  def frames(self, key: str, indices) -> np.ndarray:
    chosen = np.arange(CLIP_FRAMES)[indices]  # numpy's indexing rules (and IndexError)
    wanted = np.unique(chosen)
    if self._last is None or not np.array_equal(self._last[0], wanted):
      self._last = (wanted, generate_clip(self.split, self.index, self.preset, self.size, self.version, wanted))
    return self._last[1][key][np.searchsorted(wanted, chosen)]


@dataclasses.dataclass(frozen=True)
class SLCFrames:
  """A per-frame output (`video` or `event_ids`) of a lazily rendered clip: clip[indices] renders
  those frames only; np.asarray(clip) renders all CLIP_FRAMES."""
  clip: LazySLCClip
  key: str

  @property
  def shape(self) -> tuple[int, ...]:
    size = self.clip.size
    return (CLIP_FRAMES, size, size, 3) if self.key == "video" else (CLIP_FRAMES, size, size)

  dtype = np.dtype(np.uint8)

  def __len__(self) -> int:
    return CLIP_FRAMES

  def __getitem__(self, indices) -> np.ndarray:
    return self.clip.frames(self.key, indices)

  def __array__(self, dtype=None, copy=None) -> np.ndarray:
    frames = self[:]
    return frames if dtype is None else frames.astype(dtype)

  def __iter__(self):
    return iter(self[:])
