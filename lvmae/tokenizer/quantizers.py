"""Parameter-free latent quantizers for the tokenizer: FSQ and LFQ.

Every quantizer is a frozen dataclass sharing one interface:

  z_q, indices = quantizer(z)         # z: (..., dim) float; indices: (...) int32
  quantizer.codebook_size, quantizer.dim
  quantizer.indices_to_codes(indices) # (..., dim) float, the exact z_q values
  quantizer.codes_to_indices(codes)   # (...) int32
  quantizer.aux_loss(z)               # scalar auxiliary loss (0 for FSQ)

z_q has z's shape and dtype and carries a straight-through gradient. Everything is pure
jax.numpy, so it works for any leading shape, under jit and under jax.grad.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Annotated

import jax
import jax.numpy as jnp

from lvmae.validation import ConfigError, NonNegativeFloat, PositiveFloat, Range, check_fields

_MAX_CODEBOOK = 2**31 - 1  # indices are int32


def _straight_through(hard: jax.Array, soft: jax.Array) -> jax.Array:
  """Value of `hard`, gradient of `soft` (identity). Exact: soft - sg(soft) is exactly 0."""
  return hard + (soft - jax.lax.stop_gradient(soft))


def _check_dim(z: jax.Array, dim: int, name: str) -> None:
  if z.shape[-1:] != (dim,):
    raise ValueError(f"{name} expects a last axis of size {dim}, got shape {z.shape}")


# ----------------------------------------------------------------------------------------- FSQ


@dataclasses.dataclass(frozen=True)
class FSQ:
  """Finite Scalar Quantization (Mentzer et al. 2023, arXiv:2309.15505).

  Each channel d is bounded by a shifted tanh to L_d values and rounded; codes are normalised
  to [-1, 1] by L_d // 2. For odd L the grid is {-(L-1)/2, ..., (L-1)/2} / (L//2); for even L
  it is {-L/2, ..., L/2 - 1} / (L/2). The codebook is the implicit product grid.
  """
  levels: tuple[Annotated[int, Range(2)], ...]
  eps: PositiveFloat = 1e-3

  def __post_init__(self):
    check_fields(self)
    if not self.levels:
      raise ConfigError("levels", self.levels, "FSQ needs at least one level")
    if math.prod(self.levels) > _MAX_CODEBOOK:
      raise ConfigError("levels", self.levels, f"the codebook, {math.prod(self.levels)}, does not fit int32 indices")

  @property
  def dim(self) -> int:
    return len(self.levels)

  @property
  def codebook_size(self) -> int:
    return math.prod(self.levels)

  def _constants(self):
    levels = jnp.asarray(self.levels, jnp.float32)
    half_l = (levels - 1) * (1 + self.eps) / 2
    offset = jnp.where(jnp.asarray(self.levels) % 2 == 0, 0.5, 0.0).astype(jnp.float32)
    shift = jnp.arctanh(offset / half_l)
    half_width = jnp.asarray([level // 2 for level in self.levels], jnp.float32)
    return half_l, offset, shift, half_width

  def _basis(self) -> jax.Array:
    basis = [1]
    for level in self.levels[:-1]:
      basis.append(basis[-1] * level)
    return jnp.asarray(basis, jnp.int32)

  def bound(self, z: jax.Array) -> jax.Array:
    """Shifted tanh bound: rounding the result lands exactly on the L-level grid."""
    half_l, offset, shift, _ = self._constants()
    return jnp.tanh(z + shift) * half_l - offset

  def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    _check_dim(z, self.dim, "FSQ")
    _, _, _, half_width = self._constants()
    bounded = self.bound(z.astype(jnp.float32))
    rounded = jnp.round(bounded)
    z_q = _straight_through(rounded, bounded) / half_width
    digits = (jax.lax.stop_gradient(rounded) + half_width).astype(jnp.int32)
    indices = jnp.sum(digits * self._basis(), axis=-1).astype(jnp.int32)
    return z_q.astype(z.dtype), indices

  def codes_to_indices(self, codes: jax.Array) -> jax.Array:
    _check_dim(codes, self.dim, "FSQ")
    _, _, _, half_width = self._constants()
    digits = jnp.round(codes.astype(jnp.float32) * half_width + half_width).astype(jnp.int32)
    return jnp.sum(digits * self._basis(), axis=-1).astype(jnp.int32)

  def indices_to_codes(self, indices: jax.Array) -> jax.Array:
    _, _, _, half_width = self._constants()
    indices = jnp.asarray(indices, jnp.int32)[..., None]
    digits = (indices // self._basis()) % jnp.asarray(self.levels, jnp.int32)
    return (digits.astype(jnp.float32) - half_width) / half_width

  def implicit_codebook(self) -> jax.Array:
    """All codes, (codebook_size, dim), in index order."""
    return self.indices_to_codes(jnp.arange(self.codebook_size, dtype=jnp.int32))

  def aux_loss(self, z: jax.Array) -> jax.Array:
    """FSQ needs no auxiliary loss."""
    del z
    return jnp.zeros((), jnp.float32)


# ----------------------------------------------------------------------------------------- LFQ


def _binary_entropy_from_logits(logits: jax.Array) -> jax.Array:
  """H(sigmoid(l)) in nats, stable for large |l|: p*softplus(-l) + (1-p)*softplus(l)."""
  p = jax.nn.sigmoid(logits)
  return p * jax.nn.softplus(-logits) + (1 - p) * jax.nn.softplus(logits)


def _binary_entropy(p: jax.Array, eps: float = 1e-6) -> jax.Array:
  p = jnp.clip(p, eps, 1 - eps)
  return -(p * jnp.log(p) + (1 - p) * jnp.log1p(-p))


@dataclasses.dataclass(frozen=True)
class LFQ:
  """Lookup-free quantization (Yu et al. 2023, MAGVIT-v2, arXiv:2310.05737).

  Codes are {-1, +1}^bits (sign of z, 0 -> +1); index = sum_b [z_q_b > 0] 2^b. The auxiliary
  loss is entropy_weight * (E[H(q(z))] - diversity_gamma * H(E[q(z)])) + commit_weight *
  mean((z - sg(z_q))^2), with q(z) = softmax_c(-||z - c||^2 / temperature) over all codes.

  Because ||z - c||^2 = sum_b (z_b - c_b)^2, q(z) factorises into independent bits with
  q(c_b = +1) = sigmoid(((z_b + 1)^2 - (z_b - 1)^2) / T) = sigmoid(4 z_b / T); the per-sample
  entropy is therefore exactly the sum of per-bit binary entropies. The codebook (batch)
  entropy uses the same per-bit factorisation on the batch-mean bit probabilities: exact when
  the bits of the mean distribution are independent, otherwise an upper bound.
  """
  bits: Annotated[int, Range(1, 30)]
  entropy_weight: NonNegativeFloat = 0.1
  commit_weight: NonNegativeFloat = 0.25
  diversity_gamma: NonNegativeFloat = 1.0
  temperature: PositiveFloat = 0.01

  def __post_init__(self):
    check_fields(self)

  @property
  def dim(self) -> int:
    return self.bits

  @property
  def codebook_size(self) -> int:
    return 2**self.bits

  def _powers(self) -> jax.Array:
    return jnp.left_shift(jnp.int32(1), jnp.arange(self.bits, dtype=jnp.int32))

  def __call__(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    _check_dim(z, self.bits, "LFQ")
    positive = z >= 0
    hard = jnp.where(positive, 1.0, -1.0).astype(z.dtype)
    z_q = _straight_through(hard, z)
    indices = jnp.sum(positive.astype(jnp.int32) * self._powers(), axis=-1).astype(jnp.int32)
    return z_q, indices

  def codes_to_indices(self, codes: jax.Array) -> jax.Array:
    _check_dim(codes, self.bits, "LFQ")
    return jnp.sum((codes > 0).astype(jnp.int32) * self._powers(), axis=-1).astype(jnp.int32)

  def indices_to_codes(self, indices: jax.Array) -> jax.Array:
    indices = jnp.asarray(indices, jnp.int32)[..., None]
    bit = jnp.right_shift(indices, jnp.arange(self.bits, dtype=jnp.int32)) & 1
    return bit.astype(jnp.float32) * 2 - 1

  def entropy_terms(self, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean per-sample entropy H(q(z)), codebook entropy H(E[q(z)])), in nats, per-bit form."""
    _check_dim(z, self.bits, "LFQ")
    logits = 4 * z.astype(jnp.float32) / self.temperature
    per_sample = jnp.mean(jnp.sum(_binary_entropy_from_logits(logits), axis=-1))
    mean_p = jnp.mean(jax.nn.sigmoid(logits).reshape(-1, self.bits), axis=0)
    codebook = jnp.sum(_binary_entropy(mean_p))
    return per_sample, codebook

  def aux_loss(self, z: jax.Array) -> jax.Array:
    """Entropy penalty plus commitment loss (MAGVIT-v2 Eq. 5 style), float32 scalar."""
    per_sample, codebook = self.entropy_terms(z)
    z32 = z.astype(jnp.float32)
    z_q, _ = self(z32)
    commit = jnp.mean((z32 - jax.lax.stop_gradient(z_q)) ** 2)
    entropy = per_sample - self.diversity_gamma * codebook
    return self.entropy_weight * entropy + self.commit_weight * commit


# ------------------------------------------------------------------------------------ registry

QUANTIZERS = {"fsq": FSQ, "lfq": LFQ}


def make_quantizer(kind: str, **kwargs) -> FSQ | LFQ:
  """Build a quantizer by name ("fsq" or "lfq") from its keyword arguments."""
  if kind not in QUANTIZERS:
    raise ValueError(f"unknown quantizer {kind!r}; valid kinds: {', '.join(sorted(QUANTIZERS))}")
  return QUANTIZERS[kind](**kwargs)
