"""Tests of the optimisation settings (lvmae/train/optim.py)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from lvmae.models.mae import MAE
from lvmae.models.specs import TransformerSpec
from lvmae.train.optim import Schedule, decay_mask, layer_decay_scales
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


# ------------------------------------------------------------------------------ layer decay


def _expected_layer_scales(params, decay):
  """numpy reference: {path: full-shape scale}; embed = layer 0, block j = layer j + 1, rest depth + 1."""
  flat = {k: np.asarray(v) for k, v in _flat(params).items()}
  depth = flat["encoder/transformer/blocks/attn/qkv/kernel"].shape[0]
  out = {}
  for name, leaf in flat.items():
    if name.startswith("encoder/embed/"):
      layer = np.zeros(leaf.shape)
    elif name.startswith("encoder/transformer/blocks/"):
      layer = np.ones(leaf.shape) * (np.arange(depth) + 1).reshape((depth,) + (1,) * (leaf.ndim - 1))
    else:
      layer = np.full(leaf.shape, depth + 1)
    out[name] = decay ** (depth + 1 - layer)
  return out


def _classifier_params(depth=3, seed=0):
  spec = TransformerSpec(width=16, depth=depth, heads=2, remat="none")
  return nnx.state(spec.classifier(12, 5, nnx.Rngs(seed)), nnx.Param)


def test_layer_decay_scales_match_numpy():
  params, decay = _classifier_params(depth=3), 0.6
  scales = _flat(layer_decay_scales(params, decay))
  expected = _expected_layer_scales(params, decay)
  assert scales.keys() == expected.keys()
  shapes = {k: np.shape(v) for k, v in _flat(params).items()}
  for name, want in expected.items():
    got = np.broadcast_to(scales[name], shapes[name])
    np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)
  # By hand: embed 0.6^4, blocks 0.6^3, 0.6^2, 0.6 along the stacked axis, the head 1.
  assert float(scales["encoder/embed/kernel"]) == pytest.approx(0.6 ** 4)
  np.testing.assert_allclose(np.ravel(scales["encoder/transformer/blocks/mlp/fc1/kernel"]), [0.216, 0.36, 0.6],
                             rtol=1e-6)
  assert float(scales["head/kernel"]) == float(scales["norm/scale"]) == float(
      scales["encoder/transformer/norm/scale"]) == 1.0


def test_layer_decay_leaves_an_mae_decoder_at_full_rate():
  spec = TransformerSpec(width=16, depth=2, heads=2, remat="none")
  rngs = nnx.Rngs(0)
  mae = MAE(spec.encoder(12, rngs), spec.decoder(16, 12, rngs))
  scales = _flat(layer_decay_scales(nnx.state(mae, nnx.Param), 0.5))
  np.testing.assert_allclose(np.ravel(scales["encoder/transformer/blocks/attn/qkv/kernel"]), [0.25, 0.5])
  assert float(scales["encoder/embed/bias"]) == 0.125
  decoder = {k: v for k, v in scales.items() if k.startswith("decoder/")}
  assert decoder and all(np.all(v == 1.0) for v in decoder.values())


def test_layer_decay_needs_encoder_blocks():
  with pytest.raises(ValueError, match="encoder blocks"):
    layer_decay_scales(nnx.state(_Tiny(nnx.Rngs(0)), nnx.Param), 0.5)


@pytest.mark.parametrize("clip_norm", [0.0, 100.0])
def test_layer_decay_scales_adamw_updates_per_layer(clip_norm):
  """The update with layer decay is the plain AdamW update (Adam step and decoupled weight decay)
  times the layer's scale, slice by slice along the stacked block axis."""
  params, decay = _classifier_params(depth=3, seed=1), 0.75
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(2), len(leaves))
  grads = jax.tree.unflatten(treedef, [jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)])
  updates = {}
  for layer_decay in (1.0, decay):
    tx = _schedule(learning_rate=0.1, weight_decay=0.5, clip_norm=clip_norm, layer_decay=layer_decay).optimizer()
    state = tx.init(params)
    for _ in range(2):  # a second step, so that Adam's moments are not trivially +-1
      out, state = jax.jit(tx.update)(grads, state, params)
    updates[layer_decay] = {k: np.asarray(v) for k, v in _flat(out).items()}
  expected = _expected_layer_scales(params, decay)
  for name, plain in updates[1.0].items():
    assert np.any(plain != 0), name
    np.testing.assert_allclose(updates[decay][name], plain * expected[name], rtol=1e-5, atol=1e-9, err_msg=name)


def test_layer_decay_off_is_plain_adamw():
  params, schedule = _classifier_params(depth=2), _schedule(layer_decay=1.0)
  plain = optax.adamw(schedule.learning_rate_fn(), b1=0.9, b2=0.95, weight_decay=0.05, mask=decay_mask)
  tx = schedule.optimizer()
  assert jax.tree.structure(tx.init(params)) == jax.tree.structure(plain.init(params))


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
    (dict(layer_decay=0.0), "layer_decay"),
    (dict(layer_decay=1.5), "layer_decay"),
    (dict(layer_decay=-0.5), "layer_decay"),
])
def test_schedule_validation(kwargs, field):
  with pytest.raises(ConfigError, match=field) as err:
    _schedule(**kwargs)
  assert err.value.field == field
