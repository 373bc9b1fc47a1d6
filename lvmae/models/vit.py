"""The ViT backbone of the MAE: transformer blocks, the video encoder, the MAE decoder, a classifier.

Conventions:
- Tokens arrive already patchified, (B, L, t*p*p*C) in the order of `lvmae.masking.grid`; the
  tubelet embedding is a Linear, equivalent to a Conv3D with kernel = stride = tubelet.
- `positions` are flat token indices into the (t, h, w) grid; position embeddings are the fixed
  3D sin-cos ones of `posembed` (any frame count).
- Parameters are float32; `dtype` is the compute dtype (float32 or bfloat16). LayerNorm statistics
  are always computed in float32 (flax does this), and the heads (decoder predictions, classifier
  logits) return float32.
- Transformer layers are stacked along a leading layer axis (created with nnx.vmap) and run with
  nnx.scan, each layer optionally rematerialised (nnx.remat), so deep/long-video configs compile
  once per layer and fit in memory.
- Init as in ViT/MAE: Linear xavier-uniform with zero bias, LayerNorm ones/zeros (eps 1e-6),
  [MASK] token normal(0.02). GELU is the exact (erf) one, as in the PyTorch ViT/VideoMAE.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from lvmae.models.attention import blockwise_attention
from lvmae.models.posembed import sincos_1d, split_width

REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}
# Beside the whole-layer policies, "mlp" rematerialises only each layer's MLP sublayer (LayerNorm,
# both Linears, GELU): the attention sublayer keeps its activations, so its keys are walked once.
REMAT_CHOICES = (*REMAT_POLICIES, "mlp")
ATTENTION_IMPLS = (None, "xla", "cudnn", "blockwise")
# Where the classifier normalises: "after_pool" (VideoMAE's fc_norm: mean of the un-normalised
# tokens, then LayerNorm) or "per_token" (the encoder's final LayerNorm on every token, mean, then
# LayerNorm again).
POOLING_NORMS = ("after_pool", "per_token")
PARAM_DTYPE = jnp.float32


def _linear(din: int, dout: int, dtype, rngs: nnx.Rngs, kernel_init=None) -> nnx.Linear:
  return nnx.Linear(
      din, dout, dtype=dtype, param_dtype=PARAM_DTYPE,
      kernel_init=kernel_init or nnx.initializers.xavier_uniform(),
      bias_init=nnx.initializers.zeros_init(), rngs=rngs)


def _layernorm(width: int, dtype, rngs: nnx.Rngs) -> nnx.LayerNorm:
  return nnx.LayerNorm(
      width, epsilon=1e-6, dtype=dtype, param_dtype=PARAM_DTYPE, use_fast_variance=False,
      rngs=rngs)


def embed_positions(positions: jax.Array, grid: tuple[int, int, int], width: int) -> jax.Array:
  """Equals `sincos_3d(grid, width)[positions]` (float32, positions[..., None] -> width).

  Gathers from the three small per-axis tables instead of the full (t*h*w, width) table, so a
  128-frame grid does not put a 38 MB constant into the compiled program.
  """
  _, gh, gw = grid
  dt, dh, dw = split_width(width)
  coords = (positions // (gh * gw), (positions // gw) % gh, positions % gw)
  parts = [jnp.asarray(sincos_1d(np.arange(size), dim))[c]
           for size, dim, c in zip(grid, (dt, dh, dw), coords)]
  return jnp.concatenate(parts, axis=-1)


def attend(q: jax.Array, k: jax.Array, v: jax.Array, attention_impl=None) -> jax.Array:
  """Softmax attention, (B, T, N, H) -> (B, T, N, H), by `attention_impl` (see Attention)."""
  if attention_impl == "blockwise":
    return blockwise_attention(q, k, v)
  return jax.nn.dot_product_attention(q, k, v, implementation=attention_impl)


class Attention(nnx.Module):
  """Multi-head self-attention: fused qkv Linear -> jax.nn.dot_product_attention -> projection.

  attention_impl: None (jax picks), "xla", "cudnn" (GPU flash attention; needs bf16/fp16), or
  "blockwise" (lvmae.models.attention: keys in blocks with an online softmax, no score matrix held).
  """

  def __init__(self, width: int, heads: int, *, attention_impl=None, dtype=jnp.float32,
               rngs: nnx.Rngs):
    if width % heads:
      raise ValueError(f"width={width} is not divisible by heads={heads}")
    if attention_impl not in ATTENTION_IMPLS:
      raise ValueError(f"attention_impl={attention_impl!r} must be one of {ATTENTION_IMPLS}")
    self.heads = heads
    self.attention_impl = attention_impl
    self.qkv = _linear(width, 3 * width, dtype, rngs)
    self.proj = _linear(width, width, dtype, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    b, length, width = x.shape
    qkv = self.qkv(x).reshape(b, length, 3, self.heads, width // self.heads)
    q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
    return self.proj(attend(q, k, v, self.attention_impl).reshape(b, length, width))


class Mlp(nnx.Module):
  """Linear -> GELU (exact) -> Linear, hidden width = mlp_ratio * width."""

  def __init__(self, width: int, mlp_ratio: float, *, dtype=jnp.float32, rngs: nnx.Rngs):
    hidden = int(round(mlp_ratio * width))
    self.fc1 = _linear(width, hidden, dtype, rngs)
    self.fc2 = _linear(hidden, width, dtype, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    return self.fc2(jax.nn.gelu(self.fc1(x), approximate=False))


class Block(nnx.Module):
  """Pre-LN transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

  def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0, *, attention_impl=None,
               dtype=jnp.float32, rngs: nnx.Rngs):
    self.norm1 = _layernorm(width, dtype, rngs)
    self.attn = Attention(width, heads, attention_impl=attention_impl, dtype=dtype, rngs=rngs)
    self.norm2 = _layernorm(width, dtype, rngs)
    self.mlp = Mlp(width, mlp_ratio, dtype=dtype, rngs=rngs)

  def __call__(self, x: jax.Array, *, remat_mlp: bool = False) -> jax.Array:
    """remat_mlp: rematerialise the MLP sublayer alone (remat "mlp"); the same numbers."""
    x = x + self.attn(self.norm1(x))
    mlp_sublayer = nnx.remat(_mlp_sublayer, prevent_cse=False) if remat_mlp else _mlp_sublayer
    return mlp_sublayer(x, self.norm2, self.mlp)


