"""Tests of the token grid, encoder tube masking and decoder strategies (lvmae/masking)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lvmae.masking import decoder
from lvmae.masking.grid import patchify, token_grid, unpatchify
from lvmae.masking.strategies.uniform import uniform_slices
from lvmae.masking.tube import num_visible, tube_mask

TUBELET = (2, 4, 4)


def _video(b=2, t=4, h=8, w=12, c=3, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (b, t, h, w, c)).astype(np.uint8)


def _patchify_ref(video, tubelet):
  """Explicit loops: tokens in (t, h, w) row-major order, values in (t, p, p, C) order."""
  b, frames, height, width, c = video.shape
  tt, ph, pw = tubelet
  gt, gh, gw = frames // tt, height // ph, width // pw
  out = np.zeros((b, gt * gh * gw, tt * ph * pw * c), video.dtype)
  for n in range(b):
    token = 0
    for i in range(gt):
      for j in range(gh):
        for k in range(gw):
          values = []
          for dt in range(tt):
            for dy in range(ph):
              for dx in range(pw):
                for ch in range(c):
                  values.append(video[n, i * tt + dt, j * ph + dy, k * pw + dx, ch])
          out[n, token] = values
          token += 1
  return out


# ---------------------------------------------------------------------------------------- grid


def test_patchify_matches_loop_reference_numpy():
  video = _video()
  tokens = patchify(video, TUBELET)
  assert isinstance(tokens, np.ndarray)
  assert tokens.shape == (2, 2 * 2 * 3, 2 * 4 * 4 * 3)
  np.testing.assert_array_equal(tokens, _patchify_ref(video, TUBELET))


def test_patchify_matches_loop_reference_jax():
  video = _video(b=1, t=6, h=8, w=4, c=2, seed=1)
  tubelet = (3, 2, 4)  # unequal sizes catch swapped axes
  tokens = patchify(jnp.asarray(video), tubelet)
  assert isinstance(tokens, jax.Array)
  np.testing.assert_array_equal(np.asarray(tokens), _patchify_ref(video, tubelet))


@pytest.mark.parametrize("as_jax", [False, True])
def test_unpatchify_inverts_patchify(as_jax):
  video = _video(seed=2)
  x = jnp.asarray(video) if as_jax else video
  grid = token_grid(4, 8, 12, TUBELET)
  back = unpatchify(patchify(x, TUBELET), grid, TUBELET, channels=3)
  assert back.shape == video.shape
  np.testing.assert_array_equal(np.asarray(back), video)


def test_token_grid_shape():
  assert token_grid(16, 32, 64, (2, 4, 8)) == (8, 8, 8)
  assert token_grid(4, 8, 12, TUBELET) == (2, 2, 3)


@pytest.mark.parametrize("dims,name", [((5, 8, 8), "frames"), ((4, 9, 8), "height"),
                                       ((4, 8, 10), "width")])
def test_token_grid_error_names_dimension(dims, name):
  with pytest.raises(ValueError, match=name):
    token_grid(*dims, TUBELET)


def test_patchify_rejects_indivisible_video():
  with pytest.raises(ValueError, match="height"):
    patchify(np.zeros((1, 4, 6, 8, 3), np.uint8), TUBELET)


# ---------------------------------------------------------------------------------- tube mask


@pytest.mark.parametrize("grid,ratio", [((8, 8, 8), 0.9), ((4, 4, 6), 0.75), ((2, 3, 3), 0.5)])
def test_tube_mask_partition(grid, ratio):
  gt, gh, gw = grid
  visible, masked = tube_mask(jax.random.key(0), grid, ratio)
  visible, masked = np.asarray(visible), np.asarray(masked)
  n = gt * gh * gw
  assert visible.dtype == np.int32 and masked.dtype == np.int32
  assert len(visible) == num_visible(grid, ratio)
  assert np.all(np.diff(visible) > 0) and np.all(np.diff(masked) > 0)  # sorted, unique
  assert not set(visible.tolist()) & set(masked.tolist())
  np.testing.assert_array_equal(np.sort(np.concatenate([visible, masked])), np.arange(n))


def test_tube_mask_same_positions_every_time_slice():
  grid = (8, 4, 5)
  gt, gh, gw = grid
  visible, _ = tube_mask(jax.random.key(7), grid, 0.6)
  visible = np.asarray(visible)
  spatial = gh * gw
  per_slice = [set((visible[(visible >= i * spatial) & (visible < (i + 1) * spatial)] - i * spatial).tolist())
               for i in range(gt)]
  assert all(s == per_slice[0] for s in per_slice)
  assert len(per_slice[0]) == int(round(spatial * 0.4))


def test_num_visible():
  assert num_visible((8, 8, 8), 0.9) == 8 * 6  # round(64 * 0.1) = 6
  assert num_visible((2, 2, 2), 0.95) == 2  # at least one position per slice
  assert num_visible((1, 10, 10), 0.25) == 75


def test_tube_mask_deterministic_per_key():
  grid = (4, 8, 8)
  a = tube_mask(jax.random.key(1), grid, 0.75)
  b = tube_mask(jax.random.key(1), grid, 0.75)
  c = tube_mask(jax.random.key(2), grid, 0.75)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])
  assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.1, 1.5])
def test_num_visible_rejects_bad_ratio(ratio):
  with pytest.raises(ValueError, match="ratio"):
    num_visible((2, 4, 4), ratio)
  with pytest.raises(ValueError):
    tube_mask(jax.random.key(0), (2, 4, 4), ratio)


# ------------------------------------------------------------------------- decoder strategies


@pytest.mark.parametrize("n,budget", [(64, 0.25), (100, 0.15), (10, 1.0), (7, 0.01)])
def test_random_returns_budget_share(n, budget):
  idx = np.asarray(decoder.select("random", jax.random.key(0), n, budget))
  k = max(1, int(round(budget * n)))
  assert idx.shape == (k,)
  assert idx.dtype == np.int32
  assert np.all(np.diff(idx) > 0)  # sorted and unique
  assert idx.min() >= 0 and idx.max() < n
  assert decoder.num_selected("random", n, budget, num_masked=3) == k


def test_random_deterministic_per_key():
  a = decoder.select("random", jax.random.key(3), 64, 0.3)
  b = decoder.select("random", jax.random.key(3), 64, 0.3)
  c = decoder.select("random", jax.random.key(4), 64, 0.3)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_random_covers_tokens_uniformly():
  n, budget, draws = 64, 0.25, 800
  keys = jax.random.split(jax.random.key(11), draws)
  picks = np.asarray(jax.vmap(lambda k: decoder.select("random", k, n, budget))(keys))
  counts = np.zeros(n)
  for row in picks:
    counts[row] += 1
  freq = counts / draws
  # std of each frequency ~ sqrt(.25 * .75 / 800) = 0.015; 0.08 is > 5 sigma.
  assert np.all(np.abs(freq - budget) < 0.08), freq
  assert abs(freq.mean() - budget) < 1e-9


def test_none_returns_masked():
  masked = np.array([1, 4, 5, 9, 30], np.int32)
  idx = decoder.select("none", jax.random.key(0), 32, 0.5, masked=masked)
  assert idx.dtype == jnp.int32
  np.testing.assert_array_equal(np.asarray(idx), masked)
  assert decoder.num_selected("none", 32, 0.5, num_masked=len(masked)) == len(idx)


def test_none_needs_masked():
  with pytest.raises(ValueError, match="masked"):
    decoder.select("none", jax.random.key(0), 32, 0.5)


def test_unknown_strategy_named():
  with pytest.raises(ValueError, match="bogus"):
    decoder.select("bogus", jax.random.key(0), 32, 0.5)
  with pytest.raises(ValueError, match="bogus"):
    decoder.num_selected("bogus", 32, 0.5, 10)


@pytest.mark.parametrize("budget", [0.0, -0.5, 1.01, 2.0])
def test_budget_out_of_range(budget):
  with pytest.raises(ValueError, match="budget"):
    decoder.select("random", jax.random.key(0), 32, budget)
  with pytest.raises(ValueError, match="budget"):
    decoder.num_selected("random", 32, budget, 10)


def test_strategies_under_vmap_and_jit():
  n, budget, b = 48, 0.25, 5
  keys = jax.random.split(jax.random.key(5), b)
  fn = jax.jit(jax.vmap(lambda k: decoder.select("random", k, n, budget)))
  out = np.asarray(fn(keys))
  assert out.shape == (b, decoder.num_selected("random", n, budget, 0))
  for i in range(b):
    np.testing.assert_array_equal(out[i], np.asarray(decoder.select("random", keys[i], n, budget)))
  assert len({tuple(r) for r in out.tolist()}) > 1  # rows differ

  grid = (2, 4, 6)
  vis_mask = jax.vmap(lambda k: tube_mask(k, grid, 0.75))(keys)
  masked = vis_mask[1]
  none_fn = jax.jit(jax.vmap(lambda k, m: decoder.select("none", k, 48, budget, masked=m)))
  np.testing.assert_array_equal(np.asarray(none_fn(keys, masked)), np.asarray(masked))


def test_adaptive_takes_the_top_scores_then_random_others():
  n, budget = 200, 0.15
  scores = np.random.default_rng(0).permutation(n).astype(np.float32)
  k = round(n * budget)
  k_top = round(k * 2 / 3)
  picks = [np.asarray(decoder.select("adaptive", jax.random.key(s), n, budget, scores=scores)) for s in range(20)]
  top = set(np.argsort(-scores)[:k_top])
  for idx in picks:
    assert len(idx) == len(set(idx)) == k and np.all(np.diff(idx) > 0)
    assert top <= set(idx.tolist())  # the top share is always there
  rest = np.concatenate([np.setdiff1d(idx, list(top)) for idx in picks])
  assert len(np.unique(rest)) > 3 * (k - k_top)  # the random share varies with the key
  assert decoder.num_selected("adaptive", n, budget, num_masked=5) == k


@pytest.mark.parametrize("top_share,expect_top", [(1.0, True), (0.0, False)])
def test_adaptive_mix_extremes(top_share, expect_top):
  n, budget = 100, 0.1
  scores = np.arange(n, dtype=np.float32)
  idx = np.asarray(decoder.select("adaptive", jax.random.key(1), n, budget, scores=scores, top_share=top_share))
  assert (set(idx.tolist()) == set(range(90, 100))) == expect_top


def test_adaptive_needs_scores():
  with pytest.raises(ValueError, match="scores"):
    decoder.select("adaptive", jax.random.key(0), 10, 0.5)


@pytest.mark.parametrize("strategy", decoder.SCORED)
def test_every_score_based_strategy_selects_by_score_with_the_same_mix(strategy):
  n, budget = 120, 0.25
  scores = np.random.default_rng(3).permutation(n).astype(np.float32)
  top = set(np.argsort(-scores)[:20].tolist())  # k = 30, top share 2/3 -> 20
  idx = np.asarray(decoder.select(strategy, jax.random.key(2), n, budget, scores=scores))
  assert len(idx) == 30 and top <= set(idx.tolist())
  pure = np.asarray(decoder.select(strategy, jax.random.key(2), n, budget, scores=scores, top_share=1.0))
  assert set(pure.tolist()) == set(np.argsort(-scores)[:30].tolist())


# ------------------------------------------------------------------- uniform time slices


def _slices(idx, grid):
  gt, gh, gw = grid
  t = np.asarray(idx) // (gh * gw)
  slices, counts = np.unique(t, return_counts=True)
  assert np.all(counts == gh * gw), "uniform keeps whole time slices"
  return slices


@pytest.mark.parametrize("gt,budget,count,step", [(64, 0.15, 10, 7), (16, 0.15, 2, 7), (8, 0.15, 1, 7),
                                                  (8, 0.5, 4, 2), (10, 0.6, 6, 1)])
def test_uniform_keeps_whole_slices_a_fixed_step_apart(gt, budget, count, step):
  grid = (gt, 2, 3)
  n = gt * 6
  assert uniform_slices(gt, budget) == (count, step)
  firsts = set()
  keys = jax.random.split(jax.random.key(0), 80)
  for idx in np.asarray(jax.vmap(lambda k: decoder.select("uniform", k, n, budget, grid=grid))(keys)):
    assert idx.dtype == np.int32 and np.all(np.diff(idx) > 0)
    assert len(idx) == decoder.num_selected("uniform", n, budget, 0, grid=grid) == count * 6
    slices = _slices(idx, grid)
    assert len(slices) == count and slices.max() < gt
    assert np.all(np.diff(slices) == step)
    firsts.add(int(slices[0]))
  assert firsts == set(range(gt - (count - 1) * step))  # the first slice is random over every fit


def test_uniform_paper_step_at_128_frames_and_explicit_steps():
  # 128 frames / 2-frame tubelets = 64 slices: the paper's step 7 keeps 10 slices (15.6%).
  idx = np.asarray(decoder.select("uniform", jax.random.key(0), 64 * 4, 0.15, grid=(64, 2, 2)))
  np.testing.assert_array_equal(_slices(idx, (64, 2, 2)), np.arange(0, 64, 7))
  idx = np.asarray(decoder.select("uniform", jax.random.key(0), 16 * 4, 0.25, grid=(16, 2, 2), step=3))
  assert np.all(np.diff(_slices(idx, (16, 2, 2))) == 3)
  with pytest.raises(ValueError, match="do not fit"):
    decoder.select("uniform", jax.random.key(0), 16 * 4, 0.25, grid=(16, 2, 2), step=6)
  with pytest.raises(ValueError, match="grid"):
    decoder.select("uniform", jax.random.key(0), 64, 0.25)
  with pytest.raises(ValueError, match="does not hold"):
    decoder.num_selected("uniform", 65, 0.25, 0, grid=(16, 2, 2))


def test_uniform_deterministic_per_key():
  grid, n = (16, 2, 2), 64
  a = decoder.select("uniform", jax.random.key(5), n, 0.15, grid=grid)
  np.testing.assert_array_equal(a, decoder.select("uniform", jax.random.key(5), n, 0.15, grid=grid))
  others = {tuple(np.asarray(decoder.select("uniform", jax.random.key(s), n, 0.15, grid=grid))) for s in range(10)}
  assert len(others) > 1


# ------------------------------------------------------------------------- running cell


def _running_cell_reference(grid, keep, phase):
  """Loops: in slice t, cell position p (row-major in its 2x2 cell) is kept if it is one of the
  `keep` positions phase + t, phase + t + 1, ... (mod 4)."""
  gt, gh, gw = grid
  kept = []
  for t in range(gt):
    window = {(phase + t + j) % 4 for j in range(keep)}
    for y in range(gh):
      for x in range(gw):
        if 2 * (y % 2) + x % 2 in window:
          kept.append((t * gh + y) * gw + x)
  return np.array(kept)


@pytest.mark.parametrize("budget,keep", [(0.25, 1), (0.5, 2), (0.75, 3)])
def test_running_cell_matches_reference_and_runs_through_every_position(budget, keep):
  grid = (6, 4, 6)
  n = 6 * 4 * 6
  phases = set()
  for seed in range(16):
    idx = np.asarray(decoder.select("running_cell", jax.random.key(seed), n, budget, grid=grid))
    assert idx.dtype == np.int32 and len(idx) == decoder.num_selected("running_cell", n, budget, 0, grid=grid)
    assert len(idx) == n * keep // 4
    matches = [p for p in range(4) if np.array_equal(idx, _running_cell_reference(grid, keep, p))]
    assert len(matches) == 1
    phases.add(matches[0])
    mask = np.zeros(n, bool)
    mask[idx] = True
    cells = mask.reshape(6, 2, 2, 3, 2).transpose(0, 1, 3, 2, 4).reshape(6, 6, 4)  # (t, cell, position)
    assert np.all(cells.sum(-1) == keep)  # every cell keeps `keep` tokens in every slice
    for t in range(6 - 3):  # over any 4 consecutive slices every position is kept `keep` times
      assert np.all(cells[t:t + 4].sum(0) == keep)
  assert phases == {0, 1, 2, 3}


@pytest.mark.parametrize("budget", [0.15, 0.3, 1.0])
def test_running_cell_other_budgets_are_clear_errors(budget):
  with pytest.raises(ValueError, match="0.25, 0.5, 0.75"):
    decoder.select("running_cell", jax.random.key(0), 64, budget, grid=(4, 4, 4))
  with pytest.raises(ValueError, match="0.25, 0.5, 0.75"):
    decoder.num_selected("running_cell", 64, budget, 0, grid=(4, 4, 4))


def test_running_cell_needs_an_even_grid():
  with pytest.raises(ValueError, match="even"):
    decoder.select("running_cell", jax.random.key(0), 4 * 3 * 4, 0.5, grid=(4, 3, 4))


@pytest.mark.parametrize("strategy,budget", [("uniform", 0.25), ("running_cell", 0.5)])
def test_structured_strategies_under_vmap_and_jit(strategy, budget):
  grid, n = (8, 4, 4), 128
  keys = jax.random.split(jax.random.key(9), 6)
  out = np.asarray(jax.jit(jax.vmap(lambda k: decoder.select(strategy, k, n, budget, grid=grid)))(keys))
  for i in range(6):
    np.testing.assert_array_equal(out[i], np.asarray(decoder.select(strategy, keys[i], n, budget, grid=grid)))


@pytest.mark.parametrize("strategy", sorted(decoder.STRATEGIES))
def test_every_strategy_has_its_static_count_and_is_deterministic_per_key(strategy):
  grid, n = (8, 4, 4), 128
  budget = 0.25
  scores = np.random.default_rng(1).random(n).astype(np.float32)
  masked = np.arange(0, n, 3, dtype=np.int32)

  def run(seed):
    return np.asarray(decoder.select(strategy, jax.random.key(seed), n, budget, scores=scores, masked=masked,
                                     grid=grid))

  first = run(0)
  assert len(first) == decoder.num_selected(strategy, n, budget, len(masked), grid=grid)
  assert first.dtype == np.int32 and np.all(np.diff(first) > 0) and first.min() >= 0 and first.max() < n
  np.testing.assert_array_equal(first, run(0))
  if strategy != "none":  # every other strategy draws something from the key
    assert any(not np.array_equal(first, run(seed)) for seed in range(1, 8))
