"""The probe-features stage: a frozen encoder's features of every labelled clip, cached for probes.

For each clip of the data's train split it takes one fixed view (the centred evaluation clip of
`sampling`, the centre crop of real videos; no augmentation), and of its eval split
`sampling.eval_clips` such views (one unless a multi-clip test; the probe averages their
posteriors, as fine-tuning's evaluation does), and computes
  source="encoder": the frozen encoder's output tokens (after its final LayerNorm) over ALL tokens
    (no masking): their mean (N, D) float32 and, only with `keep_tokens` (the attentive probe
    pools them), the tokens themselves (N, L, D) float16. The encoder is `pretrained`'s (an
    upstream Pretrain stage), or a random-init one built with `seed` when `pretrained` is None.
  source="pixels": no model; the clip's raw patches in [0, 1] (`patchify(video / 255, tubelet)`),
    mean-pooled to (N, t*p*p*3): the raw-pixel floor. No per-token features.
The run directory holds `train.npz` and `eval.npz` (keys: pooled, label, index; eval's pooled is
(N, views, D) with several eval clips), each written
atomically, and with `keep_tokens` `train_tokens.npy` and `eval_tokens.npy`: too big for memory at
the paper profile, each is a memory-mapped .npy filled batch by batch, then renamed into place. It
has a row per clip of the split's source; the first N (the readable clips, in the npz's order) are
filled. `load_features` reads a split back (its tokens as a read-only memmap of those N rows).
"""
from __future__ import annotations

import dataclasses
import io
import math
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from lvmae.atomic import write_atomic
from lvmae.data.pipeline import SLCData, Sampling, eval_batches
from lvmae.data.videos import VideoData
from lvmae.masking.grid import patchify
from lvmae.models.specs import DTYPES, TransformerSpec
from lvmae.train.checkpoint import restore_pretrained_encoder
from lvmae.train.pretrain import Pretrain
from lvmae.train.stage import TokenGrid, check_clip_shape
from lvmae.train.state import normalise_input
from lvmae.validation import ConfigError, PositiveInt, Seed, Shape3, check_choice, check_fields

SOURCES = ("encoder", "pixels")
FEATURE_FILES = {"train": "train.npz", "eval": "eval.npz"}  # per split, in the run directory
TOKEN_FILES = {"train": "train_tokens.npy", "eval": "eval_tokens.npy"}  # with keep_tokens only


