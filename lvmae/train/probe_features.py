"""The probe-features stage: a frozen encoder's features of every labelled clip, cached for probes.

For each clip of the data's train split and of its eval split it takes one fixed view (the centred
evaluation clip of `sampling`, the centre crop of real videos; no augmentation) and computes
  source="encoder": the frozen encoder's output tokens (after its final LayerNorm) over ALL tokens
    (no masking): their mean (N, D) float32 and the tokens themselves (N, L, D) float16, which the
    attentive probe pools. The encoder is `pretrained`'s (an upstream Pretrain stage), or a
    random-init one built with `seed` when `pretrained` is None (a floor).
  source="pixels": no model; the clip's raw patches in [0, 1] (`patchify(video / 255, tubelet)`),
    mean-pooled to (N, t*p*p*3): the raw-pixel floor. No per-token features.
The run directory holds `train.npz` and `eval.npz` (keys: pooled, tokens (encoder only), label,
index), each written atomically; `load_features` reads one back.
"""
from __future__ import annotations

import dataclasses
import io
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
from lvmae.masking.grid import patchify, token_grid
from lvmae.models.specs import DTYPES, TransformerSpec
from lvmae.train.checkpoint import restore_pretrained_encoder
from lvmae.train.pretrain import Pretrain
from lvmae.train.stage import check_clip_shape
from lvmae.train.state import normalise_input
from lvmae.validation import ConfigError, check_choice, check_positive

SOURCES = ("encoder", "pixels")
FEATURE_FILES = {"train": "train.npz", "eval": "eval.npz"}  # per split, in the run directory


@dataclasses.dataclass(frozen=True)
class ProbeFeatures:
  """Frozen features of `data`'s train and eval clips, for the Probe stage."""
  data: SLCData | VideoData
  sampling: Sampling
  encoder: TransformerSpec
  tubelet: tuple[int, int, int] = (2, 8, 8)
  pretrained: Pretrain | None = None  # None: a random-init encoder (seeded by `seed`)
  source: str = "encoder"             # "encoder" or "pixels" (see the module docstring)
  seed: int = 0
  batch_size: int = 32
  data_threads: int = 2

  def __post_init__(self):
    check_clip_shape(self.sampling, self.data, self.tubelet)
    check_choice("source", self.source, SOURCES)
    check_positive("batch_size", self.batch_size)
    if self.sampling.eval_clips != 1:
      raise ConfigError("sampling.eval_clips", self.sampling.eval_clips, "must be 1: one centred view per clip")
    if self.pretrained is not None:
      if self.source == "pixels":
        raise ConfigError("pretrained", "Pretrain(...)", "must be None for source='pixels' (no model is used)")
      if self.pretrained.encoder != self.encoder:
        raise ConfigError("encoder", self.encoder, f"differs from pretrained.encoder={self.pretrained.encoder}")
      if tuple(self.pretrained.tubelet) != tuple(self.tubelet):
        raise ConfigError("tubelet", self.tubelet, f"differs from pretrained.tubelet={self.pretrained.tubelet}")

  @property
  def grid(self) -> tuple[int, int, int]:
    size = self.data.image_size
    return token_grid(self.sampling.num_frames, size, size, self.tubelet)

  @property
  def patch_dim(self) -> int:
    return self.tubelet[0] * self.tubelet[1] * self.tubelet[2] * 3

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
    dtype, n = DTYPES[self.encoder.dtype], grid[0] * grid[1] * grid[2]

    @jax.jit
    def encode(state, video):
      encoder = nnx.merge(graphdef, state)
      positions = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (video.shape[0], n))
      tokens = encoder(patchify(normalise_input(video, dtype), tubelet), positions, grid).astype(jnp.float32)
      return {"pooled": tokens.mean(axis=1), "tokens": tokens.astype(jnp.float16)}

    return lambda video: encode(state, video)

  def extract(self, compute, which: str) -> dict[str, np.ndarray]:
    """Features of every readable clip of split `which` ("train" or "eval"), in order."""
    fixed = self.data.spatial("fixed")  # the centre crop of real videos; None for SLC
    crops = None if fixed is None else (lambda frames: fixed(frames)[None])
    batches = eval_batches(self.data.source(which, fixed_view=True), self.sampling, batch_size=self.batch_size,
                           num_threads=self.data_threads, crops=crops)
    out = {"pooled": [], "tokens": [], "label": [], "index": []}
    for batch in tqdm(batches, desc=f"features ({which})", unit="batch", leave=False):
      size, video = len(batch["label"]), batch["video"][:, 0]  # (B, T, H, W, 3): the one view
      if size < self.batch_size:  # pad the short last batch so the function compiles once
        video = np.concatenate([video, np.repeat(video[-1:], self.batch_size - size, axis=0)])
      features = jax.device_get(compute(video))
      for key, value in features.items():
        out[key].append(value[:size])
      out["label"].append(np.asarray(batch["label"]))
      out["index"].append(np.asarray(batch["index"]))
    if not out["index"]:
      raise RuntimeError(f"the {which} split gave no readable clips")
    return {key: np.concatenate(value) for key, value in out.items() if value}

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    del stop_after  # one pass over the data
    start = time.perf_counter()
    compute = self.feature_fn(upstream.get("pretrained"))
    counts = {}
    for which, name in FEATURE_FILES.items():
      features = self.extract(compute, which)
      buffer = io.BytesIO()
      np.savez(buffer, **features)
      write_atomic(Path(run_dir) / name, buffer.getvalue())
      counts[f"num_{which}"] = int(len(features["index"]))
    return {**counts, "dim": self.dim, "tokens": self.source == "encoder", "source": self.source,
            "grid": list(self.grid), "seconds": time.perf_counter() - start}


def load_features(features_dir: Path, which: str, tokens: bool = False) -> dict[str, np.ndarray]:
  """One split's cached features: {"pooled", "label", "index"} (and "tokens" when asked)."""
  path = Path(features_dir) / FEATURE_FILES[which]
  with np.load(path) as stored:
    if tokens and "tokens" not in stored:
      raise ValueError(f"{path} has no per-token features (pixel features are pooled only)")
    keys = ("pooled", "label", "index") + (("tokens",) if tokens else ())
    return {key: stored[key] for key in keys}
