"""The tokenizer's training losses: pixel reconstruction (L1 / L2), the 3D-CNN GAN discriminator
with hinge losses and the GAN warm-up weight, the perceptual loss over a user-supplied feature
network file, and the Frechet distance (FVD's formula, in numpy).

Conventions:
- Videos are (B, T, H, W, C) channels-last floats in [0, 1]; losses are float32 scalars.
- The discriminator follows MAGVIT (Yu et al., 2023) / MAGVIT-v2 (Yu et al., 2024), which use a
  StyleGAN2-style (Karras et al., 2020) residual discriminator with 3D convolutions, trained with
  the hinge loss (Lim & Ye, 2017). Here it is kept small: no normalisation, no minibatch-stddev.
- The perceptual loss is LPIPS-style (Zhang et al., 2018) with unit channel weights, over any 2D
  conv stack stored in an `.npz` file (see `FeatureNetwork`). Nothing is ever downloaded: the
  caller supplies the file (e.g. VGG weights converted offline).
- `frechet_distance` is the FID/FVD distance between two Gaussians (Heusel et al., 2017;
  Unterthiner et al., 2018); it is plain numpy (no scipy) with the matrix square roots taken
  by symmetric eigendecomposition.
"""
from __future__ import annotations

import math
import operator
import os
import re
from typing import Sequence

import numpy as np
import jax
import jax.numpy as jnp
from flax import nnx

from lvmae.tokenizer.magvit import PARAM_DTYPE, _conv

RECON_KINDS = ("l1", "l2")
LEAKY_SLOPE = 0.2


# --- reconstruction -----------------------------------------------------------------------------

def reconstruction_loss(kind: str, recon: jax.Array, target: jax.Array) -> jax.Array:
  """Mean absolute ("l1") or mean squared ("l2") error over all elements, float32 scalar."""
  if kind not in RECON_KINDS:
    raise ValueError(f"unknown reconstruction loss {kind!r}; valid kinds: {RECON_KINDS}")
  diff = jnp.asarray(recon, jnp.float32) - jnp.asarray(target, jnp.float32)
  return jnp.mean(jnp.abs(diff)) if kind == "l1" else jnp.mean(jnp.square(diff))


# --- GAN ----------------------------------------------------------------------------------------

class DiscriminatorBlock(nnx.Module):
  """A StyleGAN2-style residual down block: conv3 -> leaky -> strided conv3 -> leaky, plus a
  strided 1x1x1 conv shortcut; the sum is scaled by 1/sqrt(2). Stride 2 on T, H and W: with SAME
  padding an axis of size 1 stays size 1, which is the same as not striding it."""

  def __init__(self, in_ch: int, out_ch: int, *, dtype=jnp.float32, rngs: nnx.Rngs):
    self.conv1 = _conv(in_ch, in_ch, 3, dtype, rngs)
    self.conv2 = _conv(in_ch, out_ch, 3, dtype, rngs, strides=(2, 2, 2))
    self.shortcut = _conv(in_ch, out_ch, 1, dtype, rngs, strides=(2, 2, 2))

  def __call__(self, x: jax.Array) -> jax.Array:
    h = jax.nn.leaky_relu(self.conv1(x), LEAKY_SLOPE)
    h = jax.nn.leaky_relu(self.conv2(h), LEAKY_SLOPE)
    return (h + self.shortcut(x)) * (1.0 / math.sqrt(2.0))


class Discriminator3D(nnx.Module):
  """conv_in (3x3x3, base channels) -> leaky -> num_layers residual down blocks (channels double
  each block, capped at 8 * base) -> global mean pool over (T, H, W) -> linear to one logit.
  (B, T, H, W, C) -> (B,) float32 logits."""

  def __init__(self, in_channels: int, base_channels: int, num_layers: int, *,
               dtype=jnp.float32, rngs: nnx.Rngs):
    if in_channels < 1 or base_channels < 1 or num_layers < 0:
      raise ValueError(f"in_channels={in_channels} and base_channels={base_channels} must be "
                       f">= 1 and num_layers={num_layers} >= 0")
    self.conv_in = _conv(in_channels, base_channels, 3, dtype, rngs)
    blocks, ch = [], base_channels
    for i in range(num_layers):
      out = base_channels * min(2 ** (i + 1), 8)
      blocks.append(DiscriminatorBlock(ch, out, dtype=dtype, rngs=rngs))
      ch = out
    self.blocks = nnx.List(blocks)
    self.head = nnx.Linear(ch, 1, dtype=dtype, param_dtype=PARAM_DTYPE, rngs=rngs)

  def __call__(self, video: jax.Array) -> jax.Array:
    x = jax.nn.leaky_relu(self.conv_in(video), LEAKY_SLOPE)
    for block in self.blocks:
      x = block(x)
    pooled = jnp.mean(x.astype(jnp.float32), axis=(1, 2, 3))
    return self.head(pooled)[:, 0].astype(jnp.float32)


