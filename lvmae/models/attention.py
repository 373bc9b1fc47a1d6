"""Tiled (flash-style) softmax attention, for long sequences on backends where XLA would hold the
whole (queries x keys) score matrix (XLA:CPU does, for the forward pass and again for the gradient).

`blockwise_attention(q, k, v, query_block, key_block)` equals `jax.nn.dot_product_attention(q, k,
v)` (no mask, no bias, scale 1/sqrt(head_dim); layout (batch, length, heads, head_dim)) but cuts
the queries into tiles of about `query_block` and walks, for each tile, the keys in tiles of about
`key_block` with an online softmax (a running maximum and normaliser per query), so the largest
intermediate is one (batch, heads, query tile, key tile) block of scores, small enough to stay in
a CPU's cache (the default 512 x 256 tile is 3 MiB at 6 heads; tiling the keys alone, 512 at a
time, left a block of 147 MiB at 12,544 queries and took twice the time). Its gradient is
written by hand (jax.custom_vjp): the forward pass keeps only q, k, v, the output and each query's
log-sum-exp, and the backward pass recomputes each tile's probabilities from them (the
flash-attention backward), so no score matrix is stored for the gradient either. Scores and sums
are float32 whatever the input dtype; the output has the input's dtype. A length is cut into
equal tiles (12,544 keys: 49 of 256; 1,254 queries: 3 of 418), the last padded where it must be
and its padding masked out.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

DEFAULT_QUERY_BLOCK, DEFAULT_KEY_BLOCK = 512, 256


def _tile_size(length: int, block: int) -> int:
  """The size of the fewest equal tiles of at most `block` that cover `length`."""
  count = -(-length // block)
  return -(-length // count)


def _tiles(x: jax.Array, block: int) -> jax.Array:
  """(B, S, N, H) -> (tiles, B, N, tile, H) float32, zero-padded to whole tiles."""
  b, s, n, h = x.shape
  size = _tile_size(s, block)
  x = jnp.pad(x.astype(jnp.float32), ((0, 0), (0, -s % size), (0, 0), (0, 0)))
  return x.reshape(b, -1, size, n, h).transpose(1, 0, 3, 2, 4)


def _untile(x: jax.Array, length: int) -> jax.Array:
  """The inverse of `_tiles`: (tiles, B, N, tile, H) -> (B, length, N, H)."""
  count, b, n, size, h = x.shape
  return x.transpose(1, 0, 3, 2, 4).reshape(b, count * size, n, h)[:, :length]


def _scores(q: jax.Array, k: jax.Array) -> jax.Array:
  return jnp.einsum("bnth,bnsh->bnts", q, k)


def _tiled_inputs(q, k, v, query_block, key_block):
  """What both passes walk: the scaled queries' tiles, the keys' and values' tiles, and which key
  positions of each key tile are real, shaped to broadcast against (B, N, query tile, key tile)."""
  length = k.shape[1]
  size = _tile_size(length, key_block)
  real = (jnp.arange(-(-length // size) * size) < length).reshape(-1, 1, 1, 1, size)
  return (_tiles(q * q.shape[-1] ** -0.5, query_block), _tiles(k, key_block), _tiles(v, key_block), real)


def _forward_tile(q_tile, keys):
  """One query tile (B, N, T, H) against every key tile: (output, log-sum-exp (B, N, T))."""
  def step(carry, key_tile):
    running_max, normaliser, acc = carry
    k, v, real = key_tile
    scores = jnp.where(real, _scores(q_tile, k), -jnp.inf)
    new_max = jnp.maximum(running_max, scores.max(-1))
    probs = jnp.exp(scores - new_max[..., None])
    rescale = jnp.exp(running_max - new_max)  # 0 on the first tile (running max -inf)
    normaliser = normaliser * rescale + probs.sum(-1)
    acc = acc * rescale[..., None] + jnp.einsum("bnts,bnsh->bnth", probs, v)
    return (new_max, normaliser, acc), None

  init = (jnp.full(q_tile.shape[:-1], -jnp.inf, jnp.float32), jnp.zeros(q_tile.shape[:-1], jnp.float32),
          jnp.zeros(q_tile.shape, jnp.float32))
  (running_max, normaliser, acc), _ = jax.lax.scan(step, init, keys)
  return acc / normaliser[..., None], running_max + jnp.log(normaliser)


def _forward(q, k, v, query_block, key_block):
  """(output in q's dtype, log-sum-exp per query tile (tiles, B, N, tile) float32)."""
  q_tiles, *keys = _tiled_inputs(q, k, v, query_block, key_block)
  out, lse = jax.lax.map(lambda q_tile: _forward_tile(q_tile, keys), q_tiles)
  return _untile(out, q.shape[1]).astype(q.dtype), lse


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def blockwise_attention(q: jax.Array, k: jax.Array, v: jax.Array, query_block: int = DEFAULT_QUERY_BLOCK,
                        key_block: int = DEFAULT_KEY_BLOCK) -> jax.Array:
  """Softmax attention of q (B, T, N, H) over k, v (B, S, N, H), in tiles of about
  query_block x key_block."""
  return _forward(q, k, v, query_block, key_block)[0]


def _attention_fwd(q, k, v, query_block, key_block):
  out, lse = _forward(q, k, v, query_block, key_block)
  return out, (q, k, v, out, lse)


def _attention_bwd(query_block, key_block, residuals, d_out):
  q, k, v, out, lse = residuals
  q_tiles, k_tiles, v_tiles, real = _tiled_inputs(q, k, v, query_block, key_block)
  d_out = _tiles(d_out, query_block)
  row_dot = jnp.einsum("qbnth,qbnth->qbnt", d_out, _tiles(out, query_block))  # sum_j P_ij dP_ij

  def query_step(d_kv, query_tile):
    q_tile, d_out_tile, lse_tile, row_dot_tile = query_tile

    def key_step(d_q, key_tile):
      k, v, real_keys = key_tile
      probs = jnp.where(real_keys, jnp.exp(_scores(q_tile, k) - lse_tile[..., None]), 0.0)
      d_v = jnp.einsum("bnts,bnth->bnsh", probs, d_out_tile)
      d_scores = probs * (jnp.einsum("bnth,bnsh->bnts", d_out_tile, v) - row_dot_tile[..., None])
      d_q = d_q + jnp.einsum("bnts,bnsh->bnth", d_scores, k)
      return d_q, (jnp.einsum("bnts,bnth->bnsh", d_scores, q_tile), d_v)

    d_q, (d_k, d_v) = jax.lax.scan(key_step, jnp.zeros_like(q_tile), (k_tiles, v_tiles, real))
    return (d_kv[0] + d_k, d_kv[1] + d_v), d_q

  (d_k, d_v), d_q = jax.lax.scan(query_step, (jnp.zeros_like(k_tiles), jnp.zeros_like(v_tiles)),
                                 (q_tiles, d_out, lse, row_dot))
  return ((_untile(d_q, q.shape[1]) * q.shape[-1] ** -0.5).astype(q.dtype),
          _untile(d_k, k.shape[1]).astype(k.dtype), _untile(d_v, v.shape[1]).astype(v.dtype))


blockwise_attention.defvjp(_attention_fwd, _attention_bwd)
