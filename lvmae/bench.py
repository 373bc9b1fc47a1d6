"""Benchmarks, measured after warm-up: results go to results/bench.json so changes can be compared.

- Train steps of pre-training and fine-tuning: the median wall time of several steps after
  warm-up steps (the first steps after compiling run 2-3x slow on a CPU), clips/s and tokens/s
  (tokens of the whole clip grid), and the model-FLOPs utilisation on an accelerator whose peak
  is known (XLA's FLOPs of the step over time x peak); n/a on a CPU.
- Where a pre-training step's time goes (`step_parts`): its encoder, decoder, each one's attention
  and the optimizer update, forward and gradient, each timed alone at the step's shapes.
- The precompute stage's cost per clip at several clip lengths (its windows make it linear in
  the number of frames), and the flow-scores stage's (one thread per clip).
Weights are freshly initialised (speed does not depend on their values); inputs are random. Each
section records the backend, device and the machine's load average when it started, since a
loaded machine slows every number down.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lvmae import cost
from lvmae.atomic import write_atomic
from lvmae.data.flow import token_flow_scores
from lvmae.models.vit import attend
from lvmae.train.flow_scores import FlowScores
from lvmae.train.precompute import Precompute, jitted_tokenize
from lvmae.train.state import batch_spec, init_state

# Dense bf16 peak FLOP/s by device kind (vendor data sheets), for model-FLOPs utilisation.
PEAK_FLOPS = {"NVIDIA H100 80GB HBM3": 989e12, "NVIDIA H200": 989e12, "NVIDIA A100-SXM4-80GB": 312e12,
              "NVIDIA A100-SXM4-40GB": 312e12, "TPU v4": 275e12, "TPU v5 lite": 197e12, "TPU v5e": 197e12,
              "TPU v5p": 459e12, "TPU v6 lite": 918e12}


def machine() -> dict:
  """Backend, device kind and count, and the 1-minute load average (CPU contention)."""
  device = jax.devices()[0]
  return {"backend": jax.default_backend(), "device_kind": device.device_kind, "devices": jax.device_count(),
          "load_average_1min": os.getloadavg()[0]}


def _random_batch(stage) -> dict:
  rng = np.random.default_rng(0)
  out = {}
  for name, spec in batch_spec(stage).items():
    if name == "video":
      out[name] = rng.integers(0, 256, spec.shape, dtype=np.uint8)
    elif name == "label":
      out[name] = rng.integers(0, min(stage.data.heads), spec.shape).astype(np.int32)
    elif np.issubdtype(spec.dtype, np.integer):  # e.g. SLC's event ids per pixel
      out[name] = rng.integers(0, 4, spec.shape).astype(spec.dtype)
    else:
      out[name] = rng.random(spec.shape, dtype=np.float32).astype(spec.dtype)
  return out


def release_freed_memory() -> None:
  """Hands the memory the C allocator holds freed back to the OS (glibc's malloc_trim), so that the
  process's resident size drops to what is in use; nothing where the C library has no such call."""
  try:
    ctypes.CDLL(None).malloc_trim(0)
  except (OSError, AttributeError):
    pass


def train_step_times(stage, *, warmup: int = 3, steps: int = 8, memory_budget: int | None = None) -> dict:
  """Median seconds per train step after `warmup` steps, clips/s, tokens/s, (accelerators) MFU and
  XLA's predicted memory of the step (`predicted_bytes`, from the same compilation). With a
  `memory_budget` (bytes) a step predicted to need more is not run: only the prediction, run False."""
  # Compiled from shapes (the lowering `lvmae cost` analyses) before the state exists, and the
  # compiler's freed memory handed back to the OS: the process's peak is then the larger of compiling
  # and stepping, not their sum (XLA:CPU's compiler holds ~0.5 GiB at its peak, whatever the model).
  step = stage.lower_train_step().compile()
  predicted = cost.memory_of(step)["total_bytes"]
  if memory_budget is not None and predicted > memory_budget:
    return {"predicted_bytes": predicted, "run": False}
  release_freed_memory()
  _, state = init_state(stage.build_model(nnx.Rngs(0)), stage.schedule.optimizer())
  batch = jax.device_put(_random_batch(stage))
  times = []
  for i in range(warmup + steps):
    start = time.perf_counter()
    state, metrics = step(state, batch, jax.random.key(i))
    jax.block_until_ready(metrics["loss"])
    if i >= warmup:
      times.append(time.perf_counter() - start)
  seconds = statistics.median(times)
  clips = stage.schedule.batch_size
  tokens = clips * stage.grid[0] * stage.grid[1] * stage.grid[2]
  result = {"run": True, "predicted_bytes": predicted, "seconds_per_step": seconds, "clips_per_second": clips / seconds,
            "tokens_per_second": tokens / seconds, "batch_size": clips, "grid": list(stage.grid), "steps_timed": steps, "warmup_steps": warmup}
  # Model FLOPs: 2 per MAC, forward + backward = 3 forward passes, recomputation not counted.
  model_flops = 6 * sum(cost.component_macs(stage).values()) * clips
  peak = PEAK_FLOPS.get(jax.devices()[0].device_kind)
  result.update(model_flops_per_step=model_flops, model_flops_per_second=model_flops / seconds,
                mfu=None if peak is None else model_flops / seconds / peak, peak_flops=peak)
  return result


def _median_seconds(call, *, warmup: int, repeats: int) -> float:
  """Median wall time of `call()` (its result waited for) over `repeats` calls after `warmup` untimed ones."""
  for _ in range(warmup):
    jax.block_until_ready(call())
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(call())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def _jitted_seconds(fn, *args, repeats: int) -> float:
  """Median wall time of the jitted `fn(*args)` after one compiling call."""
  fn = jax.jit(fn)
  return _median_seconds(lambda: fn(*args), warmup=1, repeats=repeats)


def _gradient_seconds(fn, args: tuple, repeats: int) -> float:
  """Seconds of the forward pass and the gradient of sum(fn(*args)**2) with respect to every argument."""
  loss = lambda *a: jnp.sum(jnp.square(fn(*a).astype(jnp.float32)))  # noqa: E731
  return _jitted_seconds(jax.grad(loss, argnums=tuple(range(len(args)))), *args, repeats=repeats)


def step_parts(stage, *, repeats: int = 3) -> dict:
  """Seconds of the parts of a pre-training (MAE) step, each timed alone (median of `repeats` after
  compiling) at the step's shapes, forward and gradient: the encoder over the visible tokens, the
  decoder over the visible and selected ones, one layer's attention of each (times its depth:
  `*_attention`, inside the encoder's and decoder's times) and the optimizer update; and the
  tokens each attends over. Inputs are random; weights freshly initialised."""
  tokens, grid, clips = stage.num_tokens(), stage.grid, stage.schedule.batch_size
  model = stage.build_model(nnx.Rngs(0))
  encoder, decoder = model.encoder, model.decoder
  rng = np.random.default_rng(0)

  def positions(count: int) -> jax.Array:
    return jnp.asarray(np.stack([np.sort(rng.choice(tokens["total"], count, replace=False)) for _ in range(clips)]),
                       jnp.int32)

  def floats(*shape: int) -> jax.Array:
    return jnp.asarray(rng.standard_normal(shape, dtype=np.float32))

  visible, selected = positions(tokens["visible"]), positions(tokens["selected"])
  enc_graph, enc_params = nnx.split(encoder)
  dec_graph, dec_params = nnx.split(decoder)
  parts = {
      "encoder": _gradient_seconds(lambda p, x: nnx.merge(enc_graph, p)(x, visible, grid),
                                   (enc_params, floats(clips, tokens["visible"], encoder.embed.in_features)), repeats),
      "decoder": _gradient_seconds(lambda p, x: nnx.merge(dec_graph, p)(x, visible, selected, grid),
                                   (dec_params, floats(clips, tokens["visible"], encoder.width)), repeats)}
  lengths = {"encoder": tokens["visible"], "decoder": tokens["visible"] + tokens["selected"]}
  for name, module in (("encoder", encoder), ("decoder", decoder)):
    layers, attention = module.transformer.depth, module.transformer.blocks.attn
    shape = (clips, lengths[name], attention.heads, module.width // attention.heads)
    one_layer = _gradient_seconds(lambda q, k, v: attend(q, k, v, attention.attention_impl),
                                  (floats(*shape), floats(*shape), floats(*shape)), repeats)
    parts[f"{name}_attention"] = layers * one_layer
  params = nnx.state(model, nnx.Param)
  optimizer = stage.schedule.optimizer()

  def update(grads, opt_state, params):
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  parts["optimizer_update"] = _jitted_seconds(update, params, optimizer.init(params), params, repeats=repeats)
  return {"parts": parts, "tokens": lengths, "grid": list(grid), "batch_size": clips}


def precompute_ms_per_clip(stage: Precompute, frames: int, *, clips: int = 8, repeats: int = 5) -> float:
  """Median wall time per clip (ms) of `stage.tokenize_clips` on `frames`-frame clips, after a warm-up."""
  stage = dataclasses.replace(stage, sampling=dataclasses.replace(stage.sampling, num_frames=frames, stride=1))
  encode = jitted_tokenize(stage.tokenizer.build_model(nnx.Rngs(0)))
  size = stage.data.image_size
  video = np.random.default_rng(0).integers(0, 256, (clips, frames, size, size, 3), dtype=np.uint8)
  # The first call compiles, the second warms up.
  return _median_seconds(lambda: stage.tokenize_clips(encode, video), warmup=2, repeats=repeats) / clips * 1e3


def flow_ms_per_clip(stage: FlowScores, frames: int, *, clips: int = 4) -> float:
  """Median wall time per clip (ms) of one clip's optical-flow token scores (`stage.method`, one
  thread) on random `frames`-frame clips of the stage's image size, after a warm-up clip."""
  size = stage.data.image_size
  video = np.random.default_rng(0).integers(0, 256, (clips, frames, size, size, 3), dtype=np.uint8)
  token_flow_scores(video[0], stage.tubelet, stage.method)
  times = []
  for clip in video:
    start = time.perf_counter()
    token_flow_scores(clip, stage.tubelet, stage.method)
    times.append(time.perf_counter() - start)
  return statistics.median(times) * 1e3


def update_bench(path: Path, section: str, profile: str, values: dict) -> dict:
  """Merges `values` under data[section][profile] into the JSON file at `path` (written atomically)."""
  path = Path(path)
  data = json.loads(path.read_text()) if path.exists() else {}
  data.setdefault(section, {})[profile] = values
  write_atomic(path, json.dumps(data, indent=1) + "\n")
  return data
