"""Orbax checkpoints of a run: the train state and the grain iterator, saved together; and the
pre-trained encoder restored from a pre-training run's final checkpoint (fine-tuning, probes)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import grain
import jax
import orbax.checkpoint as ocp
from flax import nnx

from lvmae.train.state import abstract_state


def abstract_like(tree: Any) -> Any:
  """Shape/dtype structs for restoring into `tree`'s structure without keeping its values."""
  return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
  """Saves {state, data iterator} every N steps under `directory`; restores the latest."""

  def __init__(self, directory: Path, max_to_keep: int = 2):
    self.directory = Path(directory).absolute()
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state: Any, data_iterator: grain.DatasetIterator | None = None) -> None:
    items = {"state": ocp.args.StandardSave(state)}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    self._manager.save(step, args=ocp.args.Composite(**items))

  def restore(self, state_like: Any, data_iterator: grain.DatasetIterator | None = None,
              step: int | None = None) -> tuple[int, Any] | None:
    """Restores the given (default: latest) step into `state_like`'s structure; the iterator in place."""
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    items = {"state": ocp.args.StandardRestore(abstract_like(state_like))}
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointRestore(data_iterator)
    restored = self._manager.restore(step, args=ocp.args.Composite(**items))
    return step, restored["state"]

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def restore_pretrained_encoder(encoder, pretrained, pretrained_dir: Path) -> None:
  """Copies the encoder weights of a pre-training run's final checkpoint into `encoder` (an nnx
  VideoEncoder built from the same spec). `pretrained` is that run's Pretrain stage: it gives the
  train state's structure (its model and optimiser) and the final step."""
  checkpointer = Checkpointer(Path(pretrained_dir) / "checkpoints")
  _, like = abstract_state(pretrained.build_model, pretrained.schedule.optimizer())
  restored = checkpointer.restore(like, step=pretrained.schedule.steps)
  checkpointer.close()
  if restored is None:
    raise FileNotFoundError(f"no final checkpoint in {pretrained_dir}/checkpoints")
  nnx.update(encoder, restored[1]["params"]["encoder"])
