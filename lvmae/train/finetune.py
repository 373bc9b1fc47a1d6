"""The fine-tuning stage: a classifier on the pre-trained encoder, then evaluation."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lvmae.data.pipeline import SLCData, Sampling, eval_batches
from lvmae.data.videos import VideoData
from lvmae.masking.grid import patchify
from lvmae.models.mae import gather_tokens
from lvmae.models.specs import DTYPES, TransformerSpec
from lvmae.models.vit import POOLING_NORMS
from lvmae.train.checkpoint import restore_pretrained_encoder
from lvmae.train.evaluate import PREDICTIONS, evaluate, split_heads, write_predictions
from lvmae.train.mixing import mix_batch
from lvmae.train.optim import Schedule
from lvmae.train.pretrain import Pretrain
from lvmae.train.sharding import Parallelism
from lvmae.train.stage import ClipStage, check_clip_shape
from lvmae.train.state import normalise_input
from lvmae.validation import (ConfigError, HalfOpenUnit, NonNegativeFloat, PositiveInt, Seed, Shape3,
                              UnitInterval, check_choice, check_fields)


@dataclasses.dataclass(frozen=True)
class Finetune(ClipStage):
  """Supervised fine-tuning (from a pre-trained encoder when `pretrained` is set) and evaluation."""
  data: SLCData | VideoData
  sampling: Sampling
  encoder: TransformerSpec
  schedule: Schedule
  pretrained: Pretrain | None = None
  tubelet: Shape3 = (2, 8, 8)
  token_drop: HalfOpenUnit = 0.0        # share of encoder tokens dropped at random while training
  label_smoothing: HalfOpenUnit = 0.0
  eval_batch_size: PositiveInt = 32
  seed: Seed = 0
  data_threads: PositiveInt = 2
  parallel: Parallelism = Parallelism()  # device mesh (data x FSDP) and multi-host start
  mixup_alpha: NonNegativeFloat = 0.0       # Mixup / CutMix on the device (0: off); every head mixed alike
  cutmix_alpha: NonNegativeFloat = 0.0
  mix_switch_prob: UnitInterval = 0.5   # with both on: the chance of CutMix over Mixup
  # Where the classifier normalises (lvmae.models.vit.VideoClassifier): "after_pool" is VideoMAE's
  # fc_norm (mean of the last block's tokens, then LayerNorm); "per_token" applies the encoder's
  # final LayerNorm to every token before the mean (and a LayerNorm after it).
  pooling_norm: str = "after_pool"

  batch_keys = ("video", "label")

  def __post_init__(self):
    check_fields(self)
    check_clip_shape(self.sampling, self.data, self.tubelet)
    check_choice("pooling_norm", self.pooling_norm, POOLING_NORMS)
    if self.pretrained is not None:
      if self.pretrained.encoder != self.encoder:
        raise ConfigError("encoder", self.encoder, f"differs from pretrained.encoder={self.pretrained.encoder}")
      if tuple(self.pretrained.tubelet) != tuple(self.tubelet):
        raise ConfigError("tubelet", self.tubelet, f"differs from pretrained.tubelet={self.pretrained.tubelet}")

  def build_model(self, rngs: nnx.Rngs):
    return self.encoder.classifier(self.patch_dim, self.data.num_classes, rngs, pooling_norm=self.pooling_norm)

  def loss(self, model, batch: dict, key: jax.Array) -> tuple[jax.Array, dict]:
    video, heads = batch["video"], self.data.heads
    b, grid = video.shape[0], self.grid
    labels = batch["label"].reshape(b, -1)  # (B, heads)
    n = grid[0] * grid[1] * grid[2]
    keep = n - int(round(n * self.token_drop))
    x = normalise_input(video, DTYPES[self.encoder.dtype])
    targets = tuple(optax.smooth_labels(jax.nn.one_hot(labels[:, h], c), self.label_smoothing)
                    for h, c in enumerate(heads))
    if self.mixup_alpha > 0 or self.cutmix_alpha > 0:
      x, targets = mix_batch(jax.random.fold_in(key, 1), x, targets, mixup_alpha=self.mixup_alpha,
                             cutmix_alpha=self.cutmix_alpha, switch_prob=self.mix_switch_prob)
    patches = patchify(x, self.tubelet)
    if keep < n:  # token drop: a fixed-size random subset of tokens per clip
      positions = jax.vmap(lambda k: jnp.sort(jax.random.permutation(k, n)[:keep]))(jax.random.split(key, b))
      patches = gather_tokens(patches, positions)
    else:
      positions = jnp.broadcast_to(jnp.arange(n), (b, n))
    logits = model(patches, positions.astype(jnp.int32), grid).astype(jnp.float32)
    per_head = split_heads(logits, heads)
    loss = sum(optax.softmax_cross_entropy(l, t).mean() for l, t in zip(per_head, targets))
    correct = jnp.stack([jnp.argmax(l, -1) == labels[:, h] for h, l in enumerate(per_head)], -1)
    metrics = {"accuracy": jnp.mean(jnp.all(correct, -1))}
    if len(heads) > 1:
      metrics.update({f"accuracy_{name}": jnp.mean(correct[:, h]) for h, name in enumerate(self.data.head_names)})
    return loss, metrics

  def load_pretrained_encoder(self, model, pretrained_dir: Path) -> None:
    """Copies the encoder weights of the pre-training run's final checkpoint into `model`."""
    restore_pretrained_encoder(model.encoder, self.pretrained, pretrained_dir)

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    model = self.build_model(nnx.Rngs(self.seed))
    if self.pretrained is not None:
      self.load_pretrained_encoder(model, upstream["pretrained"])
    model, summary = self.train(model, run_dir, stop_after)
    if not summary["finished"]:
      return summary
    source = self.data.source("eval")
    batches = eval_batches(source, self.sampling, batch_size=self.eval_batch_size,
                           num_threads=self.data_threads, crops=self.data.spatial("eval"))
    predictions = evaluate(model, batches, tubelet=self.tubelet, grid=self.grid, heads=self.data.heads,
                           batch_size=self.eval_batch_size, dtype=DTYPES[self.encoder.dtype])
    write_predictions(Path(run_dir) / PREDICTIONS, predictions)
    correct = (predictions["prediction"] == predictions["label"]).reshape(len(predictions["label"]), -1)
    result = {**summary, "top1": float(correct.all(-1).mean()), "num_eval": int(len(correct)),
              "eval_split": self.data.eval_split, "eval_clips": self.sampling.eval_clips}
    if correct.shape[1] > 1:  # e.g. EPIC-Kitchens: top1 is the action (every head right)
      result.update({f"top1_{name}": float(correct[:, h].mean()) for h, name in enumerate(self.data.head_names)})
    else:  # the mean over classes of per-class top-1 (FineGym's headline metric)
      labels = predictions["label"]
      result["mean_class_top1"] = float(np.mean([correct[labels == c, 0].mean() for c in np.unique(labels)]))
    result["heads"] = list(self.data.head_names)
    if getattr(source, "skips", None) is not None:
      result["num_skipped"] = len(source.skips)
    return result
