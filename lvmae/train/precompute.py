"""The precompute stage: a frozen tokenizer over every pre-training clip, cached per clip.

For each clip of the MAE's pre-training split it takes the frames the MAE sees (its sampling, from
the clip's first frame), runs the tokenizer over `window`-frame windows `window_stride` apart and
concatenates their latents along time (a latent step comes from the first window that covers it).
The run directory holds `latents.npy` (clips, t, h, w, D) float16, the quantized codes (exact in
float16), and for an adaptive tokenizer `scores.npy` (clips, t*h*w) float32.

Scores for decoder masking: the scorer's features are concatenated over the windows and a token's
importance is its feature's distance to the same position one latent step earlier, across window
boundaries too. The tokenizer's "first step always kept" rule (a top-k of ~half the tokens in its
training) would spend a 10% decoder budget on one whole time slice, so here the clip's first step
is scored by its change to the second instead. On SLC the run's result also gives the recall of
event tokens among each clip's top `tokenizer.recall_budget` scores. The cache is keyed by the run
id, which hashes the tokenizer's config. `TokenCache` reads it alongside the clips.
`ClipArrays` (atomic per-clip memmaps) and `EventRecall` are shared with the FlowScores stage.
"""
from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx
from tqdm import tqdm

from lvmae.data.pipeline import SLCData, Sampling, fixed_views
from lvmae.data.videos import VideoData
from lvmae.masking.events import event_tokens, topk_mask
from lvmae.tokenizer.scorer import selection_scores
from lvmae.train.tokenizer import Tokenizer, load_tokenizer, to_signed_unit
from lvmae.validation import ConfigError, PositiveInt, check_divisible, check_fields

LATENTS, SCORES = "latents.npy", "scores.npy"


