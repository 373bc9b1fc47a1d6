"""Tests for lvmae.models: position embeddings, the scanned ViT, the MAE decoder, the classifier."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lvmae.models import (
    POOLING_NORMS, Block, MAEDecoder, Transformer, VideoClassifier, VideoEncoder, count_params,
    embed_positions, sincos_3d, split_width)
from lvmae.models.vit import REMAT_CHOICES

_erf = np.vectorize(math.erf)


# ---------------------------------------------------------------- numpy references

def np_layernorm(x, scale, bias, eps=1e-6):
  mu = x.mean(-1, keepdims=True)
  var = ((x - mu) ** 2).mean(-1, keepdims=True)
  return (x - mu) / np.sqrt(var + eps) * scale + bias


def np_attention(x, qkv_w, qkv_b, proj_w, proj_b, heads):
  """Softmax attention, written out: qkv columns are [q | k | v], each split into heads."""
  b, length, width = x.shape
  hd = width // heads
  qkv = x @ qkv_w + qkv_b
  out = np.zeros((b, length, width))
  for i in range(b):
    for h in range(heads):
      q = qkv[i, :, h * hd:(h + 1) * hd]
      k = qkv[i, :, width + h * hd:width + (h + 1) * hd]
      v = qkv[i, :, 2 * width + h * hd:2 * width + (h + 1) * hd]
      logits = q @ k.T / np.sqrt(hd)
      p = np.exp(logits - logits.max(-1, keepdims=True))
      p /= p.sum(-1, keepdims=True)
      out[i, :, h * hd:(h + 1) * hd] = p @ v
  return out @ proj_w + proj_b


def np_block(x, p, heads):
  """Pre-LN block from a dict of numpy weights (as in nnx.state(block, nnx.Param))."""
  a = p["attn"]
  x = x + np_attention(np_layernorm(x, p["norm1"]["scale"], p["norm1"]["bias"]),
                       a["qkv"]["kernel"], a["qkv"]["bias"], a["proj"]["kernel"], a["proj"]["bias"],
                       heads)
  m = p["mlp"]
  h = np_layernorm(x, p["norm2"]["scale"], p["norm2"]["bias"]) @ m["fc1"]["kernel"] + m["fc1"]["bias"]
  h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))
  return x + h @ m["fc2"]["kernel"] + m["fc2"]["bias"]


def np_params(module):
  """nnx.Param state as a nested dict of float64 numpy arrays."""
  state = nnx.to_pure_dict(nnx.state(module, nnx.Param))
  return jax.tree.map(lambda a: np.asarray(a, np.float64), state)


def rand(key, shape):
  return jax.random.normal(jax.random.key(key), shape, jnp.float32)


# ---------------------------------------------------------------- position embeddings

def test_sincos_3d_matches_loop_reference():
  grid, width = (3, 2, 4), 24
  dt, dh, dw = split_width(width)
  assert (dt, dh, dw) == (8, 8, 8)
  expected = np.zeros((math.prod(grid), width))
  row = 0
  for t in range(grid[0]):
    for h in range(grid[1]):
      for w in range(grid[2]):
        col = 0
        for coord, d in ((t, dt), (h, dh), (w, dw)):
          for i in range(d // 2):
            expected[row, col + i] = math.sin(coord / 10000 ** (2 * i / d))
            expected[row, col + d // 2 + i] = math.cos(coord / 10000 ** (2 * i / d))
          col += d
        row += 1
  got = sincos_3d(grid, width)
  assert got.shape == (24, 24) and got.dtype == np.float32
  np.testing.assert_allclose(got, expected, atol=1e-6)


def test_sincos_3d_rows_distinct_and_frame_count_free():
  emb = sincos_3d((4, 3, 3), 48)
  dist = np.linalg.norm(emb[:, None] - emb[None, :], axis=-1)
  assert dist[~np.eye(len(emb), dtype=bool)].min() > 1e-3
  np.testing.assert_array_equal(sincos_3d((4, 2, 2), 48), sincos_3d((8, 2, 2), 48)[:16])


def test_split_width_rules():
  assert split_width(768) == (256, 256, 256)
  assert split_width(1024) == (344, 340, 340)
  assert sincos_3d((2, 2, 2), 1024).shape == (8, 1024)
  for bad in (4, 765):
    with pytest.raises(ValueError, match="width"):
      sincos_3d((2, 2, 2), bad)


def test_embed_positions_equals_table_lookup():
  grid, width = (5, 3, 4), 36
  positions = jax.random.randint(jax.random.key(0), (2, 17), 0, math.prod(grid))
  np.testing.assert_allclose(embed_positions(positions, grid, width),
                             sincos_3d(grid, width)[np.asarray(positions)], atol=1e-6)


# ---------------------------------------------------------------- blocks and the scanned stack

def test_block_matches_numpy_reference():
  block = Block(16, 4, rngs=nnx.Rngs(0))
  x = rand(1, (2, 5, 16))
  p = np_params(block)
  a = p["attn"]
  np.testing.assert_allclose(
      block.attn(x),
      np_attention(np.asarray(x, np.float64), a["qkv"]["kernel"], a["qkv"]["bias"],
                   a["proj"]["kernel"], a["proj"]["bias"], heads=4),
      atol=1e-5, rtol=1e-5)
  np.testing.assert_allclose(block(x), np_block(np.asarray(x, np.float64), p, heads=4),
                             atol=1e-5, rtol=1e-5)


def test_scanned_transformer_equals_unrolled_layers():
  depth = 3
  model = Transformer(16, depth, 4, remat="none", rngs=nnx.Rngs(0))
  x = rand(1, (2, 6, 16))
  stacked = np_params(model.blocks)
  k = stacked["attn"]["qkv"]["kernel"]
  assert k.shape == (depth, 16, 48)
  assert not np.allclose(k[0], k[1])  # each layer got its own init key
  ref = np.asarray(x, np.float64)
  for i in range(depth):
    ref = np_block(ref, jax.tree.map(lambda a: a[i], stacked), heads=4)
  norm = np_params(model.norm)
  ref = np_layernorm(ref, norm["scale"], norm["bias"])
  np.testing.assert_allclose(model(x), ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("attention_impl", ["xla", "blockwise"])
def test_remat_choices_agree_in_outputs_and_gradients(attention_impl):
  x = rand(1, (2, 6, 16))
  results = {}
  for remat in REMAT_CHOICES:
    model = Transformer(16, 2, 4, remat=remat, attention_impl=attention_impl, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(model)

    def loss(params, x):
      out = nnx.merge(graphdef, params)(x)
      return jnp.sum(out ** 2), out

    step = jax.value_and_grad(loss, has_aux=True)
    assert ("remat" in str(jax.make_jaxpr(step)(params, x))) == (remat != "none")
    (value, out), grads = jax.jit(step)(params, x)
    results[remat] = (out, value, nnx.to_pure_dict(grads))
  assert set(REMAT_CHOICES) == {"none", "full", "dots", "mlp"}
  out, value, grads = results["none"]
  for remat in REMAT_CHOICES[1:]:
    np.testing.assert_allclose(results[remat][0], out, atol=1e-5)
    np.testing.assert_allclose(results[remat][1], value, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4),
                 results[remat][2], grads)


def test_bad_choices_raise():
  with pytest.raises(ValueError, match="remat"):
    Transformer(16, 2, 4, remat="some", rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="attention_impl"):
    Block(16, 4, attention_impl="flash", rngs=nnx.Rngs(0))


# ---------------------------------------------------------------- encoder, decoder, classifier

def test_vit_b_encoder_parameter_count():
  encoder = nnx.eval_shape(lambda: VideoEncoder(1536, 768, 12, 12, rngs=nnx.Rngs(0)))
  kernel = nnx.state(encoder, nnx.Param)["transformer"]["blocks"]["attn"]["qkv"]["kernel"]
  assert isinstance(kernel.get_value(), jax.ShapeDtypeStruct)  # nothing was allocated
  w = 768
  per_block = 2 * 2 * w + (w * 3 * w + 3 * w) + (w * w + w) + (w * 4 * w + 4 * w) + (4 * w * w + w)
  expected = (1536 * w + w) + 12 * per_block + 2 * w
  n = count_params(encoder)
  assert n == expected
  assert 85_000_000 < n < 88_000_000


def _decoder_inputs():
  grid = (4, 2, 2)
  order = np.asarray(jax.random.permutation(jax.random.key(3), 16))
  visible = jnp.asarray(np.stack([order[:5], order[5:10]]), jnp.int32)       # (B=2, V=5)
  selected = jnp.asarray(np.stack([order[10:16], order[:6]]), jnp.int32)     # (B=2, K=6)
  return grid, rand(4, (2, 5, 24)), visible, selected


def test_mae_decoder_shapes_information_flow_and_permutation_invariance():
  decoder = MAEDecoder(24, 32, 2, 4, out_dim=7, rngs=nnx.Rngs(0))
  grid, encoded, visible, selected = _decoder_inputs()
  apply = nnx.jit(lambda model, *args: model(*args, grid))
  pred = apply(decoder, encoded, visible, selected)
  assert pred.shape == (2, 6, 7) and pred.dtype == jnp.float32

  changed = apply(decoder, encoded.at[0, 2].add(1.0), visible, selected)
  assert np.abs(changed[0] - pred[0]).max(-1).min() > 1e-5  # one visible token reaches every prediction
  np.testing.assert_allclose(changed[1], pred[1], atol=1e-6)  # examples stay independent

  perm = np.array([3, 0, 4, 1, 2])
  np.testing.assert_allclose(apply(decoder, encoded[:, perm], visible[:, perm], selected), pred,
                             atol=1e-5)
  sel_perm = np.array([5, 2, 0, 1, 4, 3])
  np.testing.assert_allclose(apply(decoder, encoded, visible, selected[:, sel_perm]),
                             pred[:, sel_perm], atol=1e-5)
  # Eager (un-jitted) call agrees with the jitted one.
  np.testing.assert_allclose(decoder(encoded, visible, selected, grid), pred, atol=1e-5)

  grads = nnx.jit(nnx.grad(lambda model: jnp.sum(model(encoded, visible, selected, grid) ** 2)))(
      decoder)
  mask_grad = np.asarray(grads["mask_token"].get_value())
  assert mask_grad.shape == (1, 1, 32) and np.all(np.isfinite(mask_grad)) and np.any(mask_grad)


@pytest.mark.parametrize("pooling_norm", POOLING_NORMS)
def test_classifier_jit_grad_finite_and_nonzero(pooling_norm):
  grid = (2, 2, 2)
  encoder = VideoEncoder(12, 24, 2, 4, rngs=nnx.Rngs(0))
  model = VideoClassifier(encoder, num_classes=5, pooling_norm=pooling_norm, rngs=nnx.Rngs(1))
  patches = rand(2, (3, 8, 12))
  positions = jnp.tile(jnp.arange(8, dtype=jnp.int32), (3, 1))
  labels = jnp.array([0, 3, 4])
  assert model(patches, positions, grid).shape == (3, 5)

  @nnx.jit
  def grads_of(model, patches, positions, labels):
    def loss(model):
      logits = model(patches, positions, grid)
      return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], 1))
    return nnx.grad(loss)(model)

  grads = nnx.to_pure_dict(grads_of(model, patches, positions, labels))
  leaves = jax.tree_util.tree_leaves_with_path(grads)
  assert len(leaves) == len(jax.tree.leaves(nnx.state(model, nnx.Param)))
  for path, g in leaves:
    g = np.asarray(g)
    assert np.all(np.isfinite(g)), path
    # "after_pool" skips the encoder's final norm: its parameters exist but get no gradient.
    unused = pooling_norm == "after_pool" and jax.tree_util.keystr(path).startswith("['encoder']['transformer']['norm']")
    assert np.any(g != 0) != unused, path


def _randomise(module, seed):
  """Adds noise to every parameter (LayerNorm scales and biases included), so that each matters."""
  state = nnx.state(module, nnx.Param)
  leaves, treedef = jax.tree.flatten(state)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  nnx.update(module, jax.tree.unflatten(
      treedef, [x + 0.3 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]))


@pytest.mark.parametrize("pooling_norm", POOLING_NORMS)
def test_classifier_pooling_matches_numpy_reference(pooling_norm):
  grid, width, depth, heads = (2, 2, 2), 24, 2, 4
  model = VideoClassifier(VideoEncoder(12, width, depth, heads, remat="none", rngs=nnx.Rngs(0)), num_classes=5,
                          pooling_norm=pooling_norm, head_init_scale=1.0, rngs=nnx.Rngs(1))
  _randomise(model, 2)
  patches = rand(3, (2, 6, 12))
  positions = jnp.array([[0, 1, 2, 3, 4, 5], [7, 5, 3, 1, 0, 6]], jnp.int32)  # a token subset, any order
  p = np_params(model)
  enc = p["encoder"]
  x = np.asarray(patches, np.float64) @ enc["embed"]["kernel"] + enc["embed"]["bias"]
  x = x + sincos_3d(grid, width)[np.asarray(positions)]
  for i in range(depth):
    x = np_block(x, jax.tree.map(lambda a: a[i], enc["transformer"]["blocks"]), heads)
  if pooling_norm == "per_token":  # the encoder's final norm on every token, before the mean
    x = np_layernorm(x, enc["transformer"]["norm"]["scale"], enc["transformer"]["norm"]["bias"])
  pooled = np_layernorm(x.mean(axis=1), p["norm"]["scale"], p["norm"]["bias"])
  expected = pooled @ p["head"]["kernel"] + p["head"]["bias"]
  logits = nnx.jit(lambda m, a, b: m(a, b, grid))(model, patches, positions)
  assert logits.dtype == jnp.float32
  np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)

  # The encoder's final norm changes the logits in "per_token" mode only.
  final_norm = model.encoder.transformer.norm
  final_norm.scale.set_value(final_norm.scale.get_value() * 2.0 + 1.0)
  changed = model(patches, positions, grid)
  assert np.allclose(changed, logits, atol=1e-5) == (pooling_norm == "after_pool")


def test_classifier_pooling_norm_choice_is_checked():
  encoder = VideoEncoder(12, 24, 1, 4, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="pooling_norm"):
    VideoClassifier(encoder, num_classes=5, pooling_norm="before", rngs=nnx.Rngs(1))


def test_bfloat16_compute_close_to_float32_with_float32_params():
  grid = (2, 2, 2)
  patches = rand(2, (2, 8, 12))
  positions = jnp.tile(jnp.arange(8, dtype=jnp.int32), (2, 1))
  f32 = VideoEncoder(12, 48, 2, 4, rngs=nnx.Rngs(0))
  bf16 = VideoEncoder(12, 48, 2, 4, dtype=jnp.bfloat16, rngs=nnx.Rngs(0))
  for p in jax.tree.leaves(nnx.state(bf16, nnx.Param)):
    assert p.dtype == jnp.float32
  apply = nnx.jit(lambda model, *args: model(*args, grid))
  out32, out16 = apply(f32, patches, positions), apply(bf16, patches, positions)
  assert out16.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(out16, np.float32), out32, atol=0.1, rtol=0.05)
  assert np.abs(np.asarray(out16, np.float32) - out32).mean() < 0.02

  dec32 = MAEDecoder(48, 32, 1, 4, out_dim=6, rngs=nnx.Rngs(1))
  dec16 = MAEDecoder(48, 32, 1, 4, out_dim=6, dtype=jnp.bfloat16, rngs=nnx.Rngs(1))
  vis, sel = positions[:, :5], positions[:, 5:]
  pred32 = apply(dec32, out32[:, :5], vis, sel)
  pred16 = apply(dec16, out16[:, :5], vis, sel)
  assert pred16.dtype == jnp.float32
  np.testing.assert_allclose(pred16, pred32, atol=0.1, rtol=0.05)
