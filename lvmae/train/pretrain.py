"""The MAE pre-training stage: tube-masked encoder, decoder masking, pixel targets (Eq. 1)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

from lvmae.data.pipeline import ExternalVideoData, SLCData, Sampling
from lvmae.masking import decoder as decoder_masking
from lvmae.masking.grid import patchify
from lvmae.masking.tube import num_visible, tube_mask
from lvmae.models.mae import MAE, gather_tokens
from lvmae.models.specs import DTYPES, TransformerSpec
from lvmae.targets.pixels import NORMALISATIONS, pixel_targets
from lvmae.train.optim import Schedule
from lvmae.train.stage import ClipStage
from lvmae.train.state import normalise_input
from lvmae.validation import ConfigError, check_choice, check_open_unit

TARGET_KINDS = ("rgb",)


@dataclasses.dataclass(frozen=True)
class Masking:
  """Encoder tube masking and the decoder's selection strategy and token budget."""
  encoder_ratio: float = 0.9
  decoder_strategy: str = "random"
  decoder_budget: float = 0.15  # share of all tokens the decoder reconstructs (unused by "none")

  def __post_init__(self):
    check_open_unit("encoder_ratio", self.encoder_ratio)
    check_choice("decoder_strategy", self.decoder_strategy, decoder_masking.STRATEGIES)
    if not 0.0 < self.decoder_budget <= 1.0:
      raise ConfigError("decoder_budget", self.decoder_budget, "must be in (0, 1]")


@dataclasses.dataclass(frozen=True)
class Targets:
  """What the decoder reconstructs."""
  kind: str = "rgb"
  pixel_norm: str = "channel"  # "tubelet" (image MAE), "channel" (VideoMAE) or "none"

  def __post_init__(self):
    check_choice("kind", self.kind, TARGET_KINDS)
    check_choice("pixel_norm", self.pixel_norm, NORMALISATIONS)


def check_clip_shape(sampling: Sampling, data, tubelet: tuple[int, int, int]) -> None:
  """Frames and pixels must be whole tubelets and the sampled frames must fit a clip."""
  image_size = data.image_size
  if len(tubelet) != 3 or min(tubelet) < 1:
    raise ConfigError("tubelet", tubelet, "must be three positive sizes (t, p, p)")
  if sampling.num_frames % tubelet[0]:
    raise ConfigError("sampling.num_frames", sampling.num_frames, f"not divisible by the tubelet's {tubelet[0]} frames")
  if image_size % tubelet[1] or image_size % tubelet[2]:
    raise ConfigError("data.image_size", image_size, f"not divisible by the tubelet's {tubelet[1:]} pixels")
  if data.clip_frames is not None:
    sampling.check_fits(data.clip_frames)


@dataclasses.dataclass(frozen=True)
class Pretrain(ClipStage):
  """One MAE pre-training run."""
  data: SLCData | ExternalVideoData
  sampling: Sampling
  encoder: TransformerSpec
  decoder: TransformerSpec
  masking: Masking
  targets: Targets
  schedule: Schedule
  tubelet: tuple[int, int, int] = (2, 8, 8)
  seed: int = 0
  data_threads: int = 2

  def __post_init__(self):
    check_clip_shape(self.sampling, self.data, self.tubelet)

  def num_tokens(self) -> dict[str, int]:
    n = self.grid[0] * self.grid[1] * self.grid[2]
    visible = num_visible(self.grid, self.masking.encoder_ratio)
    selected = decoder_masking.num_selected(self.masking.decoder_strategy, n, self.masking.decoder_budget, n - visible)
    return {"total": n, "visible": visible, "selected": selected}

  def build_model(self, rngs: nnx.Rngs) -> MAE:
    encoder = self.encoder.encoder(self.patch_dim, rngs)
    return MAE(encoder, self.decoder.decoder(self.encoder.width, self.patch_dim, rngs))

  def loss(self, model: MAE, batch: dict, key: jax.Array) -> tuple[jax.Array, dict]:
    """Mean squared error over tokens both encoder-masked and decoder-selected (Eq. 1)."""
    video = batch["video"]
    b, grid = video.shape[0], self.grid
    n = grid[0] * grid[1] * grid[2]
    enc_key, dec_key = jax.random.split(key)
    visible, masked = jax.vmap(lambda k: tube_mask(k, grid, self.masking.encoder_ratio))(jax.random.split(enc_key, b))
    strategy, budget = self.masking.decoder_strategy, self.masking.decoder_budget
    selected = jax.vmap(lambda k, m: decoder_masking.select(strategy, k, n, budget, masked=m))(
        jax.random.split(dec_key, b), masked)
    patches = patchify(normalise_input(video, DTYPES[self.encoder.dtype]), self.tubelet)
    predictions = model(patches, visible, selected, grid).astype(jnp.float32)
    targets = gather_tokens(pixel_targets(video, self.tubelet, self.targets.pixel_norm), selected)
    is_masked = jnp.ones((b, n), bool).at[jnp.arange(b)[:, None], visible].set(False)
    weight = jnp.take_along_axis(is_masked, selected, axis=1).astype(jnp.float32)
    per_token = jnp.mean(jnp.square(predictions - targets), axis=-1)
    loss = jnp.sum(per_token * weight) / jnp.maximum(jnp.sum(weight), 1.0)
    return loss, {"loss_tokens": jnp.sum(weight) / b}

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    del upstream  # pre-training from scratch has no upstream stage
    _, summary = self.train(self.build_model(nnx.Rngs(self.seed)), run_dir, stop_after)
    return {**summary, "tokens": self.num_tokens()}
