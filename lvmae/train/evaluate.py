"""Evaluation: class posteriors averaged over temporal clips, top-1 and per-example predictions."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from tqdm.auto import tqdm

from lvmae.atomic import write_atomic
from lvmae.masking.grid import patchify
from lvmae.train.state import normalise_input


def evaluate(model, batches: Iterable[dict], *, tubelet, grid, batch_size: int, dtype=jnp.float32) -> dict:
  """Returns {"index", "label", "probs", "prediction"} over every example of `batches`.

  Each batch's video is (B, clips, T, H, W, C); the posteriors of the clips are averaged.
  Short batches are padded to `batch_size` so the step compiles once.
  """
  n = grid[0] * grid[1] * grid[2]

  @nnx.jit
  def posteriors(model, video):
    b, clips = video.shape[:2]
    flat = video.reshape((b * clips,) + video.shape[2:])
    positions = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (b * clips, n))
    logits = model(patchify(normalise_input(flat, dtype), tubelet), positions, grid).astype(jnp.float32)
    return jax.nn.softmax(logits).reshape(b, clips, -1).mean(axis=1)

  out = {"index": [], "label": [], "probs": []}
  for batch in tqdm(batches, desc="evaluate", unit="batch", leave=False):
    size = len(batch["label"])
    video = batch["video"]
    if size < batch_size:
      video = np.concatenate([video, np.repeat(video[-1:], batch_size - size, axis=0)])
    out["probs"].append(np.asarray(posteriors(model, video))[:size])
    out["index"].append(np.asarray(batch["index"]))
    out["label"].append(np.asarray(batch["label"]))
  result = {k: np.concatenate(v) for k, v in out.items()}
  result["prediction"] = result["probs"].argmax(-1)
  return result


def write_predictions(path: Path, predictions: dict) -> None:
  """Writes predictions.npz atomically."""
  buffer = io.BytesIO()
  np.savez(buffer, **predictions)
  write_atomic(path, buffer.getvalue())