def _mlp_sublayer(x: jax.Array, norm: nnx.LayerNorm, mlp: Mlp) -> jax.Array:
  return x + mlp(norm(x))


def _apply_block(x: jax.Array, block: Block) -> jax.Array:
  return block(x)


def _apply_block_remat_mlp(x: jax.Array, block: Block) -> jax.Array:
  return block(x, remat_mlp=True)


class Transformer(nnx.Module):
  """`depth` Blocks stacked on a leading layer axis, run with nnx.scan, then a final LayerNorm.

  remat: "none" (keep every activation), "full" (save nothing inside a layer, recompute it in the
  backward pass), or "dots" (save matmul outputs without batch dimensions). scan_unroll unrolls
  the scan (same numbers; XLA's cost analysis then counts every layer, not one).
  """

  def __init__(self, width: int, depth: int, heads: int, mlp_ratio: float = 4.0, *,
               remat: str = "full", attention_impl=None, dtype=jnp.float32, scan_unroll: bool = False,
               rngs: nnx.Rngs):
    if remat not in REMAT_CHOICES:
      raise ValueError(f"remat={remat!r} must be one of {REMAT_CHOICES}")
    if depth < 1:
      raise ValueError(f"depth={depth} must be >= 1")
    self.depth = depth
    self.remat = remat
    self.scan_unroll = bool(scan_unroll)

    @nnx.split_rngs(splits=depth)
    @nnx.vmap(in_axes=(0,), out_axes=0)
    def make_blocks(rngs: nnx.Rngs) -> Block:
      return Block(width, heads, mlp_ratio, attention_impl=attention_impl, dtype=dtype, rngs=rngs)

    self.blocks = make_blocks(rngs)
    self.norm = _layernorm(width, dtype, rngs)

  def __call__(self, x: jax.Array, *, final_norm: bool = True) -> jax.Array:
    """final_norm=False skips the final LayerNorm (its parameters stay, unused)."""
    layer = _apply_block_remat_mlp if self.remat == "mlp" else _apply_block
    policy = REMAT_POLICIES.get(self.remat)  # None: no whole-layer remat ("none", "mlp")
    if policy is not None:
      layer = nnx.remat(layer, policy=policy, prevent_cse=False)
    x = nnx.scan(layer, in_axes=(nnx.Carry, 0), out_axes=nnx.Carry, unroll=self.scan_unroll or 1)(x, self.blocks)
    return self.norm(x) if final_norm else x


