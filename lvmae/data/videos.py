"""Real video datasets: the data config of the paper profile and the grain source over a manifest.

`VideoData` names a dataset under a data root (`<root>/<name>/`, laid out as the dataset's reader
in lvmae.data.readers expects) and builds `VideoSource`s. A source's element holds a lazily
decoded clip: the pipeline picks frame indices from its length, then decoding reads only those
frames. Missing files are dropped when the source is built and unreadable clips when they are
read; both are counted, and more than `max_skip_share` of the split is an error.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from lvmae.data.augment import Augmentation, augment_clip, eval_crops
from lvmae.data.manifest import Manifest
from lvmae.data.pipeline import SkippedClip
from lvmae.data.readers import SPLITS, read_manifest
from lvmae.data.video import VideoError, VideoInfo, probe, read_indices
from lvmae.validation import ConfigError, HalfOpenUnit, PositiveInt, check_choice, check_fields

log = logging.getLogger(__name__)

# Classes per label head of the paper's datasets (EPIC-Kitchens-100: verb, noun).
DATASET_HEADS = {"epic_kitchens_100": (97, 300), "diving48": (48,), "ssv2": (174,),
                 "finegym288": (288,), "kinetics_400": (400,), "kinetics_600": (600,),
                 "kinetics_700": (700,), "kinetics_710": (710,)}
HEAD_NAMES = {"epic_kitchens_100": ("verb", "noun")}  # the others have one head, "class"
NO_FLIP = ("ssv2",)  # labels that name directions ("from left to right"): a mirror changes the class
CONVERTED_DIR = "arrayrecord"  # `lvmae data convert`'s output under a dataset's directory
DECODE_MARGIN = 256 / 224  # training decodes a larger short side than the crop (VideoMAE's 256 for 224)


class TooManySkips(RuntimeError):
  """More clips of a split were missing or unreadable than the configured share allows."""


class SkipCounter:
  """Counts the distinct clips of a source that could not be read; thread-safe."""

  def __init__(self, total: int, max_share: float, what: str):
    self.total, self.max_share, self.what = total, max_share, what
    self.reasons: dict[int, str] = {}
    self._lock = threading.Lock()

  def __len__(self) -> int:
    return len(self.reasons)

  def record(self, index: int, reason: str) -> None:
    with self._lock:
      if index in self.reasons:
        return
      self.reasons[index] = reason
      count = len(self.reasons)
    log.warning("skipping clip %d of %s (%d skipped so far): %s", index, self.what, count, reason)
    if count > self.max_share * self.total:
      examples = "; ".join(list(self.reasons.values())[:3])
      raise TooManySkips(f"{count} of the {self.total} clips of {self.what} are missing or unreadable, "
                         f"more than max_skip_share={self.max_share}; e.g. {examples}")


@dataclasses.dataclass(frozen=True)
class LazyClip:
  """The frames of one segment, decoded on indexing: clip[indices] -> (len, H, W, 3) uint8.

  A failed read (or a video whose header could not be read: `error`) is reported to `on_error`
  and raises SkippedClip."""
  path: Path
  first_frame: int     # at `fps`, the video's own rate
  num_frames: int
  fps: float
  short_side: int | None
  on_error: Callable[[str], None]
  error: str | None = None

  @property
  def shape(self) -> tuple[int]:
    return (self.num_frames,)

  def __getitem__(self, indices) -> np.ndarray:
    if self.error is not None:
      self.on_error(self.error)
      raise SkippedClip(self.error)
    try:
      return read_indices(self.path, np.asarray(indices), self.fps, self.first_frame, self.short_side)
    except VideoError as e:
      self.on_error(str(e))
      raise SkippedClip(str(e)) from None


class VideoSource:
  """Random access to the segments of a manifest whose videos lie under `root`.

  Elements: {"video": LazyClip, "label": (heads,) int32, "index", "duration" (seconds)}.
  """
  may_skip = True  # clips that fail to decode are dropped by the pipeline

  def __init__(self, manifest: Manifest, root: Path | str, *, short_side: int | None = None,
               max_skip_share: float = 0.01, limit: int | None = None):
    self.manifest, self.root, self.short_side = manifest, Path(root), short_side
    what = f"{manifest.dataset} {manifest.split}"
    segments = manifest.segments[:limit]
    self.skips = SkipCounter(len(segments), max_skip_share, what)
    exists = {}
    self.indices = []  # manifest rows whose video file exists
    for i, segment in enumerate(segments):
      if segment.video not in exists:
        exists[segment.video] = (self.root / segment.video).is_file()
      if exists[segment.video]:
        self.indices.append(i)
      else:
        self.skips.record(i, f"{self.root / segment.video}: file not found (row {segment.id or i})")
    if not self.indices:
      raise TooManySkips(f"none of the {len(segments)} videos of {what} exists under {self.root}")
    self._info: dict[str, VideoInfo | str] = {}

  def __len__(self) -> int:
    return len(self.indices)

  def __repr__(self) -> str:
    return f"VideoSource({self.manifest.dataset} {self.manifest.split}, {len(self)} clips, root={self.root})"

  def info(self, video: str) -> VideoInfo | str:
    """The video's header (cached), or the reason it cannot be read."""
    if video not in self._info:
      try:
        self._info[video] = probe(self.root / video)
      except VideoError as e:
        self._info[video] = str(e)
    return self._info[video]

  def __getitem__(self, index: int) -> dict:
    row = self.indices[index]
    segment = self.manifest.segments[row]
    on_error = functools.partial(self.skips.record, row)
    info = self.info(segment.video)
    labels = np.asarray(segment.labels, np.int32)
    if isinstance(info, str):
      clip = LazyClip(self.root / segment.video, 0, 1, 1.0, self.short_side, on_error, error=info)
      return {"video": clip, "label": labels, "index": row, "duration": np.float32(np.nan)}
    start = segment.start_seconds(info.fps)
    stop = segment.stop_seconds(info.fps)
    stop = info.duration if stop is None else min(stop, info.duration)
    first = int(round(start * info.fps))
    count = max(1, int(round(stop * info.fps)) - first)
    clip = LazyClip(self.root / segment.video, first, count, info.fps, self.short_side, on_error)
    return {"video": clip, "label": labels, "index": row, "duration": np.float32(max(stop - start, 0.0))}