@dataclasses.dataclass(frozen=True)
class Precompute:
  """Tokenizes `data`'s pre-training split with the frozen `tokenizer` (an upstream stage)."""
  tokenizer: Tokenizer
  data: SLCData | VideoData
  sampling: Sampling
  window: PositiveInt = 16
  window_stride: PositiveInt = 16
  batch_size: PositiveInt = 16
  data_threads: PositiveInt = 2

  def __post_init__(self):
    check_fields(self)
    ft = self.tokenizer.autoencoder.factors[0]
    check_divisible("window", self.window, ft, "the tokenizer's temporal factor")
    check_divisible("window_stride", self.window_stride, ft, "the tokenizer's temporal factor")
    self.tokenizer.autoencoder.clip_grid(self.sampling.num_frames, self.data.image_size)  # validates
    if not self.window_stride <= self.window <= self.sampling.num_frames:
      raise ConfigError("window_stride", self.window_stride,
                        f"need window_stride <= window={self.window} <= num_frames={self.sampling.num_frames}")
    if self.data.clip_frames is not None:
      self.sampling.check_fits(self.data.clip_frames)

  @property
  def grid(self) -> tuple[int, int, int]:
    return self.tokenizer.autoencoder.clip_grid(self.sampling.num_frames, self.data.image_size)

  def window_starts(self) -> list[int]:
    """First frames of the windows; the last window ends at the last frame."""
    last = self.sampling.num_frames - self.window
    starts = list(range(0, last + 1, self.window_stride))
    return starts if starts[-1] == last else starts + [last]

  def assemble(self, windows: list[np.ndarray]) -> np.ndarray:
    """Per-window (B, tw, ...) outputs -> (B, t, ...): latent step j from the first window covering it."""
    ft, starts = self.tokenizer.autoencoder.factors[0], self.window_starts()
    steps = []
    for j in range(self.sampling.num_frames // ft):
      w = next(i for i, s in enumerate(starts) if s <= j * ft < s + self.window)
      steps.append(windows[w][:, j - starts[w] // ft])
    return np.stack(steps, axis=1)

  def tokenize_clips(self, encode, video: np.ndarray) -> dict[str, np.ndarray]:
    """uint8 (B, T, H, W, 3) of the sampled frames -> latents (B, t, h, w, D) [, scores (B, t*h*w)].

    `encode` is `jitted_tokenize(model)`.
    """
    outs = [jax.device_get(encode(video[:, s:s + self.window])) for s in self.window_starts()]
    latents = self.assemble([o["latents"] for o in outs])
    result = {"latents": latents}
    if "score_features" in outs[0]:
      result["scores"] = selection_scores(self.assemble([o["score_features"] for o in outs]))
    return result

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    del stop_after  # one pass; minutes at the cpu profile
    run_dir = Path(run_dir)
    encode = jitted_tokenize(load_tokenizer(self.tokenizer, upstream["tokenizer"]))
    source, crop = self.data.source("train", fixed_view=True), self.data.spatial("fixed")
    n, (t, h, w) = len(source), self.grid
    adaptive = self.tokenizer.adaptive is not None
    shapes = {LATENTS: (np.float16, (n, t, h, w, self.tokenizer.quantizer.dim))}
    if adaptive:
      shapes[SCORES] = (np.float32, (n, t * h * w))
    arrays, recall = ClipArrays(run_dir, shapes), EventRecall(self.grid, self.tokenizer.recall_budget)
    start, warm = time.perf_counter(), None
    for begin in tqdm(range(0, n, self.batch_size), desc=f"precompute {run_dir.name}", unit="batch"):
      views = fixed_views(source, range(begin, min(n, begin + self.batch_size)), self.sampling, crop)
      video = views["video"]  # unreadable clips are zeros: pre-training skips them too
      out = self.tokenize_clips(encode, video)
      arrays[LATENTS][begin:begin + len(video)] = out["latents"]
      if adaptive:
        arrays[SCORES][begin:begin + len(video)] = out["scores"]
        if "info" in views:  # SLC: how many event tokens the top scores cover
          recall.add(out["scores"], views["info"])
      if warm is None:  # time after the first (compiling) batch
        warm = (time.perf_counter(), len(video))
    seconds = time.perf_counter() - start
    arrays.commit()
    timed = n - warm[1]
    per_clip = (time.perf_counter() - warm[0]) / timed * 1e3 if timed else float("nan")
    result = {"clips": n, "grid": [t, h, w], "scores": adaptive, "seconds": seconds, "ms_per_clip": per_clip,
              "frames": self.sampling.num_frames, "windows": len(self.window_starts())}
    result.update(recall.summary())
    return result


class ClipArrays:
  """The per-clip arrays of a caching stage (rows aligned with the source's clips): `.npy` memmaps
  written as `<name>.partial` in the run directory, zero-filled until written, and renamed into
  place by `commit`, so a run directory never holds a half-written cache under its final name."""

  def __init__(self, run_dir: Path, shapes: dict[str, tuple[np.dtype, tuple[int, ...]]]):
    self.partial = {name: Path(run_dir) / f"{name}.partial" for name in shapes}
    self.arrays = {name: np.lib.format.open_memmap(self.partial[name], mode="w+", dtype=dtype, shape=shape)
                   for name, (dtype, shape) in shapes.items()}

  def __getitem__(self, name: str) -> np.memmap:
    return self.arrays[name]

  def commit(self) -> None:
    """Flushes every array and renames it to its final name (`name`, in the run directory)."""
    for array in self.arrays.values():
      array.flush()
    self.arrays.clear()
    for name, path in self.partial.items():
      os.replace(path, path.with_name(name))


class EventRecall:
  """SLC: the recall of event tokens (lvmae.masking.events.event_tokens) among each clip's top
  `budget` scores, pooled over every clip added."""

  def __init__(self, grid: tuple[int, int, int], budget: float):
    self.grid, self.budget, self.hits, self.total = grid, budget, 0, 0

  def add(self, scores: np.ndarray, info: np.ndarray) -> None:
    """scores (B, N); info: the clips' (B, T, H, W) event masks of the scored frames."""
    events = np.stack([event_tokens(i, self.grid) for i in info])
    self.hits += int(np.count_nonzero(topk_mask(scores, self.budget) & events))
    self.total += int(np.count_nonzero(events))

  def summary(self) -> dict:
    """{"event_recall", "recall_budget", "event_tokens"}, or {} when no event token was seen."""
    if not self.total:
      return {}
    return {"event_recall": self.hits / self.total, "recall_budget": self.budget, "event_tokens": self.total}


def jitted_tokenize(model):
  """uint8 windows (B, T, H, W, 3) -> the frozen tokenizer's `tokenize` outputs, jitted."""
  graphdef, state = nnx.split(model)
  return jax.jit(lambda v: nnx.merge(graphdef, state).tokenize(to_signed_unit(v)))


class TokenCache:
  """A clip source that adds cached `latents` (from one precompute run) and `scores` (from
  another, or the same) to each clip's element."""

  def __init__(self, source, latents_dir: Path | None = None, scores_dir: Path | None = None):
    self.source = source
    self.dirs = {"latents": latents_dir, "scores": scores_dir}
    self.arrays = {}
    for key, name in (("latents", LATENTS), ("scores", SCORES)):
      if self.dirs[key] is None:
        continue
      path = Path(self.dirs[key]) / name
      if not path.exists():
        raise FileNotFoundError(f"{path}: the precompute run has no {key} (is its tokenizer adaptive?)")
      self.arrays[key] = np.load(path, mmap_mode="r")
      if len(self.arrays[key]) != len(source):
        raise ValueError(f"{path} has {len(self.arrays[key])} clips; the source has {len(source)}")

  def __len__(self) -> int:
    return len(self.source)

  @property
  def may_skip(self) -> bool:
    return getattr(self.source, "may_skip", False)

  def __getitem__(self, index: int) -> dict:
    element = dict(self.source[index])
    for key, array in self.arrays.items():
      element[key] = np.asarray(array[index], np.float32)
    return element

  def __repr__(self) -> str:
    return f"TokenCache({self.source!r}, {', '.join(f'{k}={v}' for k, v in self.dirs.items() if v)})"
