"""SparseLongCount v2: the clip generator of SLC's second version (spec: shared/SLC.md, "v2").

v1 (lvmae.data.slc) is blind to the paper's mechanisms: its events are single static 4x4x4
tokens that a 90% tube mask either shows whole or hides with nothing visible that predicts them,
and its background is white noise at token scale. v2 is built so that a small MAE can learn:
- **Background with structure a small MAE can predict** from the visible tokens: a colour ramp
  over the whole frame (a triangle wave of period 64 px at size 32), drifting slowly, plus a faint
  smooth texture. Every token of the ramp has nearly the same normalised pixel pattern.
- **Distractors** as in v1 (solid bouncing discs), fewer and slower.
- **Events that are partly visible and predictable**: each event is a 16x16 px textured square
  (the event colour on black) on an aligned 4x4 block of 4x4 tokens, shown for `event_frames` (8)
  frames inside its 16-frame segment (so a 32-frame, stride-4 view sees every event in two
  frames, both in one time slice of 4-frame tubelets).
  The four kinds are period-2/4 textures, each lighting exactly half of every 4x4 token, at a
  random phase: any one visible token of it identifies the kind and predicts the others, the
  colour mass gives nothing away, and a linear read-out of mean-pooled raw pixels cannot count
  them (each glyph's sign on a pixel pattern is random).
- **Label**: the number of checkerboard (target) glyphs among the 8 events (8 classes).
- **Long-range variant** (preset "long"): events last 2 frames, so only a view that samples every
  other frame or denser sees all of them; a count cannot be rebuilt from short clips' averaged
  posteriors (the Bayes bounds are under `PRESETS`).

Side outputs, never model inputs: `event_ids` (T, H, W) uint8, event i + 1 on its glyph's square
while it is shown (0 elsewhere), `info` (the same as bool), `distract`, onsets, kinds, blocks.
"""
from __future__ import annotations

import dataclasses

import numpy as np

CLIP_FRAMES = 128
NUM_EVENTS = 8
NUM_CLASSES = 8
SEGMENT_FRAMES = CLIP_FRAMES // NUM_EVENTS  # 16
# An event starts at least MARGIN frames into its segment and ends with it: whatever the first
# frame (0-3) of a 32-frame stride-4 view, the event's frames stay inside one 16-frame time slice.
MARGIN = 3

_DISC_RADIUS = 2.5
_DISC_MAX_RED = 0.6


@dataclasses.dataclass(frozen=True)
class V2Preset:
  """Knobs of a v2 preset (sizes at 32 px; they scale with size / 32)."""
  event_frames: int = 8               # frames each event is shown
  glyph: int = 16                     # glyph side (px at size 32): an aligned 4x4 block of 4x4 tokens
  ramp_contrast: tuple[float, float] = (0.3, 0.6)  # |colour difference| range of the ramp ends
  ramp_speed: tuple[float, float] = (0.1, 0.3)     # px/frame
  texture_contrast: float = 0.02      # amplitude of the faint smooth texture
  num_distractors: int = 2
  distractor_speed: tuple[float, float] = (1.0, 2.0)


# Presets. "long" is the long-range variant (Tables 2, 4c, 6): events last 2 frames, so a view
# sees an event only if it samples one of its frames. Bayes-optimal top-1 of a view that knows the
# kind of every event it sees (lvmae.data.slc_v2.bayes_top1; with 8-frame events every whole-clip
# view below sees every event, so "medium" is 1.0 for each of them):
#   view                                          medium   long
#   128 frames, stride 1                           1.00    1.00
#   64 frames, stride 2                            1.00    1.00
#   32 frames, stride 4 (each event seen w.p. 1/2) 1.00    0.41
#   16 frames, stride 8 (w.p. 1/4)                 1.00    0.28
#   32 contiguous frames (2 of 8 events)           0.29    0.29
#   four 32-frame clips, posteriors averaged       0.42    0.42
#   chance                                         0.125   0.125
PRESETS: dict[str, V2Preset] = {
    "medium": V2Preset(),
    "long": V2Preset(event_frames=2),
}


