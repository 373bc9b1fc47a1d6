"""The MAE pre-training stage: tube-masked encoder, decoder masking, pixel (Eq. 1) or token (Eq. 2) targets.

The decoder strategy (lvmae.masking: `masking.strategy`) says where its scores come from and
what it needs; this stage asks it and never switches on its name. Token targets and cached
importance scores come from upstream stages (fields `tokens` and `importance`): the frozen
tokenizer's cached per-clip latents, and the scores of a strategy whose source is cached (a
precompute stage of a scored tokenizer, or a FlowScores stage), for the frames the MAE sees from
each clip's first frame (so clips are not offset at random when a cache is used). Other sources
score in the step (from the patches, or SLC's event masks in the batch).
On SLC every step also measures the decoder selection's recall of event tokens
(`selection_recall`, logged; its mean over the logged steps goes in the run's result).
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
from flax import nnx

from lvmae.data.pipeline import SLCData, Sampling
from lvmae.data.videos import VideoData
from lvmae.masking.config import Masking
from lvmae.masking.events import event_token_ids, event_tokens, selection_recall
from lvmae.masking.grid import patchify
from lvmae.masking.strategies.base import Strategy
from lvmae.masking.tube import num_visible, tube_mask
from lvmae.models.mae import MAE, gather_tokens
from lvmae.models.specs import DTYPES, TransformerSpec
from lvmae.targets.pixels import NORMALISATIONS, pixel_targets
from lvmae.tokenizer.quantizers import FSQ, LFQ
from lvmae.train.flow_scores import FlowScores
from lvmae.train import loop
from lvmae.train.optim import Schedule
from lvmae.train.precompute import Precompute, TokenCache
from lvmae.train.sharding import Parallelism
from lvmae.train.stage import ClipStage, check_clip_shape
from lvmae.train.state import normalise_input
from lvmae.validation import ConfigError, PositiveInt, Seed, Shape3, check_choice, check_fields

# Token targets: the tokenizer each kind needs (quantizer, with a scorer?). MSE on its latents (Eq. 2).
TOKEN_TARGETS = {"magvit": (LFQ, False), "fsq_magvit": (FSQ, False), "adaptive_fsq_magvit": (FSQ, True)}
TARGET_KINDS = ("rgb", *TOKEN_TARGETS)
# The kinds of upstream stage a cached score source reads (ScoreSource.importance) -> their class.
IMPORTANCE_STAGES = {"precompute": Precompute, "flow_scores": FlowScores}


@dataclasses.dataclass(frozen=True)
class Targets:
  """What the decoder reconstructs."""
  kind: str = "rgb"
  pixel_norm: str = "channel"  # "tubelet" (image MAE), "channel" (VideoMAE) or "none"

  def __post_init__(self):
    check_fields(self)
    check_choice("kind", self.kind, TARGET_KINDS)
    check_choice("pixel_norm", self.pixel_norm, NORMALISATIONS)


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
  tubelet: Shape3 = (2, 8, 8)
  seed: Seed = 0
  data_threads: PositiveInt = 2
  tokens: Precompute | None = None       # token targets (upstream stage)
  importance: Precompute | FlowScores | None = None  # cached scores of the decoder strategy (its source's stage)
  parallel: Parallelism = Parallelism()  # device mesh (data x FSDP) and multi-host start

  def __post_init__(self):
    check_fields(self)
    check_clip_shape(self.sampling, self.data, self.tubelet)
    kind, strategy = self.targets.kind, self.masking.strategy
    if kind in TOKEN_TARGETS:
      quantizer, adaptive = TOKEN_TARGETS[kind]
      self._check_cache("tokens", quantizer, adaptive, f"targets.kind={kind!r}")
    if strategy.needs_importance:
      self._check_importance(strategy)
    n = self.grid[0] * self.grid[1] * self.grid[2]
    strategy.validate(self.masking, grid=self.grid, num_masked=n - num_visible(self.grid, self.masking.encoder_ratio),
                      has_events=isinstance(self.data, SLCData), data_name=type(self.data).__name__)

  def _check_importance(self, strategy: Strategy) -> None:
    """The `importance` stage is the kind the strategy's cached scores come from, of this stage's clips."""
    source, needed_by = strategy.source, f"decoder_strategy={strategy.name!r}"
    stage = IMPORTANCE_STAGES[source.importance]
    if stage is Precompute:
      self._check_cache("importance", None, source.scored_tokenizer, needed_by)
      return
    if not isinstance(self.importance, stage):
      raise ConfigError("importance", type(self.importance).__name__,
                        f"{needed_by} needs a {stage.__name__} stage (e.g. @{source.importance})")
    self._check_same_clips("importance", self.importance, self.importance.grid)

  def _check_cache(self, field: str, quantizer, adaptive: bool, needed_by: str) -> None:
    """The precompute stage in `field` exists, tokenizes this stage's clips and suits its use."""
    cache = getattr(self, field)
    scorer = "an adaptive (scored) tokenizer" if adaptive else "a tokenizer without scorer"
    kind = f"a {quantizer.__name__} " if quantizer else ""
    if not isinstance(cache, Precompute):
      raise ConfigError(field, None if cache is None else type(cache).__name__,
                        f"{needed_by} needs a precompute stage of {kind}{scorer} (e.g. @tokens_...)")
    tokenizer = cache.tokenizer
    if (quantizer and not isinstance(tokenizer.quantizer, quantizer)) or (tokenizer.adaptive is not None) != adaptive:
      raise ConfigError(field, type(tokenizer.quantizer).__name__, f"{needed_by} needs {kind}{scorer}")
    self._check_same_clips(field, cache, cache.grid, ".tokenizer.autoencoder")

  def _check_same_clips(self, field: str, cache, grid, grid_field: str = ".tubelet") -> None:
    """A cache stage reads this stage's data and frames, on its token grid."""
    if cache.data != self.data or (cache.sampling.num_frames, cache.sampling.stride) != (
        self.sampling.num_frames, self.sampling.stride):
      raise ConfigError(f"{field}.data", cache.data, "the precompute stage must read this stage's data and frames")
    if grid != self.grid:
      raise ConfigError(f"{field}{grid_field}", grid, f"latent grid differs from the token grid {self.grid}")

  @property
  def batch_keys(self) -> tuple[str, ...]:
    keys = ("video",)
    if self.targets.kind in TOKEN_TARGETS:
      keys += ("latents",)
    keys += self.masking.strategy.batch_keys  # its scores' batch entries (cached `scores`, SLC's `info`)
    if isinstance(self.data, SLCData) and "info" not in keys:  # event masks: the selection recall
      keys += ("info",)
    return keys

  @property
  def target_dim(self) -> int:
    return self.patch_dim if self.targets.kind == "rgb" else self.tokens.tokenizer.quantizer.dim

  def num_tokens(self) -> dict[str, int]:
    n = self.grid[0] * self.grid[1] * self.grid[2]
    visible = num_visible(self.grid, self.masking.encoder_ratio)
    selected = self.masking.strategy.count(n, self.masking.decoder_budget, n - visible, grid=self.grid,
                                           **self.masking.options())
    return {"total": n, "visible": visible, "selected": selected}

  def build_model(self, rngs: nnx.Rngs) -> MAE:
    encoder = self.encoder.encoder(self.patch_dim, rngs)
    return MAE(encoder, self.decoder.decoder(self.encoder.width, self.target_dim, rngs))

  def scores(self, model: MAE, batch: dict, patches: jax.Array, key: jax.Array) -> jax.Array | None:
    """(B, N) per-token scores of a score-based strategy (from its source), None for the others."""
    return self.masking.strategy.scores(key, batch, patches, grid=self.grid,
                                        embed=lambda x: model.encoder.embed(x))

  def loss(self, model: MAE, batch: dict, key: jax.Array) -> tuple[jax.Array, dict]:
    """Mean squared error over tokens both encoder-masked and decoder-selected (Eq. 1 / Eq. 2)."""
    video = batch["video"]
    b, grid = video.shape[0], self.grid
    n = grid[0] * grid[1] * grid[2]
    enc_key, dec_key = jax.random.split(key)
    visible, masked = jax.vmap(lambda k: tube_mask(k, grid, self.masking.encoder_ratio))(jax.random.split(enc_key, b))
    patches = patchify(normalise_input(video, DTYPES[self.encoder.dtype]), self.tubelet)
    strategy, budget, options = self.masking.strategy, self.masking.decoder_budget, self.masking.options()
    scores = self.scores(model, batch, patches, jax.random.fold_in(dec_key, 1))
    selected = jax.vmap(lambda k, m, s: strategy.select(k, n, budget, masked=m, scores=s, grid=grid, **options))(
            jax.random.split(dec_key, b), masked, scores if scores is not None else jnp.zeros((b, 0)))
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
    metrics = {"loss_tokens": jnp.sum(weight) / b}
    if "info" in batch:
      chosen = jnp.zeros((b, n), bool).at[jnp.arange(b)[:, None], selected].set(True)
      metrics["selection_recall"] = selection_recall(chosen, event_tokens(batch["info"], grid))
      ids = event_token_ids(batch["info"], grid)
      metrics.update(token_type_losses(per_token, targets, weight, token_types(ids, visible, selected)))
    return loss, metrics

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    cached = {name: upstream[name] for name in ("tokens", "importance") if name in upstream}
    source = self.data.source("train", fixed_view=bool(cached))
    if cached:
      source = TokenCache(source, latents_dir=cached.get("tokens"), scores_dir=cached.get("importance"))
    _, summary = self.train(self.build_model(nnx.Rngs(self.seed)), run_dir, stop_after, source=source,
                            random_offset=not cached)
    summary = {**summary, "tokens": self.num_tokens()}
    log = Path(run_dir) / loop.METRICS
    recall = loop.logged_mean(log, "selection_recall")
    if recall is None:
      return summary
    # Each token type's loss and trivial level over the last quarter of the logged steps.
    by_type = {name: {value: loop.logged_mean(log, f"{value}_{name}", last_share=0.25)
                      for value in ("loss", "trivial")} for name in TOKEN_TYPES}
    return {**summary, "selection_recall": recall, "token_losses": by_type}