@dataclasses.dataclass(frozen=True)
class VideoData:
  """One of the paper's real datasets, read from `<root>/<name>/` (layouts: lvmae.data.readers).

  Its shapes (image size, classes per head) are fixed here, so paper-profile configs build and
  lower on any machine without the data.
  """
  name: str = "epic_kitchens_100"
  root: str = ""                  # the data root holding one directory per dataset
  image_size: PositiveInt = 224
  train_split: str = "train"
  eval_split: str = "validation"
  augment: Augmentation = Augmentation()
  eval_crops: int = 1             # spatial crops per temporal clip at evaluation (1 or 3)
  max_skip_share: HalfOpenUnit = 0.01    # missing or unreadable clips allowed per split
  source_format: str = "video"    # "arrayrecord": JPEG frames from `lvmae data convert` (<root>/<name>/arrayrecord)
  num_train: PositiveInt | None = None    # read only the first clips of a split (quick checks)
  num_eval: PositiveInt | None = None

  def __post_init__(self):
    check_fields(self)
    check_choice("name", self.name, DATASET_HEADS)
    for field in ("train_split", "eval_split"):
      check_choice(field, getattr(self, field), SPLITS[self.name])
    check_choice("eval_crops", self.eval_crops, (1, 3))
    check_choice("source_format", self.source_format, ("video", "arrayrecord"))
    if self.name in NO_FLIP and self.augment.flip:
      raise ConfigError("augment.flip", True, f"{self.name}'s classes name directions (left / right): "
                                              f"set data.augment.flip=False")

  @property
  def heads(self) -> tuple[int, ...]:
    return DATASET_HEADS[self.name]

  @property
  def head_names(self) -> tuple[str, ...]:
    return HEAD_NAMES.get(self.name, ("class",))

  @property
  def num_classes(self) -> int:
    return sum(self.heads)

  @property
  def clip_frames(self) -> None:
    return None  # videos vary in length

  @property
  def dataset_root(self) -> Path:
    if not self.root:
      raise ConfigError("root", self.root, f"set the data root holding {self.name}/ (--set data.root=DIR "
                                            f"or --data-root DIR)")
    return Path(self.root) / self.name

  def manifest(self, which: str) -> Manifest:
    split = self.train_split if which == "train" else self.eval_split
    manifest = read_manifest(self.name, self.dataset_root, split)
    for head, classes in zip(manifest.heads, self.heads):
      if head.num_classes > classes:
        raise ConfigError("name", self.name, f"{manifest.source} has {head.num_classes} {head.name} "
                                             f"classes; the model has {classes}")
    return manifest

  def source(self, which: str, fixed_view: bool = False):
    """`which` is "train" or "eval"; training decodes a larger short side to crop from, unless it
    reads the fixed (centre-crop) view of cached targets."""
    train = which == "train"
    if self.source_format == "arrayrecord":  # frames stored at the conversion's short side
      from lvmae.data.arrayrecord import ArrayRecordSource  # it builds on this module
      return ArrayRecordSource(self.dataset_root / CONVERTED_DIR, self.train_split if train else self.eval_split)
    short_side = round(self.image_size * DECODE_MARGIN) if train and not fixed_view else self.image_size
    return VideoSource(self.manifest(which), self.dataset_root, short_side=short_side,
                       max_skip_share=self.max_skip_share,
                       limit=self.num_train if train else self.num_eval)

  def spatial(self, which: str):
    """The spatial transform of decoded frames for a view:
      "train": (frames, rng) -> the augmented clip;
      "fixed": (frames, rng=None) -> the centre crop (the view per-clip caches are computed for);
      "eval":  frames -> (crops, ...) evaluation crops."""
    check_choice("view", which, ("train", "fixed", "eval"))
    if which == "train":
      return functools.partial(_augment, size=self.image_size, aug=self.augment)
    if which == "fixed":
      return functools.partial(_centre_crop, size=self.image_size)
    return functools.partial(eval_crops, size=self.image_size, num_crops=self.eval_crops)


def _augment(frames: np.ndarray, rng: np.random.Generator, *, size: int, aug: Augmentation) -> np.ndarray:
  return augment_clip(frames, size, aug, rng)


def _centre_crop(frames: np.ndarray, rng: np.random.Generator | None = None, *, size: int) -> np.ndarray:
  del rng  # the same view every time
  return eval_crops(frames, size, 1)[0]