@dataclasses.dataclass(frozen=True)
class ProbeFeatures(TokenGrid):
  """Frozen features of `data`'s train and eval clips, for the Probe stage."""
  data: SLCData | VideoData
  sampling: Sampling
  encoder: TransformerSpec
  tubelet: Shape3 = (2, 8, 8)
  pretrained: Pretrain | None = None  # None: a random-init encoder (seeded by `seed`)
  source: str = "encoder"             # "encoder" or "pixels" (see the module docstring)
  keep_tokens: bool = False           # also store the per-token features (the attentive probe's input)
  seed: Seed = 0
  batch_size: PositiveInt = 32
  data_threads: PositiveInt = 2

  def __post_init__(self):
    check_fields(self)
    check_clip_shape(self.sampling, self.data, self.tubelet)
    check_choice("source", self.source, SOURCES)
    if self.keep_tokens and self.sampling.eval_clips != 1:
      raise ConfigError("sampling.eval_clips", self.sampling.eval_clips, "must be 1 with keep_tokens (the "
                        "attentive probe reads one view per clip)")
    if self.keep_tokens and self.source != "encoder":
      raise ConfigError("keep_tokens", self.keep_tokens, f"needs source='encoder' ({self.source!r} is pooled only)")
    if self.pretrained is not None:
      if self.source == "pixels":
        raise ConfigError("pretrained", "Pretrain(...)", "must be None for source='pixels' (no model is used)")
      if self.pretrained.encoder != self.encoder:
        raise ConfigError("encoder", self.encoder, f"differs from pretrained.encoder={self.pretrained.encoder}")
      if tuple(self.pretrained.tubelet) != tuple(self.tubelet):
        raise ConfigError("tubelet", self.tubelet, f"differs from pretrained.tubelet={self.pretrained.tubelet}")

  @property
  def dim(self) -> int:
    """The width of the features."""
    return self.patch_dim if self.source == "pixels" else self.encoder.width

  def build_encoder(self, pretrained_dir: Path | None):
    """The frozen encoder: random-init from `seed`, then the pre-training run's weights if any."""
    encoder = self.encoder.encoder(self.patch_dim, nnx.Rngs(self.seed))
    if self.pretrained is not None:
      restore_pretrained_encoder(encoder, self.pretrained, pretrained_dir)
    return encoder

  def feature_fn(self, pretrained_dir: Path | None):
    """A jitted function: uint8 clips (B, T, H, W, 3) -> {"pooled": (B, D) f32[, "tokens": (B, L, D) f16]}."""
    tubelet, grid = self.tubelet, self.grid
    if self.source == "pixels":
      return jax.jit(lambda video: {"pooled": patchify(video.astype(jnp.float32) / 255.0, tubelet).mean(axis=1)})
    graphdef, state = nnx.split(self.build_encoder(pretrained_dir))
    dtype, n, keep_tokens = DTYPES[self.encoder.dtype], grid[0] * grid[1] * grid[2], self.keep_tokens

    @jax.jit
    def encode(state, video):
      encoder = nnx.merge(graphdef, state)
      positions = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (video.shape[0], n))
      tokens = encoder(patchify(normalise_input(video, dtype), tubelet), positions, grid).astype(jnp.float32)
      if not keep_tokens:  # traced away: the (B, L, D) tokens never leave the device
        return {"pooled": tokens.mean(axis=1)}
      return {"pooled": tokens.mean(axis=1), "tokens": tokens.astype(jnp.float16)}

    return lambda video: encode(state, video)

  def extract(self, compute, which: str, tokens_path: Path | None = None) -> dict[str, np.ndarray]:
    """Pooled features, labels and indices of every readable clip of split `which` ("train" or
    "eval"), in order: pooled is (N, D), or (N, views, D) for an eval split of several clips; with
    `tokens_path` (keep_tokens), the tokens go to that .npy: a memmap of a temporary file, filled
    batch by batch, then renamed into place."""
    fixed = self.data.spatial("fixed")  # the centre crop of real videos; None for SLC
    crops = None if fixed is None else (lambda frames: fixed(frames)[None])
    source = self.data.source(which, fixed_view=True)
    sampling = self.sampling if which == "eval" else dataclasses.replace(self.sampling, eval_clips=1)
    batches = eval_batches(source, sampling, batch_size=self.batch_size, num_threads=self.data_threads,
                           crops=crops)
    tokens = None
    if tokens_path is not None:  # a row per clip of the source: the readable ones fill the first rows
      temporary = Path(f"{tokens_path}.tmp")
      tokens = np.lib.format.open_memmap(temporary, mode="w+", dtype=np.float16,
                                         shape=(len(source), math.prod(self.grid), self.dim))
    out, rows = {"pooled": [], "label": [], "index": []}, 0
    for batch in tqdm(batches, desc=f"features ({which})", unit="batch", leave=False):
      size, video = len(batch["label"]), batch["video"]  # (B, views, T, H, W, 3)
      if size < self.batch_size:  # pad the short last batch so the function compiles once
        video = np.concatenate([video, np.repeat(video[-1:], self.batch_size - size, axis=0)])
      views = [jax.device_get(compute(video[:, v])) for v in range(video.shape[1])]
      if tokens is not None:  # keep_tokens: one view
        tokens[rows:rows + size] = views[0]["tokens"][:size]
      rows += size
      pooled = np.stack([features["pooled"][:size] for features in views], axis=1)
      out["pooled"].append(pooled[:, 0] if sampling.eval_clips == 1 else pooled)
      out["label"].append(np.asarray(batch["label"]))
      out["index"].append(np.asarray(batch["index"]))
    if not rows:
      raise RuntimeError(f"the {which} split gave no readable clips")
    if tokens is not None:
      tokens.flush()
      del tokens  # closes the memmap
      os.replace(temporary, tokens_path)
    return {key: np.concatenate(value) for key, value in out.items()}

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    del stop_after  # one pass over the data
    start = time.perf_counter()
    compute = self.feature_fn(upstream.get("pretrained"))
    counts = {}
    for which, name in FEATURE_FILES.items():
      features = self.extract(compute, which, Path(run_dir) / TOKEN_FILES[which] if self.keep_tokens else None)
      buffer = io.BytesIO()
      np.savez(buffer, **features)
      write_atomic(Path(run_dir) / name, buffer.getvalue())
      counts[f"num_{which}"] = int(len(features["index"]))
    return {**counts, "dim": self.dim, "tokens": self.keep_tokens, "source": self.source,
            "grid": list(self.grid), "seconds": time.perf_counter() - start}


def load_features(features_dir: Path, which: str, tokens: bool = False) -> dict[str, np.ndarray]:
  """One split's cached features: {"pooled", "label", "index"} (and "tokens", a read-only
  memmap, when asked)."""
  with np.load(Path(features_dir) / FEATURE_FILES[which]) as stored:
    out = {key: stored[key] for key in ("pooled", "label", "index")}
  if tokens:
    path = Path(features_dir) / TOKEN_FILES[which]
    if not path.exists():
      raise ValueError(f"{path} is missing: no per-token features (they need ProbeFeatures.keep_tokens=True)")
    out["tokens"] = np.load(path, mmap_mode="r")[:len(out["index"])]
  return out
