"""Tests for lvmae.tokenizer.metrics: PSNR, codebook usage/perplexity."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lvmae.tokenizer.metrics import codebook_perplexity, codebook_usage, psnr


def test_psnr_hand_values():
  target = np.zeros((2, 4, 4, 3))
  recon = target + 0.1                                   # mse 0.01 -> 20 dB
  assert psnr(recon, target) == pytest.approx(20.0)
  assert psnr(recon * 255, target, max_value=255.0) == pytest.approx(20.0)
  # Mean of per-clip PSNRs (20 dB and 40 dB), not the PSNR of the pooled MSE.
  recon2 = recon.copy()
  recon2[1] = 0.01
  assert psnr(recon2, target) == pytest.approx(30.0)


def test_codebook_usage_and_perplexity():
  uniform = np.arange(16).reshape(2, 8)
  assert codebook_usage(uniform, 16) == 1.0
  assert codebook_perplexity(uniform, 16) == pytest.approx(16.0)
  one = np.full((3, 5), 7)
  assert codebook_usage(one, 16) == pytest.approx(1 / 16)
  assert codebook_perplexity(one, 16) == pytest.approx(1.0)
  # Two codes with shares 3/4 and 1/4 out of 8.
  mixed = np.array([0, 0, 0, 5])
  assert codebook_usage(mixed, 8) == pytest.approx(2 / 8)
  h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
  assert codebook_perplexity(mixed, 8) == pytest.approx(math.exp(h))
  with pytest.raises(ValueError):
    codebook_usage(np.array([0, 8]), 8)

