"""lvmae.train.mixing: Mixup and CutMix against numpy references, one lambda for every head."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lvmae.train.mixing import mix_batch
from lvmae.validation import ConfigError

B, T, H, W, C = 4, 2, 8, 10, 3


def _batch(seed=0):
  rng = np.random.default_rng(seed)
  video = rng.normal(size=(B, T, H, W, C)).astype(np.float32)
  verb = np.eye(5, dtype=np.float32)[[0, 1, 2, 3]]
  noun = np.eye(7, dtype=np.float32)[[6, 4, 2, 0]]
  return jnp.asarray(video), (jnp.asarray(verb), jnp.asarray(noun))


def _mixer(**kwargs):
  return jax.jit(functools.partial(mix_batch, **kwargs))


# One compiled mixer per setting, shared by the tests (compiling dominates their time).
MIXUP = _mixer(mixup_alpha=0.8, cutmix_alpha=0.0)
CUTMIX = _mixer(mixup_alpha=0.0, cutmix_alpha=1.0)
EITHER = _mixer(mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5)


def _keys(seed, n):
  return jax.random.split(jax.random.key(seed), n)


def _lambda(targets) -> float:
  """Lambda read back from the first example's verb row (its class differs from its partner's)."""
  return float(targets[0][0, 0])


def _box_mask(video, mixed):
  """Where the mixed clip took the partner's pixels, checked to be one box shared by all."""
  video, mixed = np.asarray(video), np.asarray(mixed)
  from_partner = mixed == video[::-1]
  from_self = mixed == video
  # Every pixel comes from one of the two (the middle of an odd batch would be both).
  assert (from_partner | from_self).all()
  mask = from_partner[0, 0, :, :, 0]
  assert (from_partner == mask[None, None, :, :, None]).all()  # same box on every frame, example
  rows, cols = np.nonzero(mask)
  if rows.size:
    box = np.zeros_like(mask)
    box[rows.min():rows.max() + 1, cols.min():cols.max() + 1] = True
    np.testing.assert_array_equal(mask, box)  # a rectangle
  return mask


def test_both_alphas_zero_returns_the_inputs():
  video, targets = _batch()
  out, out_targets = mix_batch(jax.random.key(0), video, targets, mixup_alpha=0.0, cutmix_alpha=0.0)
  assert out is video and all(a is b for a, b in zip(out_targets, targets))


def test_mixup_matches_numpy_and_heads_share_lambda():
  video, targets = _batch()
  lams = []
  for key in _keys(0, 4):
    out, (verb, noun) = MIXUP(key, video, targets)
    lam = _lambda((verb, noun))
    lams.append(lam)
    v = np.asarray(video)
    np.testing.assert_allclose(out, lam * v + (1 - lam) * v[::-1], rtol=1e-5, atol=1e-5)
    for head, mixed in zip(targets, (verb, noun)):
      t = np.asarray(head)
      np.testing.assert_allclose(mixed, lam * t + (1 - lam) * t[::-1], rtol=1e-6, atol=1e-6)
      np.testing.assert_allclose(np.asarray(mixed).sum(-1), 1.0, rtol=1e-6)
    assert float(noun[0, 6]) == pytest.approx(lam, abs=1e-6)  # the noun head's own share
  assert len(set(lams)) == 4 and all(0.0 <= x <= 1.0 for x in lams)


def test_cutmix_box_and_corrected_lambda():
  video, targets = _batch(1)
  shares = []
  for key in _keys(1, 12):
    out, (verb, noun) = CUTMIX(key, video, targets)
    mask = _box_mask(video, out)
    share = 1.0 - mask.mean()
    shares.append(share)
    v = np.asarray(video)
    np.testing.assert_array_equal(np.asarray(out)[:, :, mask], v[::-1][:, :, mask])
    np.testing.assert_array_equal(np.asarray(out)[:, :, ~mask], v[:, :, ~mask])
    assert _lambda((verb, noun)) == pytest.approx(share, abs=1e-6)
    assert float(noun[0, 6]) == pytest.approx(share, abs=1e-6)
    for head in (verb, noun):
      np.testing.assert_allclose(np.asarray(head).sum(-1), 1.0, rtol=1e-6)
  assert any(0.0 < s < 1.0 for s in shares) and len(set(shares)) > 3


def test_switch_picks_cutmix_or_mixup_per_batch():
  video, targets = _batch(2)
  v = np.asarray(video)
  kinds = []
  for key in _keys(2, 12):
    out, t = EITHER(key, video, targets)
    lam, out = _lambda(t), np.asarray(out)
    if np.isin(out, v).all():  # every pixel is an original one: CutMix
      assert lam == pytest.approx(1.0 - _box_mask(video, out).mean(), abs=1e-6)
      kinds.append("cutmix")
    else:
      np.testing.assert_allclose(out, lam * v + (1 - lam) * v[::-1], rtol=1e-5, atol=1e-5)
      kinds.append("mixup")
  assert 2 <= kinds.count("cutmix") <= 10


def test_same_key_same_result_different_keys_differ():
  video, targets = _batch(3)
  key, other = _keys(3, 2)
  first, again, different = (EITHER(k, video, targets) for k in (key, key, other))
  for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
    np.testing.assert_array_equal(a, b)
  assert not np.array_equal(first[0], different[0])
  assert not np.array_equal(first[1][0], different[1][0])


def test_validation():
  video, targets = _batch()
  with pytest.raises(ConfigError, match="mixup_alpha"):
    mix_batch(jax.random.key(0), video, targets, mixup_alpha=-1.0, cutmix_alpha=0.0)
  with pytest.raises(ConfigError, match="switch_prob"):
    mix_batch(jax.random.key(0), video, targets, mixup_alpha=0.8, cutmix_alpha=1.0, switch_prob=2.0)
