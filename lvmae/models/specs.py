"""Model specifications: small frozen dataclasses that Fiddle configures and that build modules.

A spec holds sizes and compute choices only; building it (with an nnx.Rngs) allocates weights,
and building it under `nnx.eval_shape` allocates nothing.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from flax import nnx

from lvmae.models.vit import REMAT_CHOICES, MAEDecoder, VideoClassifier, VideoEncoder
from lvmae.validation import ConfigError, PositiveFloat, PositiveInt, check_choice, check_fields

ATTENTION_CHOICES = ("xla", "cudnn", "blockwise")
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


@dataclasses.dataclass(frozen=True)
class TransformerSpec:
  """A stack of pre-LN transformer blocks (used for both the encoder and the decoder)."""
  width: PositiveInt
  depth: PositiveInt
  heads: PositiveInt
  mlp_ratio: PositiveFloat = 4.0
  remat: str = "full"          # rematerialisation of each layer in the scanned stack
  attention_impl: str = "xla"  # jax.nn.dot_product_attention implementation, or "blockwise"
  dtype: str = "float32"       # compute dtype; parameters stay float32
  scan_unroll: bool = False    # unroll the layer scan (lvmae.cost does, so XLA counts every layer)

  def __post_init__(self):
    check_fields(self)
    if self.width % self.heads:
      raise ConfigError("heads", self.heads, f"does not divide width={self.width}")
    check_choice("remat", self.remat, REMAT_CHOICES)
    check_choice("attention_impl", self.attention_impl, ATTENTION_CHOICES)
    check_choice("dtype", self.dtype, DTYPES)

  def _common(self) -> dict:
    return dict(width=self.width, depth=self.depth, heads=self.heads, mlp_ratio=self.mlp_ratio,
                remat=self.remat, attention_impl=self.attention_impl, dtype=DTYPES[self.dtype],
                scan_unroll=self.scan_unroll)

  def encoder(self, patch_dim: int, rngs: nnx.Rngs) -> VideoEncoder:
    return VideoEncoder(patch_dim, **self._common(), rngs=rngs)

  def decoder(self, in_width: int, out_dim: int, rngs: nnx.Rngs) -> MAEDecoder:
    return MAEDecoder(in_width, out_dim=out_dim, **self._common(), rngs=rngs)

  def classifier(self, patch_dim: int, num_classes: int, rngs: nnx.Rngs, *,
                 pooling_norm: str = "after_pool") -> VideoClassifier:
    """The encoder with a mean-pooling classification head (pooling_norm: see VideoClassifier)."""
    return VideoClassifier(self.encoder(patch_dim, rngs), num_classes, pooling_norm=pooling_norm, rngs=rngs)


# Named sizes (ViT-S/B/L as in ViT and VideoMAE; "tiny" and "cpu" for the CPU profiles).
VIT_SIZES = {
    "tiny": dict(width=64, depth=2, heads=2),
    "cpu": dict(width=64, depth=4, heads=2),
    "S": dict(width=384, depth=12, heads=6),
    "B": dict(width=768, depth=12, heads=12),
    "L": dict(width=1024, depth=24, heads=16),
}
