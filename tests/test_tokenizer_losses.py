"""Tests for lvmae.tokenizer.losses: reconstruction and hinge losses, the discriminator, the
perceptual-loss feature network file and the Frechet distance."""
from __future__ import annotations

import numpy as np
import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from lvmae.tokenizer.losses import (
    RECON_KINDS, Discriminator3D, FeatureNetwork, discriminator_hinge_loss, feature_statistics,
    frechet_distance, gan_weight, generator_hinge_loss, perceptual_loss, reconstruction_loss)


# --- reconstruction and GAN losses --------------------------------------------------------------

def test_reconstruction_loss_matches_numpy():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 3, 4, 4, 3)), rng.normal(size=(2, 3, 4, 4, 3))
  np.testing.assert_allclose(reconstruction_loss("l1", a, b), np.mean(np.abs(a - b)), rtol=1e-5)
  np.testing.assert_allclose(reconstruction_loss("l2", a, b), np.mean((a - b) ** 2), rtol=1e-5)
  assert RECON_KINDS == ("l1", "l2")
  with pytest.raises(ValueError, match="l1"):
    reconstruction_loss("huber", a, b)


def test_hinge_losses_match_numpy():
  # Values on both sides of the margins +-1 (and on them).
  real = np.array([-2.0, -0.5, 0.0, 1.0, 1.5, 3.0], np.float32)
  fake = np.array([-3.0, -1.0, -0.2, 0.0, 0.7, 2.0], np.float32)
  want_d = np.mean(np.maximum(0, 1 - real)) + np.mean(np.maximum(0, 1 + fake))
  np.testing.assert_allclose(discriminator_hinge_loss(real, fake), want_d, rtol=1e-6)
  by_hand = (3 + 1.5 + 1) / 6 + (0.8 + 1 + 1.7 + 3) / 6
  np.testing.assert_allclose(discriminator_hinge_loss(real, fake), by_hand, rtol=1e-6)
  np.testing.assert_allclose(generator_hinge_loss(fake), -np.mean(fake), rtol=1e-6)
  # A perfect discriminator (beyond both margins) has zero loss.
  assert float(discriminator_hinge_loss(np.full(3, 2.0), np.full(3, -2.0))) == 0.0


def test_gan_weight_with_traced_step():
  f = jax.jit(lambda step: gan_weight(step, 10, 0.5))
  assert float(f(jnp.int32(9))) == 0.0
  assert float(f(jnp.int32(10))) == 0.5
  assert float(f(jnp.int32(11))) == 0.5
  assert f(jnp.int32(0)).dtype == jnp.float32
  assert float(gan_weight(3, 0, 0.1)) == pytest.approx(0.1)


def test_discriminator_shape_and_gradients():
  disc = Discriminator3D(3, 4, 2, rngs=nnx.Rngs(0))
  video = jax.random.uniform(jax.random.key(1), (2, 4, 8, 8, 3))

  @nnx.jit
  def logits_and_grads(d, v):
    def loss(d, v):
      logits = d(v)
      return jnp.mean(logits ** 2), logits
    return nnx.value_and_grad(loss, argnums=(0, 1), has_aux=True)(d, v)

  (value, logits), (g_params, g_video) = logits_and_grads(disc, video)
  assert logits.shape == (2,) and logits.dtype == jnp.float32
  assert np.all(np.isfinite(logits))
  # Clips differ -> logits differ (the logit depends on the clip, not only on the parameters).
  assert float(logits[0]) != float(logits[1])
  assert np.isfinite(float(value))
  leaves = jax.tree.leaves(nnx.state(g_params, nnx.Param))
  assert leaves and all(np.all(np.isfinite(g)) for g in leaves)
  assert any(float(jnp.abs(g).max()) > 0 for g in leaves)
  assert g_video.shape == video.shape and np.all(np.isfinite(g_video))
  assert float(jnp.abs(g_video).max()) > 0


# --- feature network and perceptual loss --------------------------------------------------------

