"""Tests of the pixel reconstruction targets (lvmae/targets/pixels.py) against loop references."""
import math

import numpy as np
import pytest

from lvmae.targets.pixels import pixel_targets

TUBELET = (2, 2, 2)
C = 3


def _video(seed=0, shape=(2, 4, 4, 6, C)):
  return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _token_pixels(video, b, i, j, k, tubelet=TUBELET):
  """The (t*p*p, C) pixels of token (i, j, k) of clip b, in (t, p, p) order, in [0, 1]."""
  tt, ph, pw = tubelet
  rows = []
  for dt in range(tt):
    for dy in range(ph):
      for dx in range(pw):
        rows.append([float(video[b, i * tt + dt, j * ph + dy, k * pw + dx, ch]) / 255.0
                     for ch in range(video.shape[-1])])
  return np.array(rows, np.float64)


def _reference(video, normalisation, tubelet=TUBELET):
  b_, frames, height, width, c = video.shape
  tt, ph, pw = tubelet
  gt, gh, gw = frames // tt, height // ph, width // pw
  out = np.zeros((b_, gt * gh * gw, tt * ph * pw * c))
  for b in range(b_):
    token = 0
    for i in range(gt):
      for j in range(gh):
        for k in range(gw):
          px = _token_pixels(video, b, i, j, k, tubelet)  # (P, C)
          m = px.shape[0]
          if normalisation == "tubelet":
            values = px.reshape(-1)
            mean = sum(values) / len(values)
            var = sum((v - mean) ** 2 for v in values) / len(values)  # biased
            norm = (px - mean) / math.sqrt(var + 1e-6)
          elif normalisation == "channel":
            norm = np.zeros_like(px)
            for ch in range(c):
              col = px[:, ch]
              mean = sum(col) / m
              std = math.sqrt(sum((v - mean) ** 2 for v in col) / (m - 1))  # unbiased
              norm[:, ch] = (col - mean) / (std + 1e-6)
          else:
            norm = px
          out[b, token] = norm.reshape(-1)  # (t, p, p, C) order
          token += 1
  return out


@pytest.mark.parametrize("normalisation", ["tubelet", "channel", "none"])
def test_pixel_targets_match_loop_reference(normalisation):
  video = _video()
  got = np.asarray(pixel_targets(video, TUBELET, normalisation))
  assert got.dtype == np.float32
  assert got.shape == (2, 2 * 2 * 3, 2 * 2 * 2 * C)
  np.testing.assert_allclose(got, _reference(video, normalisation), rtol=1e-4, atol=1e-4)


def test_channel_differs_from_tubelet():
  # A token whose channels have different means: the two normalisations must disagree.
  video = _video(seed=1)
  video[..., 0] //= 4
  a = np.asarray(pixel_targets(video, TUBELET, "tubelet"))
  b = np.asarray(pixel_targets(video, TUBELET, "channel"))
  assert np.abs(a - b).max() > 0.1


def test_normalised_token_statistics():
  video = _video(seed=2, shape=(1, 4, 8, 8, C))
  tubelet = (2, 4, 4)
  tub = np.asarray(pixel_targets(video, tubelet, "tubelet"), np.float64)
  np.testing.assert_allclose(tub.mean(-1), 0.0, atol=1e-5)
  np.testing.assert_allclose(tub.var(-1), 1.0, atol=1e-3)
  ch = np.asarray(pixel_targets(video, tubelet, "channel"), np.float64).reshape(1, -1, 32, C)
  np.testing.assert_allclose(ch.mean(-2), 0.0, atol=1e-5)
  np.testing.assert_allclose(ch.std(-2, ddof=1), 1.0, atol=1e-3)


def test_constant_token_is_finite():
  # A flat token has zero spread: the epsilons keep the targets finite and near zero. float32
  # rounding of the mean is amplified by 1/sqrt(1e-6) (tubelet) and 1/1e-6 (channel).
  video = np.full((1, 2, 2, 2, C), 100, np.uint8)
  for norm, tol in (("tubelet", 1e-3), ("channel", 0.1)):
    out = np.asarray(pixel_targets(video, TUBELET, norm))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, 0.0, atol=tol)


@pytest.mark.parametrize("normalisation", ["tubelet", "channel", "none"])
def test_float_input_matches_uint8(normalisation):
  video = _video(seed=3)
  a = np.asarray(pixel_targets(video, TUBELET, normalisation))
  b = np.asarray(pixel_targets(video.astype(np.float32) / 255.0, TUBELET, normalisation))
  np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_none_is_in_unit_range():
  video = _video(seed=4)
  video[0, 0, 0, 0] = 255
  video[0, 0, 0, 1] = 0
  out = np.asarray(pixel_targets(video, TUBELET, "none"))
  assert out.min() == 0.0 and out.max() == 1.0


def test_unknown_normalisation_raises():
  with pytest.raises(ValueError, match="bogus"):
    pixel_targets(_video(), TUBELET, "bogus")
