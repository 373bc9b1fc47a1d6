"""Tests of the optimisation settings (lvmae/train/optim.py)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from lvmae.train.optim import Schedule, decay_mask
from lvmae.validation import ConfigError


def _schedule(**kwargs):
  values = dict(steps=100, batch_size=2, learning_rate=1e-3)
  values.update(kwargs)
  return Schedule(**values)


def _closed_form(step, steps, warmup, peak, final):
  if step < warmup:
    return peak * step / warmup
  if step >= steps:
    return final
  progress = (step - warmup) / (steps - warmup)
  return final + (peak - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


# -------------------------------------------------------------------------------- schedule


@pytest.mark.parametrize("steps,warmup,peak,final", [(100, 10, 1e-3, 1e-5), (50, 0, 2e-3, 0.0),
                                                     (40, 39, 1.0, 0.1), (7, 3, 0.5, 0.5)])
def test_learning_rate_closed_form(steps, warmup, peak, final):
  fn = _schedule(steps=steps, warmup_steps=warmup, learning_rate=peak,
                 final_learning_rate=final).learning_rate_fn()
  for step in sorted({0, 1, warmup // 2, max(warmup - 1, 0), warmup, warmup + 1,
                      (warmup + steps) // 2, steps - 1, steps, steps + 25}):
    expected = _closed_form(step, steps, warmup, peak, final)
    assert float(fn(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9), step


def test_learning_rate_landmarks():
  fn = _schedule(steps=100, warmup_steps=20, learning_rate=1e-3, final_learning_rate=1e-4
                 ).learning_rate_fn()
  assert float(fn(0)) == 0.0
  assert float(fn(10)) == pytest.approx(5e-4)
  assert float(fn(20)) == pytest.approx(1e-3)  # the peak at the end of warm-up
  assert float(fn(60)) == pytest.approx(5.5e-4)  # half-way through the cosine
  assert float(fn(100)) == pytest.approx(1e-4)
  values = [float(fn(s)) for s in range(20, 101)]
  assert all(a >= b for a, b in zip(values, values[1:]))  # decays monotonically


def test_warmup_must_leave_steps_to_decay():
  # optax's cosine phase needs at least one step: warmup_steps == steps is a config error.
  with pytest.raises(ConfigError) as err:
    _schedule(steps=10, warmup_steps=10, learning_rate=1.0)
  assert err.value.field == "warmup_steps"


# ------------------------------------------------------------------------------ decay mask


def test_decay_mask_nested_dict():
  params = {
      "dense": {"kernel": jnp.ones((2, 3)), "bias": jnp.ones(3)},
      "kernel": jnp.ones((3, 3)),
      "norm": {"scale": jnp.ones(3), "bias": jnp.zeros(3)},
      "blocks": [{"attn": {"kernel": jnp.ones((3, 3)), "bias": jnp.ones(3)}}],
      "kernel_like": jnp.ones(2),
      "cls_token": jnp.zeros((1, 3)),
  }
  mask = decay_mask(params)
  assert mask == {
      "dense": {"kernel": True, "bias": False},
      "kernel": True,
      "norm": {"scale": False, "bias": False},
      "blocks": [{"attn": {"kernel": True, "bias": False}}],
      "kernel_like": False,
      "cls_token": False,
  }


class _Tiny(nnx.Module):
  def __init__(self, rngs):
    self.embed = nnx.Linear(3, 4, rngs=rngs)
    self.norm = nnx.LayerNorm(4, rngs=rngs)
    self.head = nnx.Linear(4, 2, rngs=rngs)
    self.mask_token = nnx.Param(jnp.ones((1, 4)))


def _flat(tree):
  """{'a/b': leaf} with Variable wrappers' `.value` dropped from the path."""
  out = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    names = [str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", None)))) for k in path]
    out["/".join(n for n in names if n != "value")] = leaf
  return out


def test_decay_mask_nnx_state():
  params = nnx.state(_Tiny(nnx.Rngs(0)), nnx.Param)
  mask = _flat(decay_mask(params))
  assert mask == {
      "embed/bias": False, "embed/kernel": True,
      "head/bias": False, "head/kernel": True,
      "norm/bias": False, "norm/scale": False,
      "mask_token": False,
  }


@pytest.mark.parametrize("clip_norm", [0.0, 1.0])
def test_adamw_decays_kernels_only(clip_norm):
  lr, wd = 0.1, 0.5
  tx = _schedule(learning_rate=lr, weight_decay=wd, clip_norm=clip_norm).optimizer()
  model = _Tiny(nnx.Rngs(1))
  params = nnx.state(model, nnx.Param)
  # Give every leaf a non-zero value, so that decay would show on biases too.
  params = jax.tree.map(lambda x: x + 0.5, params)
  grads = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  new = _flat(optax.apply_updates(params, updates))
  old = _flat(params)
  for name, value in old.items():
    value = np.asarray(value)
    if name.endswith("kernel"):
      # Adam's part is 0 for zero gradients; decoupled decay is -lr * wd * param (step 0: peak lr).
      np.testing.assert_allclose(new[name], value * (1 - lr * wd), rtol=1e-6)
      assert not np.allclose(new[name], value)
    else:
      np.testing.assert_array_equal(new[name], value)


def test_adamw_first_step_matches_hand_computation():
  lr, wd, b1, b2 = 0.01, 0.1, 0.9, 0.99
  tx = _schedule(learning_rate=lr, weight_decay=wd, b1=b1, b2=b2).optimizer()
  params = {"w": {"kernel": jnp.array([1.0, -2.0, 3.0])}, "b": {"bias": jnp.array([0.5, 0.5])}}
  grads = {"w": {"kernel": jnp.array([0.1, 0.2, -0.3])}, "b": {"bias": jnp.array([-1.0, 2.0])}}
  updates, _ = tx.update(grads, tx.init(params), params)
  new = optax.apply_updates(params, updates)
  for group, leaf, decay in (("w", "kernel", True), ("b", "bias", False)):
    p, g = np.asarray(params[group][leaf]), np.asarray(grads[group][leaf])
    m_hat = (1 - b1) * g / (1 - b1)
    v_hat = (1 - b2) * g**2 / (1 - b2)
    step = m_hat / (np.sqrt(v_hat) + 1e-8) + (wd * p if decay else 0.0)
    np.testing.assert_allclose(new[group][leaf], p - lr * step, rtol=1e-5)


def test_clip_norm_clips_gradients():
  params = {"dense": {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros(2)}}
  grads = {"dense": {"kernel": jnp.full((2, 2), 3.0), "bias": jnp.array([4.0, 0.0])}}
  norm = math.sqrt(4 * 9.0 + 16.0)
  b1 = 0.9
  for clip_norm, scale in ((0.0, 1.0), (1.0, 1.0 / norm), (100.0, 1.0)):
    tx = _schedule(clip_norm=clip_norm, b1=b1).optimizer()
    _, state = tx.update(grads, tx.init(params), params)
    mu = optax.tree.get(state, "mu")  # Adam's first moment: (1 - b1) * (clipped) gradient
    for group in ("kernel", "bias"):
      np.testing.assert_allclose(mu["dense"][group], (1 - b1) * scale * np.asarray(grads["dense"][group]),
                                 rtol=1e-5)


# ------------------------------------------------------------------------------ validation


@pytest.mark.parametrize("kwargs,field", [
    (dict(steps=0), "steps"),
    (dict(steps=-5), "steps"),
    (dict(batch_size=0), "batch_size"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(steps=10, warmup_steps=11), "warmup_steps"),
    (dict(warmup_steps=-1), "warmup_steps"),
    (dict(b1=1.0), "b1"),
    (dict(b2=1.0), "b2"),
    (dict(b2=-0.1), "b2"),
    (dict(checkpoint_every=0), "checkpoint_every"),
    (dict(log_every=0), "log_every"),
])
def test_schedule_validation(kwargs, field):
  with pytest.raises(ConfigError, match=field) as err:
    _schedule(**kwargs)
  assert err.value.field == field