def _texture(kind: int, phase: tuple[int, int], size: int) -> np.ndarray:
  """(size, size) bool: the lit pixels of glyph `kind` at a phase (dy, dx).

  0 checkerboard (the target), 1 horizontal stripes, 2 vertical stripes, 3 2x2 checkerboard;
  every 4x4 window of each lights exactly 8 pixels whatever the phase.
  """
  y, x = np.mgrid[:size, :size]
  y, x = y + phase[0], x + phase[1]
  if kind == 0:
    return (y + x) % 2 == 0
  if kind == 1:
    return y % 2 == 0
  if kind == 2:
    return x % 2 == 0
  return (y // 2 + x // 2) % 2 == 0


def _background(rng: np.random.Generator, preset: V2Preset, size: int, at: np.ndarray) -> np.ndarray:
  """(len(at), size, size, 3) float32: a drifting colour ramp plus a faint smooth texture, at
  the clip's frames `at` (every frame is a function of its index: a subset costs its share)."""
  scale = size / 32
  angle = rng.uniform(0.0, 2.0 * np.pi)
  direction = np.array([np.sin(angle), np.cos(angle)])
  low = rng.uniform(0.2, 0.8, 3)
  delta = rng.uniform(*preset.ramp_contrast, 3) * rng.choice([-1.0, 1.0], 3)
  high = np.clip(low + delta, 0.05, 0.95)
  speed = rng.uniform(*preset.ramp_speed) * scale
  period = 2 * size  # the ramp rises over `size` px and falls over the next `size`
  yy, xx = np.mgrid[:size, :size].astype(np.float32)
  along = yy * np.float32(direction[0]) + xx * np.float32(direction[1])  # (H, W) px along the ramp
  start = rng.uniform(0.0, period)
  shift = (start + speed * at.astype(np.float32))[:, None, None]
  u = np.mod(along[None] + shift, period, dtype=np.float32) / size  # in [0, 2)
  ramp = 1.0 - np.abs(u - 1.0)  # triangle wave in [0, 1]
  frames = ramp[..., None] * (high - low).astype(np.float32)
  frames += low.astype(np.float32)
  # Faint smooth texture, panned with the ramp (periodic Gaussian low-pass of white noise).
  side = 2 * size
  noise = rng.standard_normal((side, side, 3))
  freq = np.fft.fftfreq(side)
  gain = np.exp(-2.0 * np.pi**2 * (2.0 * scale) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2))
  tex = np.fft.ifft2(np.fft.fft2(noise, axes=(0, 1)) * gain[:, :, None], axes=(0, 1)).real
  tex = (preset.texture_contrast / tex.std() * tex).astype(np.float32)
  offset = np.floor(start + speed * at[:, None] * direction[None]).astype(np.int64)
  rows = (offset[:, 0:1] + np.arange(size)) % side
  cols = (offset[:, 1:2] + np.arange(size)) % side
  frames += tex.reshape(-1, 3)[rows[:, :, None] * side + cols[:, None, :]]
  return frames


def _distractors(rng, video, preset: V2Preset, size: int, at: np.ndarray) -> np.ndarray:
  """Bouncing discs drawn into `video` (the clip's frames `at`) in place (red capped, never the
  event colour); their mask."""
  from lvmae.data.slc import _bounce  # one bounce rule for both versions
  scale = size / 32
  radius = _DISC_RADIUS * scale
  centres = np.arange(size, dtype=np.float32) + 0.5
  mask = np.zeros(video.shape[:3], dtype=bool)
  for _ in range(preset.num_distractors):
    start = rng.uniform(radius, size - radius, 2)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    speed = rng.uniform(*preset.distractor_speed) * scale
    colour = (rng.uniform(0.0, 1.0, 3) * np.array([_DISC_MAX_RED, 1.0, 1.0])).astype(np.float32)
    pos = _bounce(start, speed * np.array([np.sin(angle), np.cos(angle)]), radius, size - radius)[at]
    dy2 = (centres[None, :] - pos[:, 0:1]) ** 2
    dx2 = (centres[None, :] - pos[:, 1:2]) ** 2
    disc = dy2[:, :, None] + dx2[:, None, :] <= radius * radius
    video.reshape(-1, 3)[np.flatnonzero(disc)] = colour
    mask |= disc
  return mask


def draw_label(rng: np.random.Generator) -> int:
  """The clip's label: its generator's first draw (so a label costs no rendering)."""
  return int(rng.integers(0, NUM_CLASSES))