class VideoEncoder(nnx.Module):
  """Tubelet embedding + 3D sin-cos positions + Transformer, over any subset of the grid's tokens."""

  def __init__(self, patch_dim: int, width: int, depth: int, heads: int, mlp_ratio: float = 4.0,
               *, remat: str = "full", attention_impl=None, dtype=jnp.float32, scan_unroll: bool = False,
               rngs: nnx.Rngs):
    split_width(width)  # fail early on a width the position embedding cannot split
    self.width = width
    self.dtype = dtype
    self.embed = _linear(patch_dim, width, dtype, rngs)
    self.transformer = Transformer(width, depth, heads, mlp_ratio, remat=remat,
                                   attention_impl=attention_impl, dtype=dtype,
                                   scan_unroll=scan_unroll, rngs=rngs)

  def __call__(self, patches: jax.Array, positions: jax.Array,
               grid: tuple[int, int, int], *, final_norm: bool = True) -> jax.Array:
    """(B, L, patch_dim), (B, L) flat grid indices, static grid -> (B, L, width) in `dtype`.

    final_norm=False returns the last block's tokens without the final LayerNorm.
    """
    x = self.embed(patches)
    x = x + embed_positions(positions, grid, self.width).astype(x.dtype)
    return self.transformer(x, final_norm=final_norm)


class MAEDecoder(nnx.Module):
  """Dual-masking MAE decoder: encoded visible tokens + [MASK] tokens at the selected positions.

  Predictions are made for the K selected positions only (VideoMAE V2 decoder masking).
  """

  def __init__(self, in_width: int, width: int, depth: int, heads: int, out_dim: int,
               mlp_ratio: float = 4.0, *, remat: str = "full", attention_impl=None,
               dtype=jnp.float32, scan_unroll: bool = False, rngs: nnx.Rngs):
    split_width(width)
    self.width = width
    self.dtype = dtype
    self.embed = _linear(in_width, width, dtype, rngs)
    self.mask_token = nnx.Param(
        nnx.initializers.normal(0.02)(rngs.params(), (1, 1, width), PARAM_DTYPE))
    self.transformer = Transformer(width, depth, heads, mlp_ratio, remat=remat,
                                   attention_impl=attention_impl, dtype=dtype,
                                   scan_unroll=scan_unroll, rngs=rngs)
    self.head = _linear(width, out_dim, dtype, rngs)

  def __call__(self, encoded: jax.Array, visible_positions: jax.Array,
               selected_positions: jax.Array, grid: tuple[int, int, int]) -> jax.Array:
    """(B, V, in_width), (B, V), (B, K), static grid -> (B, K, out_dim) float32."""
    b, k = selected_positions.shape
    visible = self.embed(encoded)
    visible = visible + embed_positions(visible_positions, grid, self.width).astype(visible.dtype)
    mask = jnp.broadcast_to(self.mask_token[...].astype(visible.dtype), (b, k, self.width))
    mask = mask + embed_positions(selected_positions, grid, self.width).astype(visible.dtype)
    x = self.transformer(jnp.concatenate([visible, mask], axis=1))
    return self.head(x[:, -k:]).astype(jnp.float32)


class VideoClassifier(nnx.Module):
  """encoder -> mean over tokens -> LayerNorm -> Linear, logits (B, num_classes) float32.

  pooling_norm (see POOLING_NORMS):
    "after_pool": the tokens of the last block are averaged WITHOUT the encoder's final
      LayerNorm, then `norm` normalises the mean (VideoMAE's fine-tuning with mean pooling: the
      per-token norm is an Identity and `fc_norm` a LayerNorm). The encoder's final-norm
      parameters still exist (a pre-trained encoder loads them) but are not used.
    "per_token": the encoder's final LayerNorm on every token, the mean, then `norm`.
  head_init_scale: the head kernel is truncated-normal(0.02) times this factor, bias zero; 0.001
  is VideoMAE's fine-tuning default (`--init_scale 0.001`), which starts logits near zero.
  """

  def __init__(self, encoder: VideoEncoder, num_classes: int, *, pooling_norm: str = "after_pool",
               head_init_scale: float = 0.001, rngs: nnx.Rngs):
    if pooling_norm not in POOLING_NORMS:
      raise ValueError(f"pooling_norm={pooling_norm!r} must be one of {POOLING_NORMS}")
    self.encoder = encoder
    self.pooling_norm = pooling_norm
    width, dtype = encoder.width, encoder.dtype
    self.norm = _layernorm(width, dtype, rngs)

    def head_init(key, shape, dtype=PARAM_DTYPE):
      return nnx.initializers.truncated_normal(0.02)(key, shape, dtype) * head_init_scale

    self.head = _linear(width, num_classes, dtype, rngs, kernel_init=head_init)

  def __call__(self, patches: jax.Array, positions: jax.Array,
               grid: tuple[int, int, int]) -> jax.Array:
    x = self.encoder(patches, positions, grid, final_norm=self.pooling_norm == "per_token")
    x = self.norm(jnp.mean(x.astype(jnp.float32), axis=1).astype(x.dtype))
    return self.head(x).astype(jnp.float32)


def count_params(module: nnx.Module) -> int:
  """Number of scalars in the module's nnx.Param variables (works on nnx.eval_shape modules)."""
  return sum(math.prod(x.shape) for x in jax.tree.leaves(nnx.state(module, nnx.Param)))
