"""The MAGVIT-style 3D-CNN video autoencoder of the adaptive tokenizer: ResBlock3D, the encoder,
the decoder and the `MagvitSpec` config (whose clip_grid gives the latent grid of a clip).

Conventions:
- Videos are (B, T, H, W, C) channels-last floats; latents are (B, t, h, w, latent_dim) with
  (t, h, w) = (T / ft, H / fs, W / fs), (ft, fs) = (2**#temporal downsamples, 2**#spatial ones).
- Every convolution is an nnx.Conv with 'SAME' zero padding on all three axes (plain same padding,
  not MAGVIT-v2's causal temporal padding: the first/last frames see zero frames in time).
  Feature convolutions are 3x3x3; the latent projection and the ResBlock shortcut are 1x1x1.
- Downsampling is a strided 3x3x3 conv, stride (2 or 1, 2 or 1, 2 or 1) on (T, H, W). Upsampling
  in the decoder is nearest-neighbour repetition along the upsampled axes followed by a 3x3x3
  conv (not depth-to-space).
- GroupNorm uses the largest number of groups <= 32 that divides the channel count
  (`group_count`), epsilon 1e-6; the nonlinearity is swish (x * sigmoid(x)).
- Parameters are float32 (PARAM_DTYPE); `dtype` is the compute dtype. Encoder latents and decoder
  reconstructions are returned in float32.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from lvmae.validation import ConfigError, PositiveInt, check_choice, check_divisible, check_fields

PARAM_DTYPE = jnp.float32
MAX_GROUPS = 32


def group_count(channels: int, max_groups: int = MAX_GROUPS) -> int:
  """The largest divisor of `channels` that is <= max_groups (GroupNorm's num_groups)."""
  if channels < 1:
    raise ValueError(f"channels={channels} must be >= 1")
  return max(g for g in range(1, min(max_groups, channels) + 1) if channels % g == 0)


def _conv(din: int, dout: int, kernel: int, dtype, rngs: nnx.Rngs,
          strides: Sequence[int] = (1, 1, 1)) -> nnx.Conv:
  return nnx.Conv(din, dout, kernel_size=(kernel,) * 3, strides=tuple(strides), padding="SAME",
                  dtype=dtype, param_dtype=PARAM_DTYPE, rngs=rngs)


def _groupnorm(channels: int, dtype, rngs: nnx.Rngs) -> nnx.GroupNorm:
  return nnx.GroupNorm(channels, num_groups=group_count(channels), epsilon=1e-6, dtype=dtype,
                       param_dtype=PARAM_DTYPE, use_fast_variance=False, rngs=rngs)


def _check_stages(channel_multipliers, temporal, spatial, names: tuple[str, str]) -> None:
  if not channel_multipliers:
    raise ValueError("channel_multipliers must not be empty")
  for name, flags in zip(names, (temporal, spatial)):
    if len(flags) != len(channel_multipliers) - 1:
      raise ValueError(f"len({name})={len(flags)} must be len(channel_multipliers) - 1 = "
                       f"{len(channel_multipliers) - 1}")


class ResBlock3D(nnx.Module):
  """GroupNorm -> swish -> conv3 -> GroupNorm -> swish -> conv3, plus the input (through a 1x1x1
  conv shortcut when in_ch != out_ch)."""

  def __init__(self, in_ch: int, out_ch: int, *, dtype=jnp.float32, rngs: nnx.Rngs):
    self.norm1 = _groupnorm(in_ch, dtype, rngs)
    self.conv1 = _conv(in_ch, out_ch, 3, dtype, rngs)
    self.norm2 = _groupnorm(out_ch, dtype, rngs)
    self.conv2 = _conv(out_ch, out_ch, 3, dtype, rngs)
    self.shortcut = _conv(in_ch, out_ch, 1, dtype, rngs) if in_ch != out_ch else None

  def __call__(self, x: jax.Array) -> jax.Array:
    h = self.conv1(jax.nn.swish(self.norm1(x)))
    h = self.conv2(jax.nn.swish(self.norm2(h)))
    skip = x if self.shortcut is None else self.shortcut(x)
    return skip + h


class Upsample3D(nnx.Module):
  """Nearest-neighbour repeat x2 along the chosen axes of (T, H, W), then a 3x3x3 conv."""

  def __init__(self, channels: int, temporal: bool, spatial: bool, *, dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.temporal, self.spatial = bool(temporal), bool(spatial)
    self.conv = _conv(channels, channels, 3, dtype, rngs)

  def __call__(self, x: jax.Array) -> jax.Array:
    if self.temporal:
      x = jnp.repeat(x, 2, axis=1)
    if self.spatial:
      x = jnp.repeat(jnp.repeat(x, 2, axis=2), 2, axis=3)
    return self.conv(x)


class MagvitEncoder(nnx.Module):
  """conv_in -> per stage: num_res_blocks ResBlocks at base * mult[i] channels, then (except after
  the last stage) a strided 3x3x3 downsampling conv -> num_res_blocks middle ResBlocks ->
  GroupNorm -> swish -> 1x1x1 conv to latent_dim. (B, T, H, W, C) -> (B, t, h, w, latent_dim)."""

  def __init__(self, in_channels: int, base_channels: int, channel_multipliers: tuple[int, ...],
               num_res_blocks: int, temporal_downsample: tuple[bool, ...],
               spatial_downsample: tuple[bool, ...], latent_dim: int, *, dtype=jnp.float32,
               rngs: nnx.Rngs):
    _check_stages(channel_multipliers, temporal_downsample, spatial_downsample,
                  ("temporal_downsample", "spatial_downsample"))
    self.temporal_downsample = tuple(bool(f) for f in temporal_downsample)
    self.spatial_downsample = tuple(bool(f) for f in spatial_downsample)
    widths = [base_channels * m for m in channel_multipliers]
    self.conv_in = _conv(in_channels, widths[0], 3, dtype, rngs)
    stages, downs = [], []
    ch = widths[0]
    for i, width in enumerate(widths):
      blocks = []
      for _ in range(num_res_blocks):
        blocks.append(ResBlock3D(ch, width, dtype=dtype, rngs=rngs))
        ch = width
      stages.append(nnx.List(blocks))
      if i < len(widths) - 1:
        st = 2 if self.temporal_downsample[i] else 1
        ss = 2 if self.spatial_downsample[i] else 1
        downs.append(_conv(ch, ch, 3, dtype, rngs, strides=(st, ss, ss)))
    self.stages = nnx.List(stages)
    self.downsamples = nnx.List(downs)
    self.mid = nnx.List([ResBlock3D(ch, ch, dtype=dtype, rngs=rngs)
                         for _ in range(num_res_blocks)])
    self.norm_out = _groupnorm(ch, dtype, rngs)
    self.conv_out = _conv(ch, latent_dim, 1, dtype, rngs)

  @property
  def downsample_factors(self) -> tuple[int, int]:
    """(ft, fs): total temporal and spatial (per H and W) downsampling."""
    return 2 ** sum(self.temporal_downsample), 2 ** sum(self.spatial_downsample)

  def latent_grid(self, video_shape_thw: Sequence[int]) -> tuple[int, int, int]:
    """(T, H, W) -> (t, h, w) of the latents; each stride-2 SAME conv maps n to ceil(n / 2)."""
    t, h, w = video_shape_thw
    for temporal, spatial in zip(self.temporal_downsample, self.spatial_downsample):
      if temporal:
        t = -(-t // 2)
      if spatial:
        h, w = -(-h // 2), -(-w // 2)
    return t, h, w

  def __call__(self, video: jax.Array) -> jax.Array:
    x = self.conv_in(video)
    for i, blocks in enumerate(self.stages):
      for block in blocks:
        x = block(x)
      if i < len(self.downsamples):
        x = self.downsamples[i](x)
    for block in self.mid:
      x = block(x)
    x = self.conv_out(jax.nn.swish(self.norm_out(x)))
    return x.astype(jnp.float32)


class MagvitDecoder(nnx.Module):
  """The encoder's mirror: 3x3x3 conv_in from latent_dim -> num_res_blocks middle ResBlocks ->
  stages in reverse: num_res_blocks ResBlocks at base * mult[i], then (except after stage 0) the
  upsampling that undoes the encoder's downsample i-1 -> GroupNorm -> swish -> 3x3x3 conv_out.
  (B, t, h, w, latent_dim) -> (B, T, H, W, out_channels) float32."""

  def __init__(self, out_channels: int, base_channels: int, channel_multipliers: tuple[int, ...],
               num_res_blocks: int, temporal_upsample: tuple[bool, ...],
               spatial_upsample: tuple[bool, ...], latent_dim: int, *, dtype=jnp.float32,
               rngs: nnx.Rngs):
    _check_stages(channel_multipliers, temporal_upsample, spatial_upsample,
                  ("temporal_upsample", "spatial_upsample"))
    widths = [base_channels * m for m in channel_multipliers]
    ch = widths[-1]
    self.conv_in = _conv(latent_dim, ch, 3, dtype, rngs)
    self.mid = nnx.List([ResBlock3D(ch, ch, dtype=dtype, rngs=rngs)
                         for _ in range(num_res_blocks)])
    stages, ups = [], []
    for i in reversed(range(len(widths))):
      blocks = []
      for _ in range(num_res_blocks):
        blocks.append(ResBlock3D(ch, widths[i], dtype=dtype, rngs=rngs))
        ch = widths[i]
      stages.append(nnx.List(blocks))
      if i > 0:
        ups.append(Upsample3D(ch, temporal_upsample[i - 1], spatial_upsample[i - 1], dtype=dtype,
                              rngs=rngs))
    self.stages = nnx.List(stages)
    self.upsamples = nnx.List(ups)
    self.norm_out = _groupnorm(ch, dtype, rngs)
    self.conv_out = _conv(ch, out_channels, 3, dtype, rngs)

  def __call__(self, latents: jax.Array) -> jax.Array:
    x = self.conv_in(latents)
    for block in self.mid:
      x = block(x)
    for i, blocks in enumerate(self.stages):
      for block in blocks:
        x = block(x)
      if i < len(self.upsamples):
        x = self.upsamples[i](x)
    x = self.conv_out(jax.nn.swish(self.norm_out(x)))
    return x.astype(jnp.float32)


@dataclasses.dataclass(frozen=True)
class MagvitSpec:
  """The autoencoder's architecture; the decoder mirrors the encoder's downsampling flags."""
  base_channels: PositiveInt
  channel_multipliers: tuple[PositiveInt, ...]
  num_res_blocks: PositiveInt
  temporal_downsample: tuple[bool, ...]
  spatial_downsample: tuple[bool, ...]
  latent_dim: PositiveInt
  dtype: str = "float32"

  def __post_init__(self):
    check_fields(self)
    try:
      _check_stages(self.channel_multipliers, self.temporal_downsample, self.spatial_downsample,
                    ("temporal_downsample", "spatial_downsample"))
    except ValueError as e:
      raise ConfigError("channel_multipliers", self.channel_multipliers, str(e)) from None
    check_choice("dtype", self.dtype, ("float32", "bfloat16"))

  @property
  def factors(self) -> tuple[int, int]:
    """(ft, fs) = (2**#temporal downsamples, 2**#spatial downsamples)."""
    temporal = sum(bool(f) for f in self.temporal_downsample)
    spatial = sum(bool(f) for f in self.spatial_downsample)
    return 2 ** temporal, 2 ** spatial

  def clip_grid(self, num_frames: int, image_size: int) -> tuple[int, int, int]:
    """The latent grid (t, h, w) of (num_frames, image_size, image_size) clips; a ConfigError
    naming sampling.num_frames or data.image_size when it is not a whole number of latent cells."""
    ft, fs = self.factors
    check_divisible("sampling.num_frames", num_frames, ft, "the autoencoder's temporal factor")
    check_divisible("data.image_size", image_size, fs, "the autoencoder's spatial factor")
    return num_frames // ft, image_size // fs, image_size // fs


def encoder_from_spec(spec: MagvitSpec, in_channels: int, rngs: nnx.Rngs) -> MagvitEncoder:
  return MagvitEncoder(in_channels, spec.base_channels, tuple(spec.channel_multipliers),
                       spec.num_res_blocks, tuple(spec.temporal_downsample),
                       tuple(spec.spatial_downsample), spec.latent_dim,
                       dtype=jnp.dtype(spec.dtype), rngs=rngs)


def decoder_from_spec(spec: MagvitSpec, out_channels: int, rngs: nnx.Rngs) -> MagvitDecoder:
  return MagvitDecoder(out_channels, spec.base_channels, tuple(spec.channel_multipliers),
                       spec.num_res_blocks, tuple(spec.temporal_downsample),
                       tuple(spec.spatial_downsample), spec.latent_dim,
                       dtype=jnp.dtype(spec.dtype), rngs=rngs)

