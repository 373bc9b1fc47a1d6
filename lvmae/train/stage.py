"""What clip stages share: the clip-shape check, the token grid and the training of a model."""
from __future__ import annotations

from pathlib import Path

import jax
from flax import nnx

from lvmae.data.pipeline import Sampling, train_iterator
from lvmae.masking.grid import token_grid
from lvmae.train import loop, sharding
from lvmae.train.state import init_state, lower_train_step, make_train_step
from lvmae.validation import ConfigError


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


class TokenGrid:
  """Mixin for stage dataclasses with fields data, sampling and tubelet: their token grid."""

  @property
  def grid(self) -> tuple[int, int, int]:
    size = self.data.image_size
    return token_grid(self.sampling.num_frames, size, size, self.tubelet)

  @property
  def patch_dim(self) -> int:
    return self.tubelet[0] * self.tubelet[1] * self.tubelet[2] * 3


class ClipStage(TokenGrid):
  """Mixin for stage dataclasses with fields data, sampling, tubelet, schedule, seed, data_threads,
  parallel (a lvmae.train.sharding.Parallelism: the mesh the train step runs on)."""

  batch_keys: tuple[str, ...] = ("video",)  # what the train iterator yields

  def lower_train_step(self):
    """The train step lowered from shapes alone (any size, nothing allocated)."""
    return lower_train_step(self)

  def train(self, model: nnx.Module, run_dir: Path, stop_after: int | None, *, source=None,
            keys: tuple[str, ...] | None = None, random_offset: bool = True) -> tuple[nnx.Module, dict]:
    """Trains `model` with this stage's loss, data and schedule; returns the trained model and a summary.

    `source` and `keys` default to the data's train split and `batch_keys`.
    """
    sharding.initialize(self.parallel)
    mesh = sharding.make_mesh(self.parallel)
    sharding.check_batch(mesh, self.schedule.batch_size)
    tx = self.schedule.optimizer()
    graphdef, state = init_state(model, tx)
    state_sh, batch_sh = sharding.state_shardings(mesh, state), sharding.batch_sharding(mesh)
    state = jax.device_put(state, state_sh)
    step = make_train_step(graphdef, tx, self.loss, (state_sh, batch_sh))
    batches = train_iterator(source or self.data.source("train"), self.sampling,
                             batch_size=self.schedule.batch_size // jax.process_count(), seed=self.seed,
                             keys=keys or self.batch_keys, num_threads=self.data_threads,
                             random_offset=random_offset, shard=(jax.process_index(), jax.process_count()),
                             spatial=self.data.spatial("train" if random_offset else "fixed"))
    state, summary = loop.fit(run_dir=run_dir, state=state,
                              step_fn=lambda st, batch, key: step(st, sharding.put_batch(batch, batch_sh), key),
                              batches=batches, schedule=self.schedule, seed=self.seed,
                              desc=f"{type(self).__name__.lower()} {Path(run_dir).name}", stop_after=stop_after)
    return nnx.merge(graphdef, state["params"]), summary
