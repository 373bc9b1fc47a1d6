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

PREDICTIONS = "predictions.npz"  # a fine-tuning run's per-example predictions, in its run directory


def split_heads(logits, heads: tuple[int, ...]) -> list:
  """(..., sum(heads)) logits or posteriors (jax or numpy) -> one (..., classes) array per head."""
  edges = np.cumsum((0,) + tuple(heads))
  return [logits[..., a:b] for a, b in zip(edges[:-1], edges[1:])]


def evaluate(model, batches: Iterable[dict], *, tubelet, grid, batch_size: int, heads: tuple[int, ...],
             dtype=jnp.float32) -> dict:
  """Returns {"index", "label", "probs", "prediction"} (and "duration" where the batches have it)
  over every example of `batches`.

  Each batch's video is (B, views, T, H, W, C); the posteriors of the views are averaged. probs
  holds each head's posteriors side by side; label and prediction are (N,) for one head and
  (N, heads) for several. Short batches are padded to `batch_size` so the step compiles once.
  """
  n = grid[0] * grid[1] * grid[2]

  @nnx.jit
  def posteriors(model, video):
    b, views = video.shape[:2]
    flat = video.reshape((b * views,) + video.shape[2:])
    positions = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32), (b * views, n))
    logits = model(patchify(normalise_input(flat, dtype), tubelet), positions, grid).astype(jnp.float32)
    probs = jnp.concatenate([jax.nn.softmax(l) for l in split_heads(logits, heads)], -1)
    return probs.reshape(b, views, -1).mean(axis=1)

  out = {"index": [], "label": [], "probs": [], "duration": []}
  for batch in tqdm(batches, desc="evaluate", unit="batch", leave=False):
    size = len(batch["label"])
    video = batch["video"]
    if size < batch_size:
      video = np.concatenate([video, np.repeat(video[-1:], batch_size - size, axis=0)])
    out["probs"].append(np.asarray(posteriors(model, video))[:size])
    out["index"].append(np.asarray(batch["index"]))
    out["label"].append(np.asarray(batch["label"]))
    if "duration" in batch:
      out["duration"].append(np.asarray(batch["duration"]))
  if not out["duration"]:
    del out["duration"]
  if not out["index"]:
    raise RuntimeError("evaluation read no clips")
  result = {k: np.concatenate(v) for k, v in out.items()}
  result["prediction"] = np.stack([p.argmax(-1) for p in split_heads(result["probs"], heads)], -1)
  if len(heads) == 1:
    result["prediction"] = result["prediction"][:, 0]
  return result


def write_predictions(path: Path, predictions: dict) -> None:
  """Writes predictions.npz atomically."""
  buffer = io.BytesIO()
  np.savez(buffer, **predictions)
  write_atomic(path, buffer.getvalue())
