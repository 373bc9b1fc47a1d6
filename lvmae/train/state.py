"""The train state (parameters + optimiser state) and the jitted, pure train step."""
from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

# Per-channel mean/std of ImageNet, as in VideoMAE; inputs are normalised on the device.
INPUT_MEAN = jnp.array([0.485, 0.456, 0.406])
INPUT_STD = jnp.array([0.229, 0.224, 0.225])


def normalise_input(video: jax.Array, dtype=jnp.float32) -> jax.Array:
  """uint8 (..., C) -> float, standardised per channel."""
  return ((video.astype(jnp.float32) / 255.0 - INPUT_MEAN) / INPUT_STD).astype(dtype)


def init_state(model: nnx.Module, tx: optax.GradientTransformation) -> tuple[nnx.GraphDef, dict]:
  """Splits a model into its graph and a pure train state {"params", "opt_state"}."""
  graphdef, params = nnx.split(model, nnx.Param)
  return graphdef, {"params": params, "opt_state": tx.init(params)}


def make_train_step(graphdef: nnx.GraphDef, tx: optax.GradientTransformation,
                    loss_fn: Callable[[nnx.Module, dict, jax.Array], tuple[jax.Array, dict]],
                    shardings: tuple[Any, Any] | None = None) -> Callable:
  """step(state, batch, key) -> (state, metrics); a pure function, jitted, state donated.

  shardings: (state shardings, batch sharding) from lvmae.train.sharding; the state keeps its
  sharding across steps. None: wherever the inputs are (one device).
  """
  jit_kwargs = {}
  if shardings is not None:
    state_sh, batch_sh = shardings
    jit_kwargs = {"in_shardings": (state_sh, batch_sh, None), "out_shardings": (state_sh, None)}

  @functools.partial(jax.jit, donate_argnums=0, **jit_kwargs)
  def step(state: dict, batch: dict, key: jax.Array) -> tuple[dict, dict]:
    def objective(params):
      return loss_fn(nnx.merge(graphdef, params), batch, key)

    (loss, metrics), grads = jax.value_and_grad(objective, has_aux=True)(state["params"])
    updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
    params = optax.apply_updates(state["params"], updates)
    return {"params": params, "opt_state": opt_state}, {"loss": loss, "grad_norm": optax.tree.norm(grads), **metrics}

  return step


def abstract_state(build: Callable[[nnx.Rngs], nnx.Module], tx: optax.GradientTransformation) -> tuple[Any, dict]:
  """The train state's shapes and dtypes, with nothing allocated."""
  model = nnx.eval_shape(lambda: build(nnx.Rngs(0)))
  graphdef, params = nnx.split(model, nnx.Param)
  return graphdef, {"params": params, "opt_state": jax.eval_shape(tx.init, params)}


def batch_spec(stage) -> dict:
  """Shapes of one training batch of a stage (uint8 video; labels for classifiers)."""
  b, s = stage.schedule.batch_size, stage.data.image_size
  spec = {"video": jax.ShapeDtypeStruct((b, stage.sampling.num_frames, s, s, 3), jnp.uint8)}
  if "label" in stage.batch_keys:
    heads = len(stage.data.heads)
    spec["label"] = jax.ShapeDtypeStruct((b,) if heads == 1 else (b, heads), jnp.int32)
  if "latents" in stage.batch_keys:  # cached token targets
    spec["latents"] = jax.ShapeDtypeStruct((b, *stage.grid, stage.target_dim), jnp.float32)
  if "info" in stage.batch_keys:     # SLC's per-pixel event ids of the sampled frames (0: none)
    spec["info"] = jax.ShapeDtypeStruct((b, stage.sampling.num_frames, s, s), jnp.uint8)
  if "scores" in stage.batch_keys:   # cached importance scores
    spec["scores"] = jax.ShapeDtypeStruct((b, stage.grid[0] * stage.grid[1] * stage.grid[2]), jnp.float32)
  return spec


def lower_train_step(stage) -> jax.stages.Lowered:
  """Lowers a stage's train step from shapes alone: nothing is allocated, any size works."""
  tx = stage.schedule.optimizer()
  graphdef, state = abstract_state(stage.build_model, tx)
  step = make_train_step(graphdef, tx, stage.loss)
  return step.lower(state, batch_spec(stage), jax.eval_shape(lambda: jax.random.key(0)))
