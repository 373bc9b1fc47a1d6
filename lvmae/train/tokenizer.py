"""The tokenizer training stage: (adaptive) FSQ-MagViT on short clips, then its quality metrics.

Losses: L1 or L2 reconstruction + the quantizer's auxiliary loss (LFQ's entropy penalty) + an
optional perceptual loss (only from a user-supplied feature-network file) + an optional hinge GAN
with a 3D discriminator that switches on at `losses.gan_start`. Pixels are scaled to [-1, 1].
Metrics on `num_eval` clips of the eval split: PSNR, codebook usage and perplexity, for the
adaptive tokenizer on SLC the recall of event tokens among the top `recall_budget` scores, and
the Frechet distance of clip features (FVD's formula) when `fvd_file` names a feature network.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lvmae.data.pipeline import SLCData, Sampling, fixed_views, train_iterator
from lvmae.data.videos import VideoData
from lvmae.masking.events import event_tokens, topk_mask
from lvmae.masking.grid import patchify
from lvmae.tokenizer import losses as losses_lib
from lvmae.tokenizer import metrics
from lvmae.tokenizer.magvit import MagvitSpec
from lvmae.tokenizer.model import Adaptive, VideoTokenizer, check_quantizer
from lvmae.tokenizer.quantizers import FSQ, LFQ
from lvmae.tokenizer.scorer import selection_scores
from lvmae.train import loop
from lvmae.train.checkpoint import Checkpointer
from lvmae.train.optim import Schedule
from lvmae.validation import (ConfigError, NonNegativeFloat, NonNegativeInt, OpenUnit, PositiveInt, Seed,
                              check_choice, check_fields)


def to_signed_unit(video: jax.Array) -> jax.Array:
  """uint8 -> float32 in [-1, 1]."""
  return video.astype(jnp.float32) / 127.5 - 1.0


@dataclasses.dataclass(frozen=True)
class TokenizerLosses:
  """Loss terms and weights. The GAN is off when gan_weight is 0; perceptual when no file is set."""
  reconstruction: str = "l2"
  gan_weight: NonNegativeFloat = 0.0
  gan_start: NonNegativeInt = 0       # step at which the GAN terms switch on
  discriminator_channels: PositiveInt = 16
  discriminator_layers: PositiveInt = 2
  perceptual_file: str = ""           # an .npz feature network (lvmae.tokenizer.losses.FeatureNetwork)
  perceptual_weight: NonNegativeFloat = 0.1

  def __post_init__(self):
    check_fields(self)
    check_choice("reconstruction", self.reconstruction, losses_lib.RECON_KINDS)
    if self.perceptual_file and not Path(self.perceptual_file).is_file():
      raise ConfigError("perceptual_file", self.perceptual_file, "no such file")


@dataclasses.dataclass(frozen=True)
class Tokenizer:
  """One tokenizer training run (a stage: its run directory holds the frozen tokenizer)."""
  data: SLCData | VideoData
  sampling: Sampling
  autoencoder: MagvitSpec
  quantizer: FSQ | LFQ
  schedule: Schedule
  adaptive: Adaptive | None = None
  losses: TokenizerLosses = TokenizerLosses()
  num_eval: PositiveInt = 256
  eval_batch_size: PositiveInt = 16
  recall_budget: OpenUnit = 0.15
  fvd_file: str = ""  # .npz feature network for the Frechet distance; empty: not computed
  seed: Seed = 0
  data_threads: PositiveInt = 2

  def __post_init__(self):
    check_fields(self)
    check_quantizer(self.autoencoder, self.quantizer)
    if self.fvd_file and not Path(self.fvd_file).is_file():
      raise ConfigError("fvd_file", self.fvd_file, "no such file")
    self.autoencoder.clip_grid(self.sampling.num_frames, self.data.image_size)  # validates
    if self.data.clip_frames is not None:
      self.sampling.check_fits(self.data.clip_frames)

  @property
  def grid(self) -> tuple[int, int, int]:
    return self.autoencoder.clip_grid(self.sampling.num_frames, self.data.image_size)

  def build_model(self, rngs: nnx.Rngs) -> VideoTokenizer:
    return VideoTokenizer(self.autoencoder, self.quantizer, self.adaptive, rngs=rngs)

  def build_discriminator(self, rngs: nnx.Rngs) -> nnx.Module | None:
    if self.losses.gan_weight == 0:
      return None
    return losses_lib.Discriminator3D(3, self.losses.discriminator_channels, self.losses.discriminator_layers,
                                      dtype=jnp.dtype(self.autoencoder.dtype), rngs=rngs)

  def _perceptual(self):
    if not self.losses.perceptual_file:
      return None
    return losses_lib.FeatureNetwork.load(self.losses.perceptual_file)

  def generator_loss(self, model: VideoTokenizer, discriminator, perceptual, video: jax.Array,
                     key: jax.Array, step: jax.Array) -> tuple[jax.Array, dict]:
    x = to_signed_unit(video)
    out = model(x, key)
    recon = out["recon"]
    terms = {"reconstruction": losses_lib.reconstruction_loss(self.losses.reconstruction, recon, x),
             "quantizer": model.quantizer.aux_loss(out["z"])}
    if perceptual is not None:
      terms["perceptual"] = self.losses.perceptual_weight * losses_lib.perceptual_loss(
          perceptual, (recon + 1) / 2, (x + 1) / 2)
    if discriminator is not None:
      weight = losses_lib.gan_weight(step, self.losses.gan_start, self.losses.gan_weight)
      terms["generator"] = weight * losses_lib.generator_hinge_loss(discriminator(recon))
    return sum(terms.values()), {**terms, "recon": recon}

  def make_step(self, graphdefs: dict, txs: dict, perceptual):
    """step(state, batch, key) -> (state, metrics): one tokenizer update, then one discriminator update."""

    @functools.partial(jax.jit, donate_argnums=0)
    def step(state: dict, batch: dict, key: jax.Array) -> tuple[dict, dict]:
      params, opt_state, count = state["params"], state["opt_state"], state["step"]
      gan = "discriminator" in params
      disc = nnx.merge(graphdefs["discriminator"], params["discriminator"]) if gan else None

      def objective(p):
        return self.generator_loss(nnx.merge(graphdefs["tokenizer"], p), disc, perceptual, batch["video"], key, count)

      (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(params["tokenizer"])
      recon = aux.pop("recon")
      updates, new_opt = txs["tokenizer"].update(grads, opt_state["tokenizer"], params["tokenizer"])
      new_params = {"tokenizer": optax.apply_updates(params["tokenizer"], updates)}
      new_opt_state = {"tokenizer": new_opt}
      metrics_ = {"loss": loss, "grad_norm": optax.tree.norm(grads), **aux}
      if gan:
        real = to_signed_unit(batch["video"])
        fake = jax.lax.stop_gradient(recon)

        def disc_objective(p):
          d = nnx.merge(graphdefs["discriminator"], p)
          weight = losses_lib.gan_weight(count, self.losses.gan_start, 1.0)
          return weight * losses_lib.discriminator_hinge_loss(d(real), d(fake))

        d_loss, d_grads = jax.value_and_grad(disc_objective)(params["discriminator"])
        d_updates, d_opt = txs["discriminator"].update(d_grads, opt_state["discriminator"], params["discriminator"])
        new_params["discriminator"] = optax.apply_updates(params["discriminator"], d_updates)
        new_opt_state["discriminator"] = d_opt
        metrics_["discriminator"] = d_loss
      return {"params": new_params, "opt_state": new_opt_state, "step": count + 1}, metrics_

    return step

  def build_modules(self, rngs: nnx.Rngs) -> dict[str, nnx.Module]:
    modules = {"tokenizer": self.build_model(rngs)}
    discriminator = self.build_discriminator(rngs)
    if discriminator is not None:
      modules["discriminator"] = discriminator
    return modules

  def _split(self, modules: dict[str, nnx.Module]) -> tuple[dict, dict, dict]:
    """Graph definitions, parameters and one optimiser per module."""
    graphdefs, params, txs = {}, {}, {}
    for name, module in modules.items():
      graphdefs[name], params[name] = nnx.split(module, nnx.Param)
      txs[name] = self.schedule.optimizer()
    return graphdefs, params, txs

  @staticmethod
  def _state(params: dict, txs: dict) -> dict:
    return {"params": params, "opt_state": {name: txs[name].init(p) for name, p in params.items()},
            "step": jnp.zeros((), jnp.int32)}

  def init_state(self, modules: dict[str, nnx.Module]) -> tuple[dict, dict, dict]:
    """Graph definitions, optimisers and the train state {params, opt_state, step} of `modules`."""
    graphdefs, params, txs = self._split(modules)
    return graphdefs, txs, self._state(params, txs)

  def abstract_state(self) -> tuple[dict, dict, dict]:
    """`init_state` from shapes alone: nothing is allocated."""
    graphdefs, params, txs = self._split(nnx.eval_shape(lambda: self.build_modules(nnx.Rngs(self.seed))))
    return graphdefs, txs, jax.eval_shape(lambda p: self._state(p, txs), params)

  def lower_train_step(self) -> jax.stages.Lowered:
    """The train step lowered from shapes alone (any size, nothing allocated)."""
    graphdefs, txs, state = self.abstract_state()
    b, s = self.schedule.batch_size, self.data.image_size
    batch = {"video": jax.ShapeDtypeStruct((b, self.sampling.num_frames, s, s, 3), jnp.uint8)}
    return self.make_step(graphdefs, txs, self._perceptual()).lower(
        state, batch, jax.eval_shape(lambda: jax.random.key(0)))

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    del upstream  # the tokenizer is trained from scratch
    graphdefs, txs, state = self.init_state(self.build_modules(nnx.Rngs(self.seed)))
    batches = train_iterator(self.data.source("train"), self.sampling, batch_size=self.schedule.batch_size,
                             seed=self.seed, keys=("video",), num_threads=self.data_threads,
                             spatial=self.data.spatial("train"))
    state, summary = loop.fit(run_dir=run_dir, state=state, step_fn=self.make_step(graphdefs, txs, self._perceptual()),
                              batches=batches, schedule=self.schedule, seed=self.seed,
                              desc=f"tokenizer {Path(run_dir).name}", stop_after=stop_after)
    if not summary["finished"]:
      return summary
    model = nnx.merge(graphdefs["tokenizer"], state["params"]["tokenizer"])
    untrained = self.build_model(nnx.Rngs(self.seed)) if self.adaptive is not None else None
    return {**summary, **self.evaluate(model, untrained)}

  def eval_clips(self):
    """Yields (video (B, T, H, W, 3) uint8, info (B, T, H, W) bool or None) from the eval split's start."""
    source, crop = self.data.source("eval"), self.data.spatial("fixed")
    count = min(self.num_eval, len(source))
    for begin in range(0, count, self.eval_batch_size):
      views = fixed_views(source, range(begin, min(count, begin + self.eval_batch_size)), self.sampling, crop)
      valid = views["valid"]  # unreadable clips are left out
      yield views["video"][valid], views["info"][valid] if "info" in views else None

  def evaluate(self, model: VideoTokenizer, untrained: VideoTokenizer | None = None) -> dict:
    """PSNR, codebook usage/perplexity and, for the adaptive tokenizer on SLC, event-token recall.

    Recall is that of the MAE's decoder selection (`selection_scores`) at `recall_budget`, for the
    trained scorer and two references: the scorer at its initialisation (`untrained`, when given)
    and the same rule on raw tubelet pixels. Random selection's expected recall is the budget.
    """
    forward = nnx.jit(lambda m, v, k: _eval_outputs(m, to_signed_unit(v), k))
    scorer_features = nnx.jit(lambda s, v: s.features(to_signed_unit(v)))
    fvd_net = losses_lib.FeatureNetwork.load(self.fvd_file) if self.fvd_file else None
    psnrs, indices, features, count = [], [], {"real": [], "recon": []}, 0
    hits, events_total = collections.Counter(), 0
    ft, fs = self.autoencoder.factors
    for video, info in self.eval_clips():
      out = jax.device_get(forward(model, video, jax.random.key(count)))
      target = video.astype(np.float32) / 255.0
      recon01 = np.clip((out["recon"] + 1) / 2, 0, 1)
      psnrs.append(metrics.psnr(recon01, target) * len(video))
      if fvd_net is not None:
        for name, clips in (("real", target), ("recon", recon01)):
          features[name].append(_clip_features(fvd_net, clips))
      indices.append(out["all_indices"].reshape(-1))
      if "score_features" in out and info is not None:
        events = np.stack([event_tokens(i, self.grid) for i in info])
        candidates = {"event_recall": out["score_features"],
                      "event_recall_pixels": _tubelet_pixels(target, self.grid, (ft, fs, fs))}
        if untrained is not None:
          candidates["event_recall_untrained"] = np.asarray(scorer_features(untrained.scorer, video))
        for name, feats in candidates.items():
          hits[name] += int(np.count_nonzero(topk_mask(selection_scores(feats), self.recall_budget) & events))
        events_total += int(np.count_nonzero(events))
      count += len(video)
    indices = np.concatenate(indices)
    result = {"psnr": float(np.sum(psnrs) / count), "num_eval": count,
              "codebook_size": self.quantizer.codebook_size,
              "codebook_usage": metrics.codebook_usage(indices, self.quantizer.codebook_size),
              "codebook_perplexity": metrics.codebook_perplexity(indices, self.quantizer.codebook_size)}
    if fvd_net is not None:
      real, fake = (losses_lib.feature_statistics(np.concatenate(features[k])) for k in ("real", "recon"))
      result["fvd"] = losses_lib.frechet_distance(*real, *fake)
    if events_total:
      result.update({name: h / events_total for name, h in hits.items()})
      result.update(recall_budget=self.recall_budget, event_tokens=events_total)
    return result


