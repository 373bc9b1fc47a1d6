"""Grain pipelines: temporal sampling, shuffling, batching; checkpointable train iterators.

Clips stay uint8 here; normalisation happens on the device inside the jitted step.
Threads (not worker processes) read and decode: on a few CPU cores they are faster.
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, Protocol

import grain
import numpy as np

from lvmae.data.slc import CLIP_FRAMES, NUM_CLASSES, SLCSource, SPLIT_SIZES
from lvmae.validation import ConfigError, check_choice, check_positive


class ClipSource(Protocol):
  def __len__(self) -> int: ...
  def __getitem__(self, index: int) -> dict: ...


@dataclasses.dataclass(frozen=True)
class SLCData:
  """The embedded SparseLongCount benchmark (see lvmae.data.slc)."""
  preset: str = "medium"
  size: int = 32
  train_split: str = "unlabelled"
  num_train: int | None = None
  eval_split: str = "val"
  num_eval: int | None = None

  def __post_init__(self):
    check_choice("preset", self.preset, ("easy", "medium", "hard"))
    check_choice("size", self.size, (32, 64))
    for field in ("train_split", "eval_split"):
      check_choice(field, getattr(self, field), SPLIT_SIZES)
    for field, split in (("num_train", self.train_split), ("num_eval", self.eval_split)):
      n = getattr(self, field)
      if n is not None and not 0 < n <= SPLIT_SIZES[split]:
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

  def source(self, which: str) -> SLCSource:
    """`which` is "train" or "eval"."""
    if which == "train":
      return SLCSource(self.train_split, self.preset, self.size, self.num_train)
    return SLCSource(self.eval_split, self.preset, self.size, self.num_eval)


@dataclasses.dataclass(frozen=True)
class Sampling:
  """Which frames of a clip a model sees: `num_frames` frames, `stride` apart."""
  num_frames: int = 32
  stride: int = 4
  eval_clips: int = 1  # temporal clips averaged at evaluation (multi-clip test when > 1)

  def __post_init__(self):
    check_positive("num_frames", self.num_frames)
    check_positive("stride", self.stride)
    check_positive("eval_clips", self.eval_clips)

  def span(self) -> int:
    return (self.num_frames - 1) * self.stride + 1

  def check_fits(self, clip_frames: int) -> None:
    if self.span() > clip_frames:
      raise ConfigError("num_frames", self.num_frames,
                        f"with stride {self.stride} spans {self.span()} frames; clips have {clip_frames}")


def frame_indices(clip_frames: int, num_frames: int, stride: int, start: int) -> np.ndarray:
  idx = start + stride * np.arange(num_frames)
  if idx[-1] >= clip_frames:
    raise ValueError(f"frames {idx[0]}..{idx[-1]} do not fit a clip of {clip_frames} frames")
  return idx


def first_view(frames: np.ndarray, sampling: Sampling) -> np.ndarray:
  """The frames (or per-frame side outputs) a model sees of a clip sampled from its first frame:
  the view that per-clip caches (token targets, importance scores) are computed for."""
  return frames[frame_indices(frames.shape[0], sampling.num_frames, sampling.stride, 0)]


def eval_starts(clip_frames: int, sampling: Sampling) -> np.ndarray:
  """Start frames of the evaluation clips: centred for one clip, evenly spread for several."""
  last = clip_frames - sampling.span()
  if sampling.eval_clips == 1:
    return np.array([last // 2])
  return np.round(np.linspace(0, last, sampling.eval_clips)).astype(int)


class _RandomClip(grain.transforms.RandomMap):
  """Training view: a random temporal offset (or the first frame, to match cached per-clip
  targets); keeps only the model's inputs."""

  def __init__(self, sampling: Sampling, keys: tuple[str, ...], random_offset: bool = True):
    self.sampling, self.keys, self.random_offset = sampling, keys, random_offset

  def random_map(self, element: dict, rng: np.random.Generator) -> dict:
    video = element["video"]
    start = rng.integers(0, video.shape[0] - self.sampling.span() + 1) if self.random_offset else 0
    idx = frame_indices(video.shape[0], self.sampling.num_frames, self.sampling.stride, start)
    out = {k: element[k] for k in self.keys if k != "video"}
    out["video"] = np.ascontiguousarray(video[idx])
    return out


def train_iterator(source: ClipSource, sampling: Sampling, *, batch_size: int, seed: int,
                   keys: tuple[str, ...] = ("video", "label"), num_threads: int = 2,
                   prefetch: int = 4, random_offset: bool = True,
                   shard: tuple[int, int] = (0, 1)) -> grain.DatasetIterator:
  """An endless, shuffled (reshuffled every epoch), checkpointable iterator of batches.

  shard (index, count): this process reads clips index, index + count, ... only (multi-host runs
  pass (jax.process_index(), jax.process_count()) and a per-process batch_size).
  """
  index, count = shard
  ds = grain.MapDataset.source(source)
  if count > 1:
    ds = ds[index::count]
  if len(ds) < batch_size:
    raise ConfigError("batch_size", batch_size, f"larger than the {len(ds)} clips of {source!r} this process reads")
  ds = (ds.shuffle(seed=seed).repeat()
        .random_map(_RandomClip(sampling, keys, random_offset), seed=seed + 1)
        .batch(batch_size, drop_remainder=True))
  options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
  return iter(ds.to_iter_dataset(options))


def eval_batches(source: ClipSource, sampling: Sampling, *, batch_size: int,
                 num_threads: int = 2) -> Iterator[dict]:
  """Every clip once, in order; `video` is (B, clips, T, H, W, C) uint8; the last batch may be short."""

  def views(element: dict) -> dict:
    video = element["video"]
    starts = eval_starts(video.shape[0], sampling)
    clips = [video[frame_indices(video.shape[0], sampling.num_frames, sampling.stride, s)]
             for s in starts]
    return {"video": np.stack(clips), "label": element["label"], "index": element["index"]}

  ds = grain.MapDataset.source(source).map(views).batch(batch_size, drop_remainder=False)
  return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=2)))


# Class counts of the paper's datasets (EPIC-Kitchens-100: the verb head).
EXTERNAL_DATASETS = {"epic_kitchens_100": 97, "diving48": 48, "ssv2": 174, "finegym288": 288,
                     "kinetics_600": 600, "kinetics_710": 710}


@dataclasses.dataclass(frozen=True)
class ExternalVideoData:
  """One of the paper's real datasets under `root`: the paper profile's data.

  It fixes the shapes (image size, classes) so paper-profile configs build and lower on any
  machine; reading the videos needs the dataset readers, which this version does not have.
  """
  name: str = "epic_kitchens_100"
  root: str = ""
  image_size: int = 224
  train_split: str = "train"
  eval_split: str = "validation"

  def __post_init__(self):
    check_choice("name", self.name, EXTERNAL_DATASETS)
    check_positive("image_size", self.image_size)

  @property
  def num_classes(self) -> int:
    return EXTERNAL_DATASETS[self.name]

  @property
  def clip_frames(self) -> None:
    return None  # videos vary in length

  def source(self, which: str) -> ClipSource:
    raise NotImplementedError(
        f"data.name={self.name!r}: no reader for this dataset in this version; only the embedded "
        f"SLC benchmark (profiles smoke and cpu) can be read. Paper-profile configs build, lower "
        f"and are costed, but do not run yet.")
