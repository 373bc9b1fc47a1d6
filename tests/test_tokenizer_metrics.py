"""Tests for lvmae.tokenizer.metrics: PSNR, codebook usage/perplexity, event-token recall."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lvmae.masking.grid import patchify
from lvmae.tokenizer.metrics import (
    codebook_perplexity, codebook_usage, event_tokens, psnr, selection_recall, topk_mask, topk_recall)


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


def test_selection_recall():
  sel = np.array([[1, 0, 1, 0], [0, 0, 1, 1]], bool)
  ev = np.array([[1, 1, 0, 0], [0, 0, 1, 0]], bool)
  assert selection_recall(sel, ev) == pytest.approx(2 / 3)
  assert math.isnan(selection_recall(sel, np.zeros_like(ev)))


def test_event_tokens_hand_made():
  info = np.zeros((4, 4, 6), bool)             # (T, H, W); grid (2, 2, 3) -> 2x2x2 tubelets
  info[0, 0, 0] = True                                   # token (0, 0, 0) -> 0
  info[3, 3, 5] = True                                   # token (1, 1, 2) -> 6 + 3 + 2 = 11
  info[2, 1, 2] = True                                   # token (1, 0, 1) -> 6 + 0 + 1 = 7
  got = event_tokens(info, (2, 2, 3))
  want = np.zeros(12, bool)
  want[[0, 7, 11]] = True
  np.testing.assert_array_equal(got, want)
  # Same as patchifying the mask with the tubelet and taking "any" per token.
  rng = np.random.default_rng(0)
  info = rng.uniform(size=(8, 8, 8)) > 0.97
  ref = patchify(info[None, ..., None].astype(np.float32), (2, 4, 2))[0].max(axis=1) > 0
  np.testing.assert_array_equal(event_tokens(info, (4, 2, 4)), ref)
  # Frame selection picks the sampled frames first.
  full = np.zeros((8, 4, 6), bool)
  full[6, 0, 0] = True
  np.testing.assert_array_equal(event_tokens(full, (2, 2, 3), clip_frames_indices=[0, 2, 4, 6]),
                                np.eye(12, dtype=bool)[6])
  with pytest.raises(ValueError, match="divisible"):
    event_tokens(np.zeros((4, 4, 5), bool), (2, 2, 3))


def test_topk_recall_perfect_and_random_scorers():
  rng = np.random.default_rng(1)
  events = rng.uniform(size=(4, 64)) < 0.2
  budget = events.sum(axis=1).max() / 64
  assert topk_recall(events.astype(float), events, budget) == 1.0
  # A budget below the events' share cannot reach full recall.
  assert topk_recall(events.astype(float), events, 0.05) < 1.0
  # Ties go to the lower index: equal scores keep the first k tokens.
  ev = np.array([[True, False, False, True]])
  assert topk_recall(np.zeros((1, 4)), ev, 0.5) == 0.5
  # A random scorer's recall is about the budget.
  big = rng.uniform(size=(64, 1024)) < 0.1
  scores = rng.uniform(size=big.shape)
  assert topk_recall(scores, big, 0.3) == pytest.approx(0.3, abs=0.02)


def test_topk_mask_keeps_k_per_clip_and_breaks_ties_to_the_lower_index():
  scores = np.array([[0.1, 0.9, 0.5, 0.9], [1.0, 1.0, 1.0, 1.0]])
  np.testing.assert_array_equal(topk_mask(scores, 0.5), [[False, True, False, True], [True, True, False, False]])
  assert topk_mask(scores, 0.0).sum() == 0