# The loss's token types on SLC (a token is encoder-masked and decoder-selected):
#   event_seen    an event token whose event has a token the encoder sees (predictable in part);
#   event_hidden  an event token whose event is wholly hidden from the encoder;
#   background    every other token (background and distractors).
TOKEN_TYPES = ("event_seen", "event_hidden", "background")


def token_loss_curves(run_dir: Path) -> dict[str, tuple[list, list, list]]:
  """A pre-training run's logged (steps, losses, trivial levels) of each token type (types the
  run never logged are left out; steps whose batch had none of a type are skipped; empty for a
  run without a metrics log)."""
  path = Path(run_dir) / loop.METRICS
  if not path.exists():
    return {}
  records = [json.loads(line) for line in path.read_text().splitlines() if line]
  curves = {}
  for name in TOKEN_TYPES:
    rows = [(r["step"], r[f"loss_{name}"], r[f"trivial_{name}"]) for r in records
            if f"loss_{name}" in r and math.isfinite(r[f"loss_{name}"])]
    if rows:
      curves[name] = tuple(list(column) for column in zip(*rows))
  return curves


def token_types(ids: jax.Array, visible: jax.Array, selected: jax.Array) -> dict[str, jax.Array]:
  """(B, K) masks of each token type among the selected tokens, from (B, N) per-token event ids
  (0: none, < 256), the (B, V) visible and the (B, K) selected token indices."""
  b = ids.shape[0]
  rows = jnp.arange(b)[:, None]
  seen = jnp.zeros((b, 256), bool).at[rows, jnp.take_along_axis(ids, visible, axis=1)].set(True)
  selected_ids = jnp.take_along_axis(ids, selected, axis=1)
  event_seen = jnp.take_along_axis(seen, selected_ids, axis=1)
  is_event = selected_ids > 0
  return {"event_seen": is_event & event_seen, "event_hidden": is_event & ~event_seen,
          "background": ~is_event}


def token_type_losses(per_token: jax.Array, targets: jax.Array, weight: jax.Array,
                      types: dict[str, jax.Array]) -> dict[str, jax.Array]:
  """For each token type: the loss over its weighted (B, K) tokens (`loss_<type>`), its trivial
  level, the loss of predicting the mean target of those tokens (`trivial_<type>`), and its
  token count per clip (`count_<type>`). NaN for a type the batch does not have."""
  out = {}
  for name, mask in types.items():
    w = weight * mask.astype(jnp.float32)
    count = jnp.sum(w)
    safe = jnp.maximum(count, 1.0)
    mean_target = jnp.sum(targets * w[..., None], axis=(0, 1)) / safe
    trivial = jnp.sum(jnp.mean(jnp.square(targets - mean_target), axis=-1) * w) / safe
    out[f"loss_{name}"] = jnp.where(count > 0, jnp.sum(per_token * w) / safe, jnp.nan)
    out[f"trivial_{name}"] = jnp.where(count > 0, trivial, jnp.nan)
    out[f"count_{name}"] = count / per_token.shape[0]
  return out

