"""Tests for lvmae.masking.events (SLC's event tokens, selection recall, top-k recall) and the one
hard top-k (lvmae.masking.hard_topk), against numpy references and loops."""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lvmae.masking.events import event_tokens, selection_recall, topk_mask, topk_recall
from lvmae.masking.grid import patchify, token_grid
from lvmae.masking.hard_topk import top_k_mask

TUBELET = (2, 4, 4)


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


def test_selection_recall_is_the_same_on_jax_input_and_under_jit():
  rng = np.random.default_rng(2)
  sel, ev = rng.random((3, 40)) < 0.3, rng.random((3, 40)) < 0.2
  expected = selection_recall(sel, ev)
  assert isinstance(expected, float)
  np.testing.assert_allclose(float(selection_recall(jnp.asarray(sel), ev)), expected, rtol=1e-6)
  np.testing.assert_allclose(float(jax.jit(selection_recall)(sel, ev)), expected, rtol=1e-6)
  assert math.isnan(float(jax.jit(selection_recall)(sel, np.zeros_like(ev))))
  with pytest.raises(ValueError, match="shapes differ"):
    selection_recall(sel, ev[:, :5])


def test_event_tokens_match_a_loop_over_tubelets():
  rng = np.random.default_rng(3)
  mask = rng.random((4, 8, 12)) < 0.03  # sparse, so some tokens are off
  tokens = event_tokens(mask, token_grid(*mask.shape, TUBELET))
  tt, ph, pw = TUBELET
  expected = []
  for i in range(4 // tt):
    for j in range(8 // ph):
      for k in range(12 // pw):
        expected.append(bool(mask[i * tt:(i + 1) * tt, j * ph:(j + 1) * ph, k * pw:(k + 1) * pw].any()))
  assert tokens.shape == (12,) and tokens.dtype == bool
  np.testing.assert_array_equal(tokens, np.array(expected))
  assert 0 < tokens.sum() < tokens.size
  single = np.zeros((4, 8, 12), bool)
  single[3, 5, 9] = True  # token (1, 1, 2) -> 1 * 6 + 1 * 3 + 2 = 11
  assert np.flatnonzero(event_tokens(single, (2, 2, 3))).tolist() == [11]
  np.testing.assert_array_equal(np.asarray(event_tokens(jnp.asarray(mask), (2, 2, 3))), tokens)


def test_top_k_mask_matches_a_stable_argsort_per_row():
  rng = np.random.default_rng(4)
  scores = rng.integers(0, 5, (2, 3, 16)).astype(np.float32)  # many ties
  for k in (0, 1, 5, 16):
    got = np.asarray(top_k_mask(scores, k))
    expected = np.zeros(scores.shape, bool)
    np.put_along_axis(expected, np.argsort(-scores, axis=-1, kind="stable")[..., :k], True, axis=-1)
    np.testing.assert_array_equal(got, expected)
  np.testing.assert_array_equal(np.asarray(jax.jit(lambda s: top_k_mask(s, 5))(scores)), np.asarray(top_k_mask(scores, 5)))
  with pytest.raises(ValueError, match="k=17"):
    top_k_mask(scores, 17)
