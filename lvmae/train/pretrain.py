"""The MAE pre-training stage: tube-masked encoder, decoder masking, pixel (Eq. 1) or token (Eq. 2) targets.

Token targets and importance scores come from precompute stages (upstream fields `tokens` and
`importance`): the frozen tokenizer's cached per-clip latents and scores, for the frames the MAE
sees from each clip's first frame (so clips are not offset at random when a cache is used).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

from lvmae.data.pipeline import SLCData, Sampling
from lvmae.data.videos import VideoData
from lvmae.masking import decoder as decoder_masking
from lvmae.masking.grid import patchify
from lvmae.masking.tube import num_visible, tube_mask
from lvmae.models.mae import MAE, gather_tokens
from lvmae.models.specs import DTYPES, TransformerSpec
from lvmae.targets.pixels import NORMALISATIONS, pixel_targets
from lvmae.tokenizer.quantizers import FSQ, LFQ
from lvmae.train.optim import Schedule
from lvmae.train.precompute import Precompute, TokenCache
from lvmae.train.sharding import Parallelism
from lvmae.train.stage import ClipStage
from lvmae.train.state import normalise_input
from lvmae.validation import ConfigError, check_choice, check_open_unit

# Token targets: the tokenizer each kind needs (quantizer, with a scorer?). MSE on its latents (Eq. 2).
TOKEN_TARGETS = {"magvit": (LFQ, False), "fsq_magvit": (FSQ, False), "adaptive_fsq_magvit": (FSQ, True)}
TARGET_KINDS = ("rgb", *TOKEN_TARGETS)


@dataclasses.dataclass(frozen=True)
class Masking:
  """Encoder tube masking and the decoder's selection strategy and token budget."""
  encoder_ratio: float = 0.9
  decoder_strategy: str = "random"
  decoder_budget: float = 0.15  # share of all tokens the decoder reconstructs (unused by "none")
  top_share: float = 2 / 3      # score-based strategies: share of the budget from the top scores

  def __post_init__(self):
    check_open_unit("encoder_ratio", self.encoder_ratio)
    if not 0.0 <= self.top_share <= 1.0:
      raise ConfigError("top_share", self.top_share, "must be in [0, 1]")
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
  data: SLCData | VideoData
  sampling: Sampling
  encoder: TransformerSpec
  decoder: TransformerSpec
  masking: Masking
  targets: Targets
  schedule: Schedule
  tubelet: tuple[int, int, int] = (2, 8, 8)
  seed: int = 0
  data_threads: int = 2
  tokens: Precompute | None = None       # token targets (upstream stage)
  importance: Precompute | None = None   # importance scores of score-based decoder strategies
  parallel: Parallelism = Parallelism()  # device mesh (data x FSDP) and multi-host start

  def __post_init__(self):
    check_clip_shape(self.sampling, self.data, self.tubelet)
    kind = self.targets.kind
    if kind in TOKEN_TARGETS:
      quantizer, adaptive = TOKEN_TARGETS[kind]
      self._check_cache("tokens", quantizer, adaptive, f"targets.kind={kind!r}")
    if self.masking.decoder_strategy in decoder_masking.SCORED:
      self._check_cache("importance", None, True, f"decoder_strategy={self.masking.decoder_strategy!r}")

  def _check_cache(self, field: str, quantizer, adaptive: bool, needed_by: str) -> None:
    """The precompute stage in `field` exists, tokenizes this stage's clips and suits its use."""
    cache = getattr(self, field)
    scorer = "an adaptive (scored) tokenizer" if adaptive else "a tokenizer without scorer"
    kind = f"a {quantizer.__name__} " if quantizer else ""
    if cache is None:
      raise ConfigError(field, None, f"{needed_by} needs a precompute stage of {kind}{scorer} (e.g. @tokens_...)")
    tokenizer = cache.tokenizer
    if (quantizer and not isinstance(tokenizer.quantizer, quantizer)) or (tokenizer.adaptive is not None) != adaptive:
      raise ConfigError(field, type(tokenizer.quantizer).__name__, f"{needed_by} needs {kind}{scorer}")
    if cache.data != self.data or (cache.sampling.num_frames, cache.sampling.stride) != (
        self.sampling.num_frames, self.sampling.stride):
      raise ConfigError(f"{field}.data", cache.data, "the precompute stage must read this stage's data and frames")
    if cache.grid != self.grid:
      raise ConfigError(f"{field}.tokenizer.autoencoder", cache.grid, f"latent grid differs from the token grid {self.grid}")

  @property
  def batch_keys(self) -> tuple[str, ...]:
    keys = ("video",)
    if self.targets.kind in TOKEN_TARGETS:
      keys += ("latents",)
    if self.masking.decoder_strategy in decoder_masking.SCORED:
      keys += ("scores",)
    return keys

  @property
  def target_dim(self) -> int:
    return self.patch_dim if self.targets.kind == "rgb" else self.tokens.tokenizer.quantizer.dim

  def num_tokens(self) -> dict[str, int]:
    n = self.grid[0] * self.grid[1] * self.grid[2]
    visible = num_visible(self.grid, self.masking.encoder_ratio)
    selected = decoder_masking.num_selected(self.masking.decoder_strategy, n, self.masking.decoder_budget, n - visible)
    return {"total": n, "visible": visible, "selected": selected}

  def build_model(self, rngs: nnx.Rngs) -> MAE:
    encoder = self.encoder.encoder(self.patch_dim, rngs)
    return MAE(encoder, self.decoder.decoder(self.encoder.width, self.target_dim, rngs))

  def loss(self, model: MAE, batch: dict, key: jax.Array) -> tuple[jax.Array, dict]:
    """Mean squared error over tokens both encoder-masked and decoder-selected (Eq. 1 / Eq. 2)."""
    video = batch["video"]
    b, grid = video.shape[0], self.grid
    n = grid[0] * grid[1] * grid[2]
    enc_key, dec_key = jax.random.split(key)
    visible, masked = jax.vmap(lambda k: tube_mask(k, grid, self.masking.encoder_ratio))(jax.random.split(enc_key, b))
    strategy, budget = self.masking.decoder_strategy, self.masking.decoder_budget
    dec_keys = jax.random.split(dec_key, b)
    if strategy in decoder_masking.SCORED:
      selected = jax.vmap(lambda k, m, s: decoder_masking.select(
          strategy, k, n, budget, masked=m, scores=s, top_share=self.masking.top_share))(dec_keys, masked, batch["scores"])
    else:
      selected = jax.vmap(lambda k, m: decoder_masking.select(strategy, k, n, budget, masked=m))(dec_keys, masked)
    patches = patchify(normalise_input(video, DTYPES[self.encoder.dtype]), self.tubelet)
    predictions = model(patches, visible, selected, grid).astype(jnp.float32)
    if self.targets.kind == "rgb":
      all_targets = pixel_targets(video, self.tubelet, self.targets.pixel_norm)
    else:
      all_targets = batch["latents"].astype(jnp.float32).reshape(b, n, -1)  # (t, h, w) row-major
    targets = gather_tokens(all_targets, selected)
    is_masked = jnp.ones((b, n), bool).at[jnp.arange(b)[:, None], visible].set(False)
    weight = jnp.take_along_axis(is_masked, selected, axis=1).astype(jnp.float32)
    per_token = jnp.mean(jnp.square(predictions - targets), axis=-1)
    loss = jnp.sum(per_token * weight) / jnp.maximum(jnp.sum(weight), 1.0)
    return loss, {"loss_tokens": jnp.sum(weight) / b}

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    cached = {name: upstream[name] for name in ("tokens", "importance") if name in upstream}
    source = self.data.source("train", fixed_view=bool(cached))
    if cached:
      source = TokenCache(source, latents_dir=cached.get("tokens"), scores_dir=cached.get("importance"))
    _, summary = self.train(self.build_model(nnx.Rngs(self.seed)), run_dir, stop_after, source=source,
                            random_offset=not cached)
    return {**summary, "tokens": self.num_tokens()}
