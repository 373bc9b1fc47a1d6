"""The fine-tuning stage: a classifier on the pre-trained encoder, then evaluation."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from lvmae.data.pipeline import ExternalVideoData, SLCData, Sampling, eval_batches
from lvmae.masking.grid import patchify
from lvmae.models.mae import gather_tokens
from lvmae.models.specs import DTYPES, TransformerSpec
from lvmae.train.checkpoint import Checkpointer
from lvmae.train.evaluate import evaluate, write_predictions
from lvmae.train.optim import Schedule
from lvmae.train.pretrain import Pretrain, check_clip_shape
from lvmae.train.sharding import Parallelism
from lvmae.train.stage import ClipStage
from lvmae.train.state import abstract_state, normalise_input
from lvmae.validation import ConfigError


@dataclasses.dataclass(frozen=True)
class Finetune(ClipStage):
  """Supervised fine-tuning (from a pre-trained encoder when `pretrained` is set) and evaluation."""
  data: SLCData | ExternalVideoData
  sampling: Sampling
  encoder: TransformerSpec
  schedule: Schedule
  pretrained: Pretrain | None = None
  tubelet: tuple[int, int, int] = (2, 8, 8)
  token_drop: float = 0.0        # share of encoder tokens dropped at random while training
  label_smoothing: float = 0.0
  eval_batch_size: int = 32
  seed: int = 0
  data_threads: int = 2
  parallel: Parallelism = Parallelism()  # device mesh (data x FSDP) and multi-host start

  batch_keys = ("video", "label")

  def __post_init__(self):
    check_clip_shape(self.sampling, self.data, self.tubelet)
    if not 0.0 <= self.token_drop < 1.0:
      raise ConfigError("token_drop", self.token_drop, "must be in [0, 1)")
    if not 0.0 <= self.label_smoothing < 1.0:
      raise ConfigError("label_smoothing", self.label_smoothing, "must be in [0, 1)")
    if self.pretrained is not None:
      if self.pretrained.encoder != self.encoder:
        raise ConfigError("encoder", self.encoder, f"differs from pretrained.encoder={self.pretrained.encoder}")
      if tuple(self.pretrained.tubelet) != tuple(self.tubelet):
        raise ConfigError("tubelet", self.tubelet, f"differs from pretrained.tubelet={self.pretrained.tubelet}")

  def build_model(self, rngs: nnx.Rngs):
    return self.encoder.classifier(self.patch_dim, self.data.num_classes, rngs)

  def loss(self, model, batch: dict, key: jax.Array) -> tuple[jax.Array, dict]:
    video, labels = batch["video"], batch["label"]
    b, grid = video.shape[0], self.grid
    n = grid[0] * grid[1] * grid[2]
    keep = n - int(round(n * self.token_drop))
    patches = patchify(normalise_input(video, DTYPES[self.encoder.dtype]), self.tubelet)
    if keep < n:  # token drop: a fixed-size random subset of tokens per clip
      positions = jax.vmap(lambda k: jnp.sort(jax.random.permutation(k, n)[:keep]))(jax.random.split(key, b))
      patches = gather_tokens(patches, positions)
    else:
      positions = jnp.broadcast_to(jnp.arange(n), (b, n))
    logits = model(patches, positions.astype(jnp.int32), grid).astype(jnp.float32)
    targets = optax.smooth_labels(jax.nn.one_hot(labels, self.data.num_classes), self.label_smoothing)
    loss = optax.softmax_cross_entropy(logits, targets).mean()
    return loss, {"accuracy": jnp.mean(jnp.argmax(logits, -1) == labels)}

  def load_pretrained_encoder(self, model, pretrained_dir: Path) -> None:
    """Copies the encoder weights of the pre-training run's final checkpoint into `model`."""
    checkpointer = Checkpointer(Path(pretrained_dir) / "checkpoints")
    _, like = abstract_state(self.pretrained.build_model, self.pretrained.schedule.optimizer())
    restored = checkpointer.restore(like, step=self.pretrained.schedule.steps)
    checkpointer.close()
    if restored is None:
      raise FileNotFoundError(f"no final checkpoint in {pretrained_dir}/checkpoints")
    nnx.update(model.encoder, restored[1]["params"]["encoder"])

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    model = self.build_model(nnx.Rngs(self.seed))
    if self.pretrained is not None:
      self.load_pretrained_encoder(model, upstream["pretrained"])
    model, summary = self.train(model, run_dir, stop_after)
    if not summary["finished"]:
      return summary
    source = self.data.source("eval")
    predictions = evaluate(model, eval_batches(source, self.sampling, batch_size=self.eval_batch_size,
                                               num_threads=self.data_threads),
                           tubelet=self.tubelet, grid=self.grid, batch_size=self.eval_batch_size,
                           dtype=DTYPES[self.encoder.dtype])
    write_predictions(Path(run_dir) / "predictions.npz", predictions)
    top1 = float((predictions["prediction"] == predictions["label"]).mean())
    return {**summary, "top1": top1, "num_eval": int(len(predictions["label"])),
            "eval_split": self.data.eval_split, "eval_clips": self.sampling.eval_clips}
