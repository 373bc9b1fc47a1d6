"""Blockwise (flash-style) softmax attention, for long sequences on backends where XLA would hold
the whole (queries x keys) score matrix (XLA:CPU does, for the forward pass and again for the
gradient).

`blockwise_attention(q, k, v, block)` equals `jax.nn.dot_product_attention(q, k, v)` (no mask, no
bias, scale 1/sqrt(head_dim); layout (batch, length, heads, head_dim)) but walks the keys in blocks
of `block` with an online softmax (a running maximum and normaliser per query), so the largest
intermediate is (batch, heads, queries, block). Its gradient is written by hand (jax.custom_vjp):
the forward pass keeps only q, k, v, the output and each query's log-sum-exp, and the backward
pass recomputes each block's probabilities from them (the flash-attention backward), so no score
matrix is stored for the gradient either. Scores and sums are float32 whatever the input dtype;
the output has the input's dtype. A last partial block is padded and its padding masked out.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

DEFAULT_BLOCK = 512


def _key_blocks(x: jax.Array, block: int) -> jax.Array:
  """(B, S, N, H) -> (S_blocks, B, block, N, H), zero-padded to whole blocks."""
  b, s, n, h = x.shape
  x = jnp.pad(x, ((0, 0), (0, -s % block), (0, 0), (0, 0)))
  return x.reshape(b, -1, block, n, h).swapaxes(0, 1)


def _unblock(x: jax.Array, length: int) -> jax.Array:
  """The inverse of `_key_blocks`: (S_blocks, B, block, N, H) -> (B, length, N, H)."""
  blocks, b, block, n, h = x.shape
  return x.swapaxes(0, 1).reshape(b, blocks * block, n, h)[:, :length]


def _valid(length: int, block: int) -> jax.Array:
  """(S_blocks, block): which padded key positions are real keys."""
  blocks = -(-length // block)
  return (jnp.arange(blocks * block) < length).reshape(blocks, block)


def _scores(q: jax.Array, k: jax.Array) -> jax.Array:
  return jnp.einsum("btnh,bsnh->bnts", q, k.astype(jnp.float32))


def _scan_inputs(q, k, v, block):
  """What both passes walk: the scaled float32 queries and, per key block, (keys, values, which
  keys are real) shaped to broadcast against (B, N, T, block) scores."""
  scaled = q.astype(jnp.float32) * q.shape[-1] ** -0.5
  return scaled, (_key_blocks(k, block), _key_blocks(v, block), _valid(k.shape[1], block)[:, None, None, None, :])


def _forward(q, k, v, block):
  """(output in q's dtype, log-sum-exp (B, N, T) float32)."""
  b, t, n, h = q.shape
  scaled, xs = _scan_inputs(q, k, v, block)

  def step(carry, xs):
    running_max, normaliser, acc = carry
    k_block, v_block, valid = xs
    scores = jnp.where(valid, _scores(scaled, k_block), -jnp.inf)
    new_max = jnp.maximum(running_max, scores.max(-1))
    probs = jnp.exp(scores - new_max[..., None])
    rescale = jnp.exp(running_max - new_max)  # 0 on the first block (running max -inf)
    normaliser = normaliser * rescale + probs.sum(-1)
    acc = acc * rescale.transpose(0, 2, 1)[..., None] + jnp.einsum("bnts,bsnh->btnh", probs,
                                                                   v_block.astype(jnp.float32))
    return (new_max, normaliser, acc), None

  init = (jnp.full((b, n, t), -jnp.inf, jnp.float32), jnp.zeros((b, n, t), jnp.float32),
          jnp.zeros((b, t, n, h), jnp.float32))
  (running_max, normaliser, acc), _ = jax.lax.scan(step, init, xs)
  out = acc / normaliser.transpose(0, 2, 1)[..., None]
  return out.astype(q.dtype), running_max + jnp.log(normaliser)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3,))
def blockwise_attention(q: jax.Array, k: jax.Array, v: jax.Array, block: int = DEFAULT_BLOCK) -> jax.Array:
  """Softmax attention of q (B, T, N, H) over k, v (B, S, N, H), keys taken `block` at a time."""
  return _forward(q, k, v, block)[0]


def _attention_fwd(q, k, v, block):
  out, lse = _forward(q, k, v, block)
  return out, (q, k, v, out, lse)


def _attention_bwd(block, residuals, d_out):
  q, k, v, out, lse = residuals
  scaled, xs = _scan_inputs(q, k, v, block)
  d_out = d_out.astype(jnp.float32)
  row_dot = jnp.einsum("btnh,btnh->bnt", d_out, out.astype(jnp.float32))  # sum_j P_ij dP_ij

  def step(d_q, xs):
    k_block, v_block, valid = xs
    k_block, v_block = k_block.astype(jnp.float32), v_block.astype(jnp.float32)
    probs = jnp.where(valid, jnp.exp(_scores(scaled, k_block) - lse[..., None]), 0.0)
    d_v = jnp.einsum("bnts,btnh->bsnh", probs, d_out)
    d_scores = probs * (jnp.einsum("btnh,bsnh->bnts", d_out, v_block) - row_dot[..., None])
    d_q = d_q + jnp.einsum("bnts,bsnh->btnh", d_scores, k_block)
    d_k = jnp.einsum("bnts,btnh->bsnh", d_scores, scaled)
    return d_q, (d_k, d_v)

  d_q, (d_k, d_v) = jax.lax.scan(step, jnp.zeros(scaled.shape, jnp.float32), xs)
  length = k.shape[1]
  return ((d_q * q.shape[-1] ** -0.5).astype(q.dtype), _unblock(d_k, length).astype(k.dtype),
          _unblock(d_v, length).astype(v.dtype))


blockwise_attention.defvjp(_attention_fwd, _attention_bwd)