def _draw_events(rng: np.random.Generator, preset: V2Preset):
  """Label, shuffled kinds, onsets (one per segment, inside its margins) and blocks (row, col)."""
  label = draw_label(rng)
  kinds = np.concatenate([np.zeros(label, np.int64), rng.integers(1, 4, NUM_EVENTS - label)])
  kinds = rng.permutation(kinds).astype(np.int64)
  latest = SEGMENT_FRAMES - preset.event_frames
  onsets = np.arange(NUM_EVENTS) * SEGMENT_FRAMES + rng.integers(MARGIN, latest + 1, NUM_EVENTS)
  blocks = rng.integers(0, 32 // preset.glyph, (NUM_EVENTS, 2))  # aligned block positions
  return label, kinds, onsets.astype(np.int64), blocks.astype(np.int64)


def generate(rng: np.random.Generator, preset: str, size: int,
             frames: np.ndarray | None = None) -> dict[str, np.ndarray]:
  """One v2 clip from its seeded generator (lvmae.data.slc.generate_clip checks the arguments).

  frames: sorted distinct frame indices to render (None: all CLIP_FRAMES); the per-frame outputs
  hold those frames only, each identical to the same frame of the whole clip. The generator's
  draws do not depend on `frames`."""
  frames = np.arange(CLIP_FRAMES) if frames is None else np.asarray(frames, np.int64)
  from lvmae.data.slc import _to_uint8
  cfg = PRESETS[preset]
  label, kinds, onsets, blocks = _draw_events(rng, cfg)
  hue = rng.uniform(0.0, 1.0)
  phases = rng.integers(0, 4, (NUM_EVENTS, 2))
  pixels = _background(rng, cfg, size, frames)
  distract = _distractors(rng, pixels, cfg, size, frames)
  video = _to_uint8(pixels)
  glyph_rgb = _to_uint8(_bright_colour(hue))
  side = cfg.glyph * size // 32
  event_ids = np.zeros(video.shape[:3], np.uint8)
  for i, (onset, kind, (row, col), phase) in enumerate(zip(onsets, kinds, blocks, phases)):
    when = (frames >= onset) & (frames < onset + cfg.event_frames)  # the rendered frames it is shown in
    ys, xs = slice(row * side, (row + 1) * side), slice(col * side, (col + 1) * side)
    lit = _texture(int(kind), tuple(phase), side)
    video[when, ys, xs] = np.where(lit[:, :, None], glyph_rgb, np.uint8(0))
    distract[when, ys, xs] = False
    event_ids[when, ys, xs] = i + 1
  return {
      "video": video,
      "label": np.array(label, dtype=np.int64),
      "info": event_ids > 0,
      "event_ids": event_ids,
      "distract": distract,
      "onsets": onsets,
      "kinds": kinds,
      "blocks": blocks,
  }


def _bright_colour(hue: float) -> np.ndarray:
  """A fully saturated, bright RGB colour of the given hue in [0, 1) (the events' colour)."""
  h = 6.0 * hue
  x = 1.0 - abs(h % 2.0 - 1.0)
  sector = int(h) % 6
  rgb = [(1, x, 0), (x, 1, 0), (0, 1, x), (0, x, 1), (x, 0, 1), (1, 0, x)][sector]
  return np.array(rgb, dtype=np.float64)


def bayes_top1(seen_share: float) -> float:
  """Bayes-optimal top-1 of a view that sees each of the 8 events independently with probability
  `seen_share` and, for each seen event, its kind: the best guess of the count from the number of
  targets among the seen events (label uniform over 0..7, kinds shuffled)."""
  from math import comb
  if not 0.0 <= seen_share <= 1.0:
    raise ValueError(f"seen_share={seen_share} must be in [0, 1]")

  def likelihood(k, m, j):  # P(j targets among m seen events | k targets among 8)
    return comb(k, j) * comb(NUM_EVENTS - k, m - j) / comb(NUM_EVENTS, m) if j <= k and m - j <= NUM_EVENTS - k else 0.0

  total = 0.0
  for m in range(NUM_EVENTS + 1):
    p_m = comb(NUM_EVENTS, m) * seen_share**m * (1 - seen_share) ** (NUM_EVENTS - m)
    total += p_m * sum(max(likelihood(k, m, j) for k in range(NUM_CLASSES)) / NUM_CLASSES for j in range(m + 1))
  return total