def _np_conv_same(x, kernel, bias, stride):
  """Reference NHWC conv with TF/XLA 'SAME' padding, written as loops over kernel offsets."""
  n, h, w, _ = x.shape
  kh, kw, _, cout = kernel.shape
  oh, ow = -(-h // stride), -(-w // stride)
  ph, pw = max((oh - 1) * stride + kh - h, 0), max((ow - 1) * stride + kw - w, 0)
  xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
  out = np.zeros((n, oh, ow, cout))
  for i in range(kh):
    for j in range(kw):
      patch = xp[:, i:i + (oh - 1) * stride + 1:stride, j:j + (ow - 1) * stride + 1:stride]
      out += np.einsum("nhwc,cd->nhwd", patch, kernel[i, j])
  return np.maximum(out + bias, 0.0)


def _random_net(rng, strides=(1, 1)):
  kernels = [rng.normal(size=(3, 3, 3, 5)) * 0.3, rng.normal(size=(1, 1, 5, 4)) * 0.3]
  biases = [rng.normal(size=5) * 0.1, rng.normal(size=4) * 0.1]
  return kernels, biases, list(strides)


@pytest.mark.parametrize("strides", [(1, 1), (1, 2)])
def test_feature_network_round_trip_matches_numpy(tmp_path, strides):
  rng = np.random.default_rng(0)
  kernels, biases, strides = _random_net(rng, strides)
  mean, std = np.array([0.4, 0.5, 0.6]), np.array([0.2, 0.25, 0.3])
  path = tmp_path / "net.npz"
  FeatureNetwork.save(path, kernels, biases, strides=strides, mean=mean, std=std)
  net = FeatureNetwork.load(path)
  assert net.num_layers == 2 and net.strides == tuple(strides)
  video = rng.uniform(size=(2, 3, 6, 6, 3)).astype(np.float32)   # (B, T, H, W, 3)
  feats = net.features(video)
  x = ((video.reshape(6, 6, 6, 3) - mean) / std).astype(np.float64)
  for got, k, b, s in zip(feats, kernels, biases, strides):
    x = _np_conv_same(x, k, b, s)
    assert got.shape == x.shape
    np.testing.assert_allclose(np.asarray(got), x, rtol=1e-4, atol=1e-4)


def test_feature_network_defaults_without_optional_keys(tmp_path):
  rng = np.random.default_rng(1)
  kernels, biases, _ = _random_net(rng)
  path = tmp_path / "plain.npz"
  np.savez(path, conv0_kernel=kernels[0], conv0_bias=biases[0])
  net = FeatureNetwork.load(path)
  frames = rng.uniform(size=(2, 4, 4, 3))
  (got,) = net.features(frames)
  np.testing.assert_allclose(np.asarray(got), _np_conv_same(frames, kernels[0], biases[0], 1),
                             rtol=1e-4, atol=1e-4)


def test_perceptual_loss_zero_iff_identical(tmp_path):
  rng = np.random.default_rng(2)
  path = tmp_path / "net.npz"
  FeatureNetwork.save(path, *_random_net(rng)[:2])
  net = FeatureNetwork.load(path)
  a = rng.uniform(size=(2, 2, 6, 6, 3)).astype(np.float32)
  b = np.clip(a + rng.normal(scale=0.2, size=a.shape), 0, 1).astype(np.float32)
  assert float(perceptual_loss(net, a, a)) == 0.0
  loss = float(perceptual_loss(net, a, b))
  assert np.isfinite(loss) and loss > 0.0
  assert float(perceptual_loss(net, b, a)) == pytest.approx(loss, rel=1e-5)
  grad = jax.grad(lambda r: perceptual_loss(net, r, a))(jnp.asarray(b))
  assert np.all(np.isfinite(grad)) and float(jnp.abs(grad).max()) > 0


def test_feature_network_errors(tmp_path):
  rng = np.random.default_rng(3)
  kernels, biases, _ = _random_net(rng)
  missing = tmp_path / "nowhere" / "net.npz"
  with pytest.raises(FileNotFoundError, match=str(missing)):
    FeatureNetwork.load(missing)

  no_bias = tmp_path / "no_bias.npz"
  np.savez(no_bias, conv0_kernel=kernels[0], conv0_bias=biases[0], conv1_kernel=kernels[1])
  with pytest.raises(ValueError, match="conv1_bias") as err:
    FeatureNetwork.load(no_bias)
  assert str(no_bias) in str(err.value)

  mismatch = tmp_path / "mismatch.npz"
  np.savez(mismatch, conv0_kernel=kernels[0], conv0_bias=biases[0],
           conv1_kernel=rng.normal(size=(1, 1, 7, 4)), conv1_bias=biases[1])
  with pytest.raises(ValueError, match="conv1_kernel") as err:
    FeatureNetwork.load(mismatch)
  assert str(mismatch) in str(err.value)

  bad_bias = tmp_path / "bad_bias.npz"
  np.savez(bad_bias, conv0_kernel=kernels[0], conv0_bias=np.zeros(3))
  with pytest.raises(ValueError, match="conv0_bias"):
    FeatureNetwork.load(bad_bias)

  not_rgb = tmp_path / "not_rgb.npz"
  np.savez(not_rgb, conv0_kernel=rng.normal(size=(3, 3, 1, 2)), conv0_bias=np.zeros(2))
  with pytest.raises(ValueError, match="conv0_kernel"):
    FeatureNetwork.load(not_rgb)


# --- Frechet distance ---------------------------------------------------------------------------

def _random_cov(rng, d):
  a = rng.normal(size=(d, d))
  return a @ a.T + 0.1 * np.eye(d)


def test_frechet_distance_identical_is_zero():
  rng = np.random.default_rng(4)
  mu, sigma = rng.normal(size=5), _random_cov(rng, 5)
  assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_closed_forms():
  # 1-D: (m1 - m2)^2 + (s1 - s2)^2 with variances s^2.
  got = frechet_distance([1.0], [[4.0]], [-0.5], [[0.25]])
  assert got == pytest.approx(1.5 ** 2 + (2.0 - 0.5) ** 2, rel=1e-10)
  # Diagonal covariances: sum over dimensions of the 1-D formula.
  rng = np.random.default_rng(5)
  m1, m2 = rng.normal(size=4), rng.normal(size=4)
  s1, s2 = rng.uniform(0.1, 2, size=4), rng.uniform(0.1, 2, size=4)
  want = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)
  got = frechet_distance(m1, np.diag(s1 ** 2), m2, np.diag(s2 ** 2))
  assert got == pytest.approx(want, rel=1e-9)


def test_frechet_distance_symmetric_and_nonnegative():
  rng = np.random.default_rng(6)
  m1, m2 = rng.normal(size=6), rng.normal(size=6)
  s1, s2 = _random_cov(rng, 6), _random_cov(rng, 6)
  d12, d21 = frechet_distance(m1, s1, m2, s2), frechet_distance(m2, s2, m1, s1)
  assert d12 == pytest.approx(d21, rel=1e-8)
  assert d12 > 0
  # A rank-deficient covariance (tiny negative eigenvalues in round-off) stays finite.
  v = rng.normal(size=(6, 2))
  assert np.isfinite(frechet_distance(m1, v @ v.T, m2, s2))


def test_feature_statistics_matches_numpy():
  rng = np.random.default_rng(7)
  x = rng.normal(size=(50, 3))
  mu, sigma = feature_statistics(x)
  np.testing.assert_allclose(mu, x.mean(0))
  np.testing.assert_allclose(sigma, (x - x.mean(0)).T @ (x - x.mean(0)) / 49)
  mu1, sigma1 = feature_statistics(x[:, :1])
  assert sigma1.shape == (1, 1)
  stats = feature_statistics(x)
  assert frechet_distance(*stats, *stats) == pytest.approx(0, abs=1e-8)