def discriminator_hinge_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
  """mean(relu(1 - real)) + mean(relu(1 + fake)) (hinge loss, Lim & Ye 2017; as in MAGVIT)."""
  real = jnp.asarray(real_logits, jnp.float32)
  fake = jnp.asarray(fake_logits, jnp.float32)
  return jnp.mean(jax.nn.relu(1.0 - real)) + jnp.mean(jax.nn.relu(1.0 + fake))


def generator_hinge_loss(fake_logits: jax.Array) -> jax.Array:
  """-mean(fake): the generator's side of the hinge GAN."""
  return -jnp.mean(jnp.asarray(fake_logits, jnp.float32))


def gan_weight(step, start_step: int, weight: float) -> jax.Array:
  """`weight` once step >= start_step, else 0.0, as a float32 scalar (`step` may be traced)."""
  return jnp.where(jnp.asarray(step) >= start_step, jnp.float32(weight), jnp.float32(0.0))


# --- perceptual loss ----------------------------------------------------------------------------

_KEY = re.compile(r"conv(\d+)_(kernel|bias|stride)")
_EXTRA_KEYS = ("input_mean", "input_std")


class FeatureNetwork:
  """A 2D conv stack from an `.npz` file, used as a frozen feature extractor.

  File layout: for i = 0..L-1, `conv{i}_kernel` (kh, kw, cin, cout) with cin = 3 for layer 0 and
  the previous cout afterwards, `conv{i}_bias` (cout,), optional `conv{i}_stride` (a positive int
  scalar, default 1); optional `input_mean` and `input_std` (3,) applied to [0, 1] RGB input as
  (x - mean) / std. Every layer is a SAME-padded conv followed by ReLU.
  """

  def __init__(self, kernels: Sequence[np.ndarray], biases: Sequence[np.ndarray],
               strides: Sequence[int], mean: np.ndarray, std: np.ndarray, source: str = "<memory>"):
    self.kernels = [jnp.asarray(k, jnp.float32) for k in kernels]
    self.biases = [jnp.asarray(b, jnp.float32) for b in biases]
    self.strides = tuple(int(s) for s in strides)
    self.mean = jnp.asarray(mean, jnp.float32)
    self.std = jnp.asarray(std, jnp.float32)
    self.source = source

  @property
  def num_layers(self) -> int:
    return len(self.kernels)

  @staticmethod
  def save(path, kernels: Sequence, biases: Sequence, strides: Sequence[int] | None = None,
           mean=None, std=None) -> None:
    """Writes a network file that `load` accepts (validated the same way before writing)."""
    arrays = {}
    strides = [1] * len(kernels) if strides is None else list(strides)
    if not (len(kernels) == len(biases) == len(strides)):
      raise ValueError(f"got {len(kernels)} kernels, {len(biases)} biases, {len(strides)} strides")
    for i, (k, b, s) in enumerate(zip(kernels, biases, strides)):
      arrays[f"conv{i}_kernel"] = np.asarray(k, np.float32)
      arrays[f"conv{i}_bias"] = np.asarray(b, np.float32)
      arrays[f"conv{i}_stride"] = np.asarray(operator.index(s), np.int64)
    if mean is not None:
      arrays["input_mean"] = np.asarray(mean, np.float32)
    if std is not None:
      arrays["input_std"] = np.asarray(std, np.float32)
    _parse(arrays, str(path))
    with open(path, "wb") as f:
      np.savez(f, **arrays)

  @classmethod
  def load(cls, path) -> "FeatureNetwork":
    """Reads and validates a network file; FileNotFoundError / ValueError name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
      raise FileNotFoundError(f"feature network file not found: {path}")
    try:
      with np.load(path, allow_pickle=False) as data:
        arrays = {key: np.asarray(data[key]) for key in data.files}
    except (OSError, ValueError) as err:
      raise ValueError(f"{path}: not a readable .npz feature network file ({err})") from err
    return cls(*_parse(arrays, path), source=path)

  def features(self, frames: jax.Array) -> list[jax.Array]:
    """(..., H, W, 3) floats in [0, 1] -> per-layer ReLU feature maps, each (N, h_i, w_i, c_i)
    with N = prod(leading dims) (the frames of a video are folded into the batch)."""
    frames = jnp.asarray(frames, jnp.float32)
    if frames.ndim < 3 or frames.shape[-1] != 3:
      raise ValueError(f"frames must be (..., H, W, 3), got shape {frames.shape}")
    x = frames.reshape((-1,) + frames.shape[-3:])
    x = (x - self.mean) / self.std
    out = []
    for kernel, bias, stride in zip(self.kernels, self.biases, self.strides):
      x = jax.lax.conv_general_dilated(x, kernel, (stride, stride), "SAME",
                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
      x = jax.nn.relu(x + bias)
      out.append(x)
    return out


def _parse(arrays: dict, path: str):
  """Validated (kernels, biases, strides, mean, std) of a network's arrays; ValueError names the
  file and the offending key."""
  indices, unknown = set(), []
  for key in arrays:
    match = _KEY.fullmatch(key)
    if match:
      indices.add(int(match.group(1)))
    elif key not in _EXTRA_KEYS:
      unknown.append(key)
  if unknown:
    raise ValueError(f"{path}: unexpected key(s) {sorted(unknown)}; expected conv{{i}}_kernel, "
                     f"conv{{i}}_bias, conv{{i}}_stride, input_mean, input_std")
  num_layers = max(indices) + 1 if indices else 1
  kernels, biases, strides, cin = [], [], [], 3
  for i in range(num_layers):
    kkey, bkey, skey = f"conv{i}_kernel", f"conv{i}_bias", f"conv{i}_stride"
    for key in (kkey, bkey):
      if key not in arrays:
        raise ValueError(f"{path}: missing key {key!r} (layers 0..{num_layers - 1} are needed)")
    kernel, bias = arrays[kkey], arrays[bkey]
    if kernel.ndim != 4 or min(kernel.shape) < 1:
      raise ValueError(f"{path}: key {kkey!r} must be (kh, kw, cin, cout), got {kernel.shape}")
    if kernel.shape[2] != cin:
      raise ValueError(f"{path}: key {kkey!r} has {kernel.shape[2]} input channels, but "
                       f"{'the RGB input has 3' if i == 0 else f'layer {i - 1} outputs {cin}'}")
    if bias.shape != (kernel.shape[3],):
      raise ValueError(f"{path}: key {bkey!r} must have shape ({kernel.shape[3]},), "
                       f"got {bias.shape}")
    stride = arrays.get(skey, np.asarray(1))
    if (stride.shape != () or not np.issubdtype(stride.dtype, np.integer)
        or int(stride) < 1):
      raise ValueError(f"{path}: key {skey!r} must be a positive integer scalar, got {stride!r}")
    kernels.append(kernel)
    biases.append(bias)
    strides.append(int(stride))
    cin = kernel.shape[3]
  mean = arrays.get("input_mean", np.zeros(3, np.float32))
  std = arrays.get("input_std", np.ones(3, np.float32))
  for key, value in (("input_mean", mean), ("input_std", std)):
    if value.shape != (3,) or not np.all(np.isfinite(value)):
      raise ValueError(f"{path}: key {key!r} must be 3 finite values, got {value!r}")
  if np.any(std <= 0):
    raise ValueError(f"{path}: key 'input_std' must be positive, got {std!r}")
  return kernels, biases, strides, mean, std


def _unit_normalise(f: jax.Array, eps: float = 1e-10) -> jax.Array:
  """Feature vectors scaled to unit length over channels (finite gradient at zero)."""
  return f * jax.lax.rsqrt(jnp.sum(jnp.square(f), axis=-1, keepdims=True) + eps)


def perceptual_loss(net: FeatureNetwork, recon: jax.Array, target: jax.Array) -> jax.Array:
  """LPIPS-style distance with unit weights: per layer, unit-normalise features over channels,
  sum the squared difference over channels and average it over positions; sum over layers;
  average over batch and frames. recon, target: (..., H, W, 3) in [0, 1]. float32 scalar."""
  recon, target = jnp.asarray(recon), jnp.asarray(target)
  if recon.shape != target.shape:
    raise ValueError(f"recon {recon.shape} and target {target.shape} shapes differ")
  total = jnp.float32(0.0)
  for fr, ft in zip(net.features(recon), net.features(target)):
    d = jnp.sum(jnp.square(_unit_normalise(fr) - _unit_normalise(ft)), axis=-1)
    total = total + jnp.mean(d)
  return total


# --- Frechet distance ---------------------------------------------------------------------------

def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
  """(n, d) features -> (mean (d,), covariance (d, d) with the unbiased n - 1 denominator)."""
  x = np.asarray(features, np.float64)
  if x.ndim != 2 or x.shape[0] < 2:
    raise ValueError(f"features must be (n, d) with n >= 2, got shape {x.shape}")
  return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _sqrtm_psd(m: np.ndarray) -> np.ndarray:
  """Symmetric PSD square root by eigendecomposition; tiny negative eigenvalues clipped to 0."""
  w, v = np.linalg.eigh((m + m.T) / 2.0)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) between two Gaussians."""
  mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
  mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
  s1 = np.atleast_2d(np.asarray(sigma1, np.float64))
  s2 = np.atleast_2d(np.asarray(sigma2, np.float64))
  d = mu1.shape[0]
  if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
    raise ValueError(f"need mu (d,) and sigma (d, d) for both; got {mu1.shape}, {s1.shape}, "
                     f"{mu2.shape}, {s2.shape}")
  r1 = _sqrtm_psd(s1)
  cross = r1 @ s2 @ r1
  w = np.linalg.eigvalsh((cross + cross.T) / 2.0)
  tr_cross = np.sum(np.sqrt(np.clip(w, 0.0, None)))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_cross)
