"""Tests for lvmae.tokenizer.magvit: the 3D-CNN autoencoder's grids, shapes, params, gradients."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from lvmae.models.vit import count_params
from lvmae.tokenizer.magvit import (
    MagvitDecoder, MagvitEncoder, MagvitSpec, ResBlock3D, decoder_from_spec,
    encoder_from_spec, group_count)
from lvmae.validation import ConfigError

# clip (T, H, W), multipliers, temporal flags, spatial flags, expected latent grid
SPECS = [
    ((8, 16, 16), (1, 1, 1), (True, False), (True, True), (4, 4, 4)),
    ((4, 8, 8), (1,), (), (), (4, 8, 8)),
    ((8, 8, 8), (1, 1), (False,), (True,), (8, 4, 4)),
]
# Eager parameter init compiles once per distinct kernel shape (about 2 s each on a busy CPU), so
# the tests keep every width at C = 4 (video channels, base channels and latent_dim alike).
C = 4


def _spec(mults, temporal, spatial, latent_dim=C, dtype="float32"):
  return MagvitSpec(base_channels=4, channel_multipliers=mults, num_res_blocks=1,
                    temporal_downsample=temporal, spatial_downsample=spatial,
                    latent_dim=latent_dim, dtype=dtype)


@nnx.jit
def _encode(encoder, video):
  return encoder(video)


@nnx.jit
def _decode(decoder, latents):
  return decoder(latents)


@pytest.mark.parametrize("clip,mults,temporal,spatial,grid", SPECS)
def test_encoder_grid_and_decoder_round_trip_shape(clip, mults, temporal, spatial, grid):
  spec = _spec(mults, temporal, spatial)
  encoder = encoder_from_spec(spec, in_channels=C, rngs=nnx.Rngs(0))
  decoder = decoder_from_spec(spec, out_channels=C, rngs=nnx.Rngs(1))
  video = jax.random.normal(jax.random.key(0), (2, *clip, C))
  latents = _encode(encoder, video)
  assert latents.shape == (2, *grid, C)
  assert latents.dtype == jnp.float32
  assert encoder.latent_grid(clip) == grid
  assert encoder.downsample_factors == spec.factors
  assert tuple(c // g for c, g in zip(clip, grid)) == (spec.factors[0],) + (spec.factors[1],) * 2
  recon = _decode(decoder, latents)
  assert recon.shape == video.shape
  assert recon.dtype == jnp.float32
  assert np.all(np.isfinite(np.asarray(recon)))
  assert spec.clip_grid(clip[0], clip[1]) == grid  # square clips


def test_latent_grid_rounds_up_like_same_padding():
  encoder = MagvitEncoder(C, C, (1, 1), 1, (True,), (True,), C, rngs=nnx.Rngs(0))
  out = encoder(jnp.zeros((1, 3, 6, 5, C)))
  assert encoder.latent_grid((3, 6, 5)) == (2, 3, 3) == out.shape[1:4]


def test_spec_factors():
  assert _spec((1, 1, 2), (True, False), (True, True)).factors == (2, 4)
  assert _spec((1, 2, 2, 4), (True, True, True), (True, True, False)).factors == (8, 4)
  assert _spec((1,), (), ()).factors == (1, 1)


def test_group_count_is_largest_divisor_up_to_32():
  assert [group_count(c) for c in (1, 3, 4, 8, 40, 48, 64, 96, 100)] == [
      1, 3, 4, 8, 20, 24, 32, 32, 25]


def test_resblock_param_count():
  # GroupNorm(c): 2c; conv3 (i -> o): 27*i*o + o; shortcut conv1 (i -> o): i*o + o.
  with_shortcut = (2 * 4) + (27 * 4 * 8 + 8) + (2 * 8) + (27 * 8 * 8 + 8) + (4 * 8 + 8)
  assert with_shortcut == 2672
  # nnx.eval_shape: abstract parameters, no initializer compiles
  assert count_params(nnx.eval_shape(lambda: ResBlock3D(4, 8, rngs=nnx.Rngs(0)))) == with_shortcut
  without = (2 * 8) + (27 * 8 * 8 + 8) + (2 * 8) + (27 * 8 * 8 + 8)
  block = nnx.eval_shape(lambda: ResBlock3D(8, 8, rngs=nnx.Rngs(0)))
  assert block.shortcut is None
  assert count_params(block) == without == 3504
  assert block.norm1.num_groups == 8


def test_channel_changes_trace_abstractly():
  """Width changes (the 1x1x1 shortcut, mult 2 stages) checked with eval_shape: no compiles."""
  out = nnx.eval_shape(lambda: ResBlock3D(4, 8, rngs=nnx.Rngs(0))(jnp.zeros((1, 2, 4, 4, 4))))
  assert out.shape == (1, 2, 4, 4, 8)
  spec = MagvitSpec(4, (1, 2, 4), 2, (True, True), (False, True), 6)

  def round_trip():
    rngs = nnx.Rngs(0)
    latents = encoder_from_spec(spec, 3, rngs)(jnp.zeros((2, 8, 8, 8, 3)))
    return latents, decoder_from_spec(spec, 3, rngs)(latents)

  latents, recon = nnx.eval_shape(round_trip)
  assert latents.shape == (2, 2, 4, 4, 6)
  assert recon.shape == (2, 8, 8, 8, 3)


def test_bfloat16_compute_keeps_float32_params_and_outputs():
  spec = _spec((1, 1), (True,), (True,), dtype="bfloat16")
  encoder = encoder_from_spec(spec, C, nnx.Rngs(0))
  leaves = jax.tree.leaves(nnx.state(encoder, nnx.Param))
  assert leaves and all(x.dtype == jnp.float32 for x in leaves)
  assert encoder.conv_in.dtype == jnp.bfloat16
  assert encoder(jnp.ones((1, 2, 4, 4, C))).dtype == jnp.float32


def test_clip_grid_errors_name_the_field():
  spec = _spec((1, 1, 2), (True, False), (True, True))  # factors (2, 4)
  assert spec.clip_grid(16, 32) == (8, 8, 8)
  with pytest.raises(ConfigError) as err:
    spec.clip_grid(15, 32)  # T not divisible by ft = 2
  assert err.value.field == "sampling.num_frames"
  with pytest.raises(ConfigError) as err:
    spec.clip_grid(16, 30)  # H not divisible by fs = 4
  assert err.value.field == "data.image_size"


def test_stage_flag_lengths_are_checked():
  with pytest.raises(ValueError, match="temporal_downsample"):
    MagvitEncoder(3, 4, (1, 2), 1, (True, True), (True,), 2, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="spatial_upsample"):
    MagvitDecoder(3, 4, (1, 2), 1, (True,), (), 2, rngs=nnx.Rngs(0))


def test_round_trip_gradients_flow_to_encoder_and_decoder():
  spec = _spec((1, 1), (True,), (True,))
  encoder = encoder_from_spec(spec, C, nnx.Rngs(0))
  decoder = decoder_from_spec(spec, C, nnx.Rngs(1))
  video = jax.random.normal(jax.random.key(1), (1, 4, 8, 8, C))

  @nnx.jit
  def grads(encoder, decoder, video):
    def loss_fn(encoder, decoder):
      return jnp.mean(jnp.square(decoder(encoder(video)) - video))
    return nnx.value_and_grad(loss_fn, argnums=(0, 1))(encoder, decoder)

  loss, (g_enc, g_dec) = grads(encoder, decoder, video)
  assert np.isfinite(float(loss)) and float(loss) > 0
  for g in (g_enc, g_dec):
    leaves = [np.asarray(x) for x in jax.tree.leaves(nnx.state(g, nnx.Param))]
    assert leaves
    assert all(np.all(np.isfinite(x)) for x in leaves)
    assert sum(float(np.sum(np.abs(x))) for x in leaves) > 0
  # the first conv of the encoder gets a gradient, so it reaches through the whole network
  assert float(jnp.sum(jnp.abs(g_enc.conv_in.kernel[...]))) > 0
