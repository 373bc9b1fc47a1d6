"""Blockwise attention (lvmae/models/attention.py): the same numbers as softmax attention written
in numpy, the same gradients as autodiff through plain attention, at lengths that are and are not
whole blocks, in float32 and bfloat16; and the memory it exists for, read from XLA's compiled
analysis (not timed)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lvmae.models.attention import blockwise_attention


def _numpy_attention(q, k, v):
  scores = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
  probs = np.exp(scores - scores.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  return np.einsum("bnts,bsnh->btnh", probs, v)


def _plain(q, k, v):
  scores = jnp.einsum("btnh,bsnh->bnts", q, k) / jnp.sqrt(q.shape[-1])
  return jnp.einsum("bnts,bsnh->btnh", jax.nn.softmax(scores, -1), v)


def _qkv(rng, b, t, s, n, h):
  return (rng.normal(size=(b, t, n, h)).astype(np.float32), rng.normal(size=(b, s, n, h)).astype(np.float32),
          rng.normal(size=(b, s, n, h)).astype(np.float32))


@pytest.mark.parametrize("b,t,s,n,h,blocks", [
    (2, 37, 37, 3, 8, (16, 16)),   # 3 tiles of 13 each way, the last one partial (11 real, 2 masked)
    (1, 64, 64, 2, 4, (64, 64)),   # one whole tile
    (2, 10, 10, 1, 8, (512, 256)),  # one tile each way
    (1, 5, 23, 2, 4, (2, 8)),      # more keys than queries: 3 query tiles of 2 (1 padded), 3 of 8 (1 masked)
    (1, 50, 41, 2, 4, (16, 7)),    # 4 query tiles of 13 (2 padded), 6 key tiles of 7 (1 masked)
])
def test_values_and_gradients_equal_plain_attention(b, t, s, n, h, blocks):
  q, k, v = _qkv(np.random.default_rng(b * t + s), b, t, s, n, h)
  out = blockwise_attention(jnp.asarray(q), jnp.asarray(k), jnp.asarray(v), *blocks)
  np.testing.assert_allclose(np.asarray(out), _numpy_attention(q, k, v), atol=2e-6, rtol=1e-5)
  weights = jnp.asarray(np.random.default_rng(1).normal(size=out.shape), jnp.float32)
  loss = lambda fn: lambda *qkv: jnp.sum(fn(*qkv) * weights)  # noqa: E731
  expected = jax.grad(loss(_plain), argnums=(0, 1, 2))(q, k, v)
  got = jax.grad(loss(lambda *x: blockwise_attention(*x, *blocks)), argnums=(0, 1, 2))(q, k, v)
  for name, e, g in zip("qkv", expected, got):
    np.testing.assert_allclose(np.asarray(g), np.asarray(e), atol=1e-5, rtol=1e-4, err_msg=f"d{name}")


def test_bfloat16_inputs_give_bfloat16_output_close_to_float32():
  q, k, v = _qkv(np.random.default_rng(3), 1, 40, 40, 2, 16)
  out = blockwise_attention(*(jnp.asarray(x, jnp.bfloat16) for x in (q, k, v)), 16, 16)
  assert out.dtype == jnp.bfloat16
  np.testing.assert_allclose(np.asarray(out, np.float32), _numpy_attention(q, k, v), atol=3e-2)


def test_a_model_with_blockwise_attention_computes_what_xla_attention_does():
  from flax import nnx

  from lvmae.models.vit import Attention
  x = jnp.asarray(np.random.default_rng(4).normal(size=(2, 50, 32)), jnp.float32)
  outs = [Attention(32, 4, attention_impl=impl, rngs=nnx.Rngs(0))(x) for impl in ("xla", "blockwise")]
  np.testing.assert_allclose(np.asarray(outs[1]), np.asarray(outs[0]), atol=2e-6, rtol=1e-5)


def test_the_gradient_holds_no_score_matrix():
  """One head, 4,096 then 8,192 queries and keys: plain attention's gradient holds score-sized
  buffers (64 then 256 MiB each in float32), so its memory grows 4x with the length; the blockwise
  one's largest buffers are the inputs' and gradients' copies (length x 16) and one 512 x 256 tile of
  scores, so its memory grows at most 2x and stays under one score matrix."""
  grad = lambda fn: jax.jit(jax.grad(lambda *x: jnp.sum(fn(*x)), argnums=(0, 1, 2)))  # noqa: E731
  temp = {}
  for length in (4096, 8192):
    q = jax.ShapeDtypeStruct((1, length, 1, 16), jnp.float32)
    for name, fn in (("plain", _plain), ("blockwise", lambda *x: blockwise_attention(*x))):
      temp[name, length] = grad(fn).lower(q, q, q).compile().memory_analysis().temp_size_in_bytes
  for length in (4096, 8192):
    scores = length * length * 4
    assert temp["plain", length] >= 2 * scores and temp["blockwise", length] < scores
  assert temp["plain", 8192] > 3.5 * temp["plain", 4096]
  assert temp["blockwise", 8192] < 2.5 * temp["blockwise", 4096]
