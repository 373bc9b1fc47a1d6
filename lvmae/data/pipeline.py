"""Grain pipelines: temporal sampling, shuffling, batching; checkpointable train iterators.

Clips stay uint8 here; normalisation happens on the device inside the jitted step.
Threads (not worker processes) read and decode: on a few CPU cores they are faster.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Protocol

import grain
import numpy as np

from lvmae.data.slc import CLIP_FRAMES, NUM_CLASSES, SLCSource, SPLIT_SIZES, VERSIONS, presets
from lvmae.validation import ConfigError, PositiveInt, check_choice, check_fields


class ClipSource(Protocol):
  def __len__(self) -> int: ...
  def __getitem__(self, index: int) -> dict: ...


@dataclasses.dataclass(frozen=True)
class SLCData:
  """The embedded SparseLongCount benchmark (see lvmae.data.slc); `version` 2 is the default."""
  preset: str = "medium"
  size: int = 32
  train_split: str = "unlabelled"
  num_train: PositiveInt | None = None
  eval_split: str = "val"
  num_eval: PositiveInt | None = None
  version: int = 2

  def __post_init__(self):
    check_fields(self)
    check_choice("version", self.version, VERSIONS)
    check_choice("preset", self.preset, presets(self.version))
    check_choice("size", self.size, (32, 64))
    for field in ("train_split", "eval_split"):
      check_choice(field, getattr(self, field), SPLIT_SIZES)
    for field, split in (("num_train", self.train_split), ("num_eval", self.eval_split)):
      n = getattr(self, field)
      if n is not None and n > SPLIT_SIZES[split]:
        raise ConfigError(field, n, f"must be in [1, {SPLIT_SIZES[split]}] for split {split!r}")

  @property
  def image_size(self) -> int:
    return self.size

  @property
  def clip_frames(self) -> int:
    return CLIP_FRAMES

  @property
  def num_classes(self) -> int:
    return NUM_CLASSES

  @property
  def heads(self) -> tuple[int, ...]:
    return (NUM_CLASSES,)

  @property
  def head_names(self) -> tuple[str, ...]:
    return ("count",)

  def spatial(self, which: str) -> None:
    """SLC clips are model-sized already: no spatial transform for any view."""
    return None

  def source(self, which: str, fixed_view: bool = False) -> SLCSource:
    """`which` is "train" or "eval"; SLC reads every view from the same clips (fixed_view unused)."""
    del fixed_view
    if which == "train":
      return SLCSource(self.train_split, self.preset, self.size, self.num_train, self.version)
    return SLCSource(self.eval_split, self.preset, self.size, self.num_eval, self.version)


SAMPLING_MODES = ("dense", "segment", "uniform")


@dataclasses.dataclass(frozen=True)
class Sampling:
  """Which frames of a clip a model sees.

  dense: `num_frames` frames `stride` apart from a random start (training) or from evenly spread
    starts (evaluation); in a clip shorter than the span the last frame repeats.
  segment: the clip cut into `num_frames` equal segments, one frame from each (random in training,
    the middle at evaluation): a whole long or short clip in `num_frames` frames.
  uniform: `num_frames` evenly spaced frames from the first to the last, in training too.
  """
  num_frames: PositiveInt = 32
  stride: PositiveInt = 4
  eval_clips: PositiveInt = 1  # temporal clips averaged at evaluation (multi-clip test when > 1)
  mode: str = "dense"

  def __post_init__(self):
    check_fields(self)
    check_choice("mode", self.mode, SAMPLING_MODES)

  def span(self) -> int:
    return (self.num_frames - 1) * self.stride + 1

  def check_fits(self, clip_frames: int) -> None:
    if self.span() > clip_frames:
      raise ConfigError("num_frames", self.num_frames,
                        f"with stride {self.stride} spans {self.span()} frames; clips have {clip_frames}")


def sample_indices(clip_frames: int, sampling: Sampling, rng: np.random.Generator | None = None,
                   view: int = 0) -> np.ndarray:
  """Frame indices of one view of a clip of `clip_frames` frames: random for training (`rng`
  given), else evaluation view `view` of `sampling.eval_clips`."""
  n, views = sampling.num_frames, sampling.eval_clips
  if clip_frames <= 0:
    raise ValueError(f"a clip of {clip_frames} frames has nothing to sample")
  if sampling.mode == "uniform":
    return np.round(np.linspace(0, clip_frames - 1, n)).astype(np.int64)
  if sampling.mode == "segment":
    edges = np.linspace(0, clip_frames, n + 1)
    if rng is not None:
      offsets = rng.random(n)
    else:
      offsets = np.full(n, (view + 0.5) / views)
    return np.minimum(np.floor(edges[:-1] + offsets * np.diff(edges)), clip_frames - 1).astype(np.int64)
  if rng is not None:
    start = rng.integers(0, max(clip_frames - sampling.span(), 0) + 1)
  else:
    start = eval_starts(clip_frames, sampling)[view]
  return np.minimum(start + sampling.stride * np.arange(n), clip_frames - 1)


def first_view_indices(clip_frames: int, sampling: Sampling) -> np.ndarray:
  """The one fixed view that per-clip caches (token targets, importance scores) are computed
  for: dense frames from the first frame on, or the evaluation view of the other modes."""
  if sampling.mode == "dense":
    return np.minimum(sampling.stride * np.arange(sampling.num_frames), clip_frames - 1)
  return sample_indices(clip_frames, sampling)


def first_view(frames: np.ndarray, sampling: Sampling) -> np.ndarray:
  """The frames (or per-frame side outputs) of a clip at first_view_indices."""
  return frames[first_view_indices(frames.shape[0], sampling)]


def eval_starts(clip_frames: int, sampling: Sampling) -> np.ndarray:
  """Start frames of the evaluation clips: centred for one clip, evenly spread for several
  (all 0 in a clip shorter than the span)."""
  last = max(clip_frames - sampling.span(), 0)
  if sampling.eval_clips == 1:
    return np.array([last // 2])
  return np.round(np.linspace(0, last, sampling.eval_clips)).astype(int)


def fixed_views(source: ClipSource, indices, sampling: Sampling, spatial=None) -> dict:
  """The fixed view (first_view, then `spatial(frames)`, e.g. a centre crop) of clips `indices`.

  Returns {"video": (B, T, H, W, 3) uint8, zeros where a clip could not be read; "valid": (B,)
  bool; "info": SLC's (B, T, H, W) event masks, when the source has them}. Per-clip caches keep
  an unreadable clip's row (zeros) so rows stay aligned with the source.
  """
  elements = [source[int(i)] for i in indices]
  frames, valid = [], []
  for element in elements:
    try:
      clip = first_view(element["video"], sampling)
      frames.append(clip if spatial is None else spatial(clip))
      valid.append(True)
    except SkippedClip:
      frames.append(None)
      valid.append(False)
  if not any(valid):
    raise SkippedClip(f"none of clips {list(indices)} of {source!r} could be read")
  like = next(f for f in frames if f is not None)
  out = {"video": np.stack([f if f is not None else np.zeros_like(like) for f in frames]),
         "valid": np.array(valid)}
  if "info" in elements[0]:
    out["info"] = np.stack([first_view(e["info"], sampling) for e in elements])
  return out


class SkippedClip(Exception):
  """Raised by a source's lazily decoded clip that could not be read (already counted)."""


Spatial = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # (T,H,W,C) -> (T,S,S,C) uint8
Crops = Callable[[np.ndarray], np.ndarray]                          # (T,H,W,C) -> (crops,T,S,S,C)


PER_FRAME = ("video", "info")  # element keys indexed by the sampled frames


class _RandomClip(grain.transforms.RandomMap):
  """Training view: frames drawn by `sampling` (or the first view, to match cached per-clip
  targets), then the spatial transform if any; keeps only the model's inputs. A clip that
  cannot be decoded becomes None (filtered out before batching)."""

  def __init__(self, sampling: Sampling, keys: tuple[str, ...], random_offset: bool = True,
               spatial: Spatial | None = None):
    self.sampling, self.keys, self.random_offset, self.spatial = sampling, keys, random_offset, spatial

  def random_map(self, element: dict, rng: np.random.Generator) -> dict | None:
    video = element["video"]
    if self.random_offset:
      idx = sample_indices(video.shape[0], self.sampling, rng)
    else:
      idx = first_view_indices(video.shape[0], self.sampling)
    try:
      frames = np.ascontiguousarray(video[idx])
    except SkippedClip:
      return None
    out = {k: element[k] for k in self.keys if k not in PER_FRAME}
    out["video"] = frames if self.spatial is None else self.spatial(frames, rng)
    if "info" in self.keys:  # SLC's event masks of the same frames (SLC has no spatial transform)
      out["info"] = np.ascontiguousarray(element["info"][idx])
    return out


def train_iterator(source: ClipSource, sampling: Sampling, *, batch_size: int, seed: int,
                   keys: tuple[str, ...] = ("video", "label"), num_threads: int = 2,
                   prefetch: int = 4, random_offset: bool = True,
                   shard: tuple[int, int] = (0, 1), spatial: Spatial | None = None) -> grain.DatasetIterator:
  """An endless, shuffled (reshuffled every epoch), checkpointable iterator of batches.

  shard (index, count): this process reads clips index, index + count, ... only (multi-host runs
  pass (jax.process_index(), jax.process_count()) and a per-process batch_size).
  spatial: the training augmentation of decoded frames (real videos); None keeps them as they are.
  A source whose clips may fail to decode (`may_skip`) has them dropped before batching.
  """
  index, count = shard
  ds = grain.MapDataset.source(source)
  if count > 1:
    ds = ds[index::count]
  if len(ds) < batch_size:
    raise ConfigError("batch_size", batch_size, f"larger than the {len(ds)} clips of {source!r} this process reads")
  ds = ds.shuffle(seed=seed).repeat().random_map(_RandomClip(sampling, keys, random_offset, spatial), seed=seed + 1)
  options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
  if getattr(source, "may_skip", False):
    ds = ds.filter(lambda element: element is not None).to_iter_dataset(options)
    return iter(ds.batch(batch_size, drop_remainder=True))
  return iter(ds.batch(batch_size, drop_remainder=True).to_iter_dataset(options))


def eval_batches(source: ClipSource, sampling: Sampling, *, batch_size: int,
                 num_threads: int = 2, crops: Crops | None = None) -> Iterator[dict]:
  """Every readable clip once, in order; `video` is (B, views, T, H, W, C) uint8 with views =
  eval_clips x crops (temporal-major); the last batch may be short. Each element keeps its
  `index` (and `duration` where the source gives one)."""

  def views(element: dict) -> dict | None:
    video = element["video"]
    try:
      clips = [np.ascontiguousarray(video[sample_indices(video.shape[0], sampling, view=v)])
               for v in range(sampling.eval_clips)]
    except SkippedClip:
      return None
    stacked = np.concatenate([crops(c) for c in clips]) if crops is not None else np.stack(clips)
    out = {"video": stacked, "label": element["label"], "index": element["index"]}
    if "duration" in element:
      out["duration"] = element["duration"]
    return out

  options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=2)
  ds = grain.MapDataset.source(source).map(views)
  if getattr(source, "may_skip", False):
    return iter(ds.filter(lambda element: element is not None).to_iter_dataset(options)
                .batch(batch_size, drop_remainder=False))
  return iter(ds.batch(batch_size, drop_remainder=False).to_iter_dataset(options))
