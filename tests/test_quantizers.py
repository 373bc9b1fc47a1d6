"""Tests of the FSQ and LFQ quantizers (lvmae/tokenizer/quantizers.py) against numpy references."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lvmae.tokenizer.quantizers import FSQ, LFQ, QUANTIZERS, make_quantizer

LEVEL_SETS = [(3,), (4,), (8, 5, 5, 5), (8, 6, 5), (7, 5, 5, 5, 5)]
EPS = 1e-3


def _fsq_ref(z, levels, eps=EPS):
  """Numpy FSQ: shifted tanh bound, round, normalise; mixed-radix indices."""
  levels = np.asarray(levels)
  half_l = (levels - 1) * (1 + eps) / 2
  offset = np.where(levels % 2 == 0, 0.5, 0.0)
  shift = np.arctanh(offset / half_l)
  half_width = levels // 2
  rounded = np.round(np.tanh(z + shift) * half_l - offset)
  basis = np.concatenate([[1], np.cumprod(levels[:-1])])
  indices = np.sum((rounded + half_width) * basis, axis=-1).astype(np.int64)
  return rounded / half_width, indices


def _fsq_grad_ref(z, levels, w, eps=EPS):
  levels = np.asarray(levels)
  half_l = (levels - 1) * (1 + eps) / 2
  offset = np.where(levels % 2 == 0, 0.5, 0.0)
  shift = np.arctanh(offset / half_l)
  return w * half_l * (1 - np.tanh(z + shift) ** 2) / (levels // 2)


# ----------------------------------------------------------------------------------------- FSQ


@pytest.mark.parametrize("levels", LEVEL_SETS)
def test_fsq_round_trip_every_index(levels):
  q = FSQ(levels)
  assert q.codebook_size == int(np.prod(levels))
  assert q.dim == len(levels)
  z = jnp.asarray(np.random.default_rng(0).normal(size=(64, len(levels))) * 3, jnp.float32)

  @jax.jit
  def run(z):
    codes = q.indices_to_codes(jnp.arange(q.codebook_size, dtype=jnp.int32))
    z_q, indices = q(z)
    return codes, q.codes_to_indices(codes), q.implicit_codebook(), z_q, q.indices_to_codes(indices)

  codes, back, implicit, z_q, z_q_from_idx = map(np.asarray, run(z))
  assert codes.shape == (q.codebook_size, len(levels))
  np.testing.assert_array_equal(back, np.arange(q.codebook_size))
  assert len(np.unique(codes, axis=0)) == q.codebook_size
  np.testing.assert_array_equal(implicit, codes)
  # The z_q of a quantized latent is exactly the code of its index.
  np.testing.assert_array_equal(z_q_from_idx, z_q)


@pytest.mark.parametrize("levels", LEVEL_SETS)
def test_fsq_outputs_on_grid_and_match_numpy(levels):
  q = FSQ(levels)
  z = np.random.default_rng(1).normal(size=(4, 7, len(levels))).astype(np.float32) * 3
  z_q, indices = jax.jit(q.__call__)(jnp.asarray(z))
  assert z_q.shape == z.shape and z_q.dtype == jnp.float32
  assert indices.shape == z.shape[:-1] and indices.dtype == jnp.int32
  half_width = np.asarray([lv // 2 for lv in levels])
  scaled = np.asarray(z_q) * half_width
  np.testing.assert_allclose(scaled, np.round(scaled), atol=1e-5)
  scaled = np.round(scaled)
  assert np.all(scaled >= -half_width)
  assert np.all(scaled <= np.asarray(levels) - 1 - half_width)
  ref_codes, ref_indices = _fsq_ref(z.astype(np.float64), levels)
  np.testing.assert_allclose(np.asarray(z_q), ref_codes, atol=1e-6)
  np.testing.assert_array_equal(np.asarray(indices), ref_indices)
  assert np.all((np.asarray(indices) >= 0) & (np.asarray(indices) < q.codebook_size))


@pytest.mark.parametrize("level", [2, 3, 4, 5, 6, 7, 8])
def test_fsq_every_grid_value_reachable(level):
  q = FSQ((level,))
  z = np.linspace(-10, 10, 2001, dtype=np.float32)[:, None]
  z_q, indices = jax.jit(q.__call__)(z)
  hw = level // 2
  values = np.unique(np.round(np.asarray(z_q)[:, 0] * hw).astype(int))
  np.testing.assert_array_equal(values, np.arange(-hw, level - hw))
  np.testing.assert_array_equal(np.unique(np.asarray(indices)), np.arange(level))
  # Monotone in z.
  assert np.all(np.diff(np.asarray(indices)) >= 0)


@pytest.mark.parametrize("levels", [(4,), (8, 6, 5), (7, 5, 5, 5, 5)])
def test_fsq_straight_through_gradient(levels):
  q = FSQ(levels)
  rng = np.random.default_rng(2)
  z = rng.normal(size=(3, 5, len(levels))).astype(np.float32)
  w = rng.normal(size=z.shape).astype(np.float32)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(q(x)[0] * w)))(jnp.asarray(z))
  np.testing.assert_allclose(np.asarray(grad), _fsq_grad_ref(z.astype(np.float64), levels, w),
                             rtol=1e-4, atol=1e-6)


def test_fsq_jit_leading_shapes_dtype_and_aux():
  q = FSQ((8, 5, 5, 5))
  z = jnp.asarray(np.random.default_rng(3).normal(size=(2, 3, 4, 4)), jnp.float32)
  z_q, idx = jax.jit(q.__call__)(z)
  z_q2, idx2 = q(z)
  np.testing.assert_array_equal(np.asarray(z_q), np.asarray(z_q2))
  np.testing.assert_array_equal(np.asarray(idx), np.asarray(idx2))
  z_bf, _ = jax.jit(q.__call__)(z.astype(jnp.bfloat16))
  assert z_bf.dtype == jnp.bfloat16
  z_1d, idx_1d = jax.jit(q.__call__)(z[0, 0, 0])
  assert z_1d.shape == (4,) and idx_1d.shape == ()
  assert float(q.aux_loss(z)) == 0.0


def test_fsq_rejects_bad_levels_and_dims():
  with pytest.raises(ValueError):
    FSQ((1, 5))
  with pytest.raises(ValueError):
    FSQ(())
  with pytest.raises(ValueError):
    FSQ((5, 5))(jnp.zeros((2, 3)))


# ----------------------------------------------------------------------------------------- LFQ


def test_lfq_values_indices_and_round_trip():
  q = LFQ(bits=6)
  assert q.codebook_size == 64 and q.dim == 6
  z = np.random.default_rng(4).normal(size=(5, 9, 6)).astype(np.float32)
  z[0, 0, :] = 0.0  # zero maps to +1
  z_q, idx = jax.jit(q.__call__)(jnp.asarray(z))
  ref_q = np.where(z >= 0, 1.0, -1.0)
  np.testing.assert_array_equal(np.asarray(z_q), ref_q)
  ref_idx = np.sum((z >= 0) * (2 ** np.arange(6)), axis=-1)
  np.testing.assert_array_equal(np.asarray(idx), ref_idx)
  assert idx.dtype == jnp.int32 and int(idx[0, 0]) == 63
  codes, back, from_idx = jax.jit(
      lambda i, j: (q.indices_to_codes(i), q.codes_to_indices(q.indices_to_codes(i)),
                    q.indices_to_codes(j)))(jnp.arange(64), idx)
  assert set(np.unique(np.asarray(codes))) == {-1.0, 1.0}
  assert len(np.unique(np.asarray(codes), axis=0)) == 64
  np.testing.assert_array_equal(np.asarray(back), np.arange(64))
  np.testing.assert_array_equal(np.asarray(from_idx), ref_q)


def test_lfq_straight_through_and_aux_gradient():
  q = LFQ(bits=8)
  rng = np.random.default_rng(5)
  z = jnp.asarray(rng.normal(size=(4, 16, 8)) * 0.05, jnp.float32)
  w = jnp.asarray(rng.normal(size=z.shape), jnp.float32)
  grad = jax.jit(jax.grad(lambda x: jnp.sum(q(x)[0] * w)))(z)
  np.testing.assert_array_equal(np.asarray(grad), np.asarray(w))
  loss, g = jax.jit(jax.value_and_grad(q.aux_loss))(z)
  assert loss.shape == () and np.isfinite(float(loss))
  assert np.all(np.isfinite(np.asarray(g))) and np.any(np.asarray(g) != 0)


def _softmax_codes(z, bits, temperature):
  codes = np.asarray(list(itertools.product([-1.0, 1.0], repeat=bits)))
  logits = -np.sum((z[:, None, :] - codes[None]) ** 2, axis=-1) / temperature
  logits -= logits.max(axis=1, keepdims=True)
  probs = np.exp(logits)
  return probs / probs.sum(axis=1, keepdims=True)


def _entropy(p, axis=-1):
  return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0), axis=axis)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_lfq_entropy_matches_brute_force(temperature):
  bits = 4
  q = LFQ(bits=bits, temperature=temperature)
  z = np.random.default_rng(6).normal(size=(32, bits)) * 0.7
  probs = _softmax_codes(z, bits, temperature)
  per_sample, codebook = jax.jit(q.entropy_terms)(jnp.asarray(z, jnp.float32))
  np.testing.assert_allclose(float(per_sample), _entropy(probs).mean(), rtol=1e-4)
  # Factorised codebook entropy: sum of the marginals' entropies >= joint entropy (subadditivity).
  exact_codebook = _entropy(probs.mean(axis=0))
  assert float(codebook) >= exact_codebook - 1e-4
  # One sample: the distribution is a product of bits, so the factorisation is exact.
  _, single = jax.jit(q.entropy_terms)(jnp.asarray(z[:1], jnp.float32))
  np.testing.assert_allclose(float(single), _entropy(probs[:1].mean(axis=0)), rtol=1e-4)


def test_lfq_aux_loss_formula_and_confidence():
  bits, temperature = 4, 1.0
  q = LFQ(bits=bits, temperature=temperature, entropy_weight=0.3, commit_weight=0.7,
          diversity_gamma=0.5)
  z = np.random.default_rng(7).normal(size=(2, 8, bits))
  flat = z.reshape(-1, bits)
  p = 1 / (1 + np.exp(-4 * flat / temperature))
  bin_h = lambda x: -(x * np.log(x) + (1 - x) * np.log(1 - x))
  per_sample = bin_h(p).sum(-1).mean()
  codebook = bin_h(p.mean(0)).sum()
  commit = np.mean((flat - np.where(flat >= 0, 1.0, -1.0)) ** 2)
  ref = 0.3 * (per_sample - 0.5 * codebook) + 0.7 * commit
  loss = jax.jit(q.aux_loss)(jnp.asarray(z, jnp.float32))
  np.testing.assert_allclose(float(loss), ref, rtol=1e-4)
  # Confident latents (far from 0) have lower per-sample entropy than latents near 0.
  signs = np.sign(np.random.default_rng(8).normal(size=(64, bits)))
  near, _ = jax.jit(q.entropy_terms)(jnp.asarray(signs * 0.01, jnp.float32))
  far, _ = jax.jit(q.entropy_terms)(jnp.asarray(signs * 2.0, jnp.float32))
  assert float(far) < float(near) - 1.0


def test_lfq_rejects_bad_bits():
  with pytest.raises(ValueError):
    LFQ(bits=0)
  with pytest.raises(ValueError):
    LFQ(bits=4)(jnp.zeros((2, 5)))


# ------------------------------------------------------------------------------------ registry


def test_make_quantizer():
  assert set(QUANTIZERS) == {"fsq", "lfq"}
  assert make_quantizer("fsq", levels=(8, 5, 5)).codebook_size == 200
  assert make_quantizer("lfq", bits=10).codebook_size == 1024
  with pytest.raises(ValueError, match="fsq"):
    make_quantizer("nope")