def _eval_outputs(model: VideoTokenizer, x: jax.Array, key: jax.Array) -> dict:
  """The training-mode reconstruction, every token's code and (adaptive) the scorer's features."""
  out = model(x, key)
  result = {"recon": out["recon"], "all_indices": out["all_indices"]}
  if model.scorer is not None:
    result["score_features"] = model.scorer.features(x)
  return result


def _tubelet_pixels(video: np.ndarray, grid, tubelet) -> np.ndarray:
  """(B, T, H, W, 3) -> (B, t, h, w, ft*fs*fs*3): each token's raw pixels as its feature."""
  b = video.shape[0]
  return np.asarray(patchify(video, tubelet)).reshape(b, *grid, -1)


def _clip_features(net: losses_lib.FeatureNetwork, clips: np.ndarray) -> np.ndarray:
  """(B, T, H, W, 3) in [0, 1] -> (B, C): the network's last feature map averaged over frames and space."""
  last = np.asarray(net.features(clips)[-1])
  return last.reshape(clips.shape[0], -1, last.shape[-1]).mean(axis=1)


def load_tokenizer(stage: Tokenizer, run_dir: Path) -> VideoTokenizer:
  """The frozen tokenizer of a finished tokenizer run (its final checkpoint)."""
  graphdefs, _, like = stage.abstract_state()
  checkpointer = Checkpointer(Path(run_dir) / "checkpoints")
  restored = checkpointer.restore(like, step=stage.schedule.steps)
  checkpointer.close()
  if restored is None:
    raise FileNotFoundError(f"no final checkpoint in {run_dir}/checkpoints")
  return nnx.merge(graphdefs["tokenizer"], restored[1]["params"]["tokenizer"])
