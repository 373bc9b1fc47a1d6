"""Tests of SLC v2 (lvmae/data/slc_v2.py) against shared/SLC.md's v2 requirements."""
import itertools

import jax
import numpy as np
import pytest

from lvmae.data import slc, slc_v2
from lvmae.data.pipeline import SLCData, Sampling, sample_indices
from lvmae.masking.tube import tube_mask
from lvmae.masking.events import event_token_ids
from lvmae.validation import ConfigError

CPU_GRID = (8, 8, 8)          # 32 frames of 32x32 in 4x4x4 tubelets: the cpu profile's token grid
CPU_VIEW = Sampling(32, 4)


def _clip(i, split="train", size=32):
  return slc.generate_clip(split, i, "medium", size, version=2)


def test_v2_is_deterministic_and_unrelated_to_v1():
  a, b = _clip(5), _clip(5)
  for key in a:
    assert a[key].tobytes() == b[key].tobytes(), key
  assert not np.array_equal(a["video"], slc.generate_clip("train", 5)["video"])
  assert not np.array_equal(a["video"], _clip(6)["video"])
  assert not np.array_equal(a["video"], _clip(5, "val")["video"])


def test_shapes_dtypes_and_event_ids():
  c = _clip(0)
  assert c["video"].shape == (128, 32, 32, 3) and c["video"].dtype == np.uint8
  assert c["event_ids"].dtype == np.uint8 and set(np.unique(c["event_ids"])) == set(range(9))
  assert np.array_equal(c["info"], c["event_ids"] > 0)
  assert c["blocks"].shape == (8, 2) and c["kinds"].shape == (8,) and c["onsets"].shape == (8,)


def test_each_event_is_an_aligned_square_shown_inside_its_segment():
  frames, side = slc_v2.PRESETS["medium"].event_frames, slc_v2.PRESETS["medium"].glyph
  for i in range(20):
    c = _clip(i)
    for e, (onset, (row, col)) in enumerate(zip(c["onsets"], c["blocks"])):
      on = c["event_ids"] == e + 1
      shown = np.flatnonzero(on.any(axis=(1, 2)))
      assert np.array_equal(shown, np.arange(onset, onset + frames))
      segment = e * slc_v2.SEGMENT_FRAMES
      assert segment + slc_v2.MARGIN <= onset and onset + frames <= segment + 16
      square = np.zeros((32, 32), bool)
      square[side * row: side * (row + 1), side * col: side * (col + 1)] = True
      assert all(np.array_equal(on[t], square) for t in shown)


def test_textures_light_half_of_every_token_and_any_token_names_the_kind():
  quadrants = {}
  for kind, dy, dx in itertools.product(range(4), range(4), range(4)):
    lit = slc_v2._texture(kind, (dy, dx), 16)
    for qy, qx in itertools.product(range(0, 16, 4), range(0, 16, 4)):
      q = lit[qy:qy + 4, qx:qx + 4]
      assert q.sum() == 8, (kind, dy, dx)
      quadrants.setdefault(q.tobytes(), set()).add(kind)
  assert all(len(kinds) == 1 for kinds in quadrants.values())  # no quadrant pattern is shared
  # Averaged over the random phases, every kind lights every pixel equally often.
  for kind in range(4):
    mean = np.mean([slc_v2._texture(kind, (dy, dx), 8) for dy in range(4) for dx in range(4)], axis=0)
    np.testing.assert_allclose(mean, 0.5)


def test_glyph_pixels_have_the_event_colour_and_label_counts_checkerboards():
  labels = []
  for i in range(40):
    c = _clip(i)
    assert int(c["label"]) == int(np.sum(c["kinds"] == 0))
    labels.append(int(c["label"]))
    onset, (row, col), side = c["onsets"][0], c["blocks"][0], slc_v2.PRESETS["medium"].glyph
    square = c["video"][onset, side * row: side * (row + 1), side * col: side * (col + 1)].reshape(-1, 3)
    lit = square.any(axis=1)
    assert lit.sum() == side * side // 2 and len(np.unique(square[lit], axis=0)) == 1  # colour on black
    phases = itertools.product(range(4), range(4))
    assert any(np.array_equal(lit, slc_v2._texture(int(c["kinds"][0]), p, side).reshape(-1)) for p in phases)
  assert len(set(labels)) >= 6


def test_a_stride_four_view_sees_every_event_once_in_one_time_slice():
  """The cpu view's Bayes ceiling is 1: from any first frame, each event is in two sampled frames,
  inside one 4-frame tubelet slice, and its kind is readable there."""
  for i in range(10):
    c = _clip(i)
    for start in range(4):
      idx = start + 4 * np.arange(32)
      ids = c["event_ids"][idx]
      for e in range(8):
        frames = np.flatnonzero((ids == e + 1).any(axis=(1, 2)))
        assert len(frames) == 2 and np.all(frames // 4 == e), (i, start, e)


def test_events_are_partly_visible_under_the_cpu_tube_mask():
  """At least 20% of masked event tokens have a token of their event visible (90% tube mask)."""
  rng, key = np.random.default_rng(0), jax.random.key(0)
  with_visible_part = total = 0
  for i in range(120):
    ids = event_token_ids(_clip(i, "unlabelled")["event_ids"][sample_indices(128, CPU_VIEW, rng)], CPU_GRID)
    visible, masked = map(np.asarray, tube_mask(jax.random.fold_in(key, i), CPU_GRID, 0.9))
    events = ids[masked][ids[masked] > 0]
    with_visible_part += np.isin(events, ids[visible][ids[visible] > 0]).sum()
    total += len(events)
  assert with_visible_part / total >= 0.2


def test_size_64_doubles_the_squares():
  c, side = _clip(3, size=64), 2 * slc_v2.PRESETS["medium"].glyph
  (row, col), onset = c["blocks"][0], c["onsets"][0]
  on = c["event_ids"][onset] == 1
  assert on.sum() == side * side and on[side * row: side * (row + 1), side * col: side * (col + 1)].all()


def test_versions_and_presets_are_checked():
  assert SLCData().version == 2 and SLCData(version=1, preset="hard").preset == "hard"
  with pytest.raises(ConfigError, match="version"):
    SLCData(version=3)
  with pytest.raises(ConfigError, match="preset"):
    SLCData(version=2, preset="hard")
  with pytest.raises(ValueError, match="version"):
    slc.generate_clip("train", 0, version=0)
  assert SLCData(num_train=8).source("train").version == 2


def test_long_preset_events_last_two_frames_and_the_bayes_bounds():
  c = slc.generate_clip("train", 1, "long", version=2)
  for e in range(8):
    assert len(np.flatnonzero((c["event_ids"] == e + 1).any(axis=(1, 2)))) == 2
  # a stride-4 view samples one of an event's 2 frames for half of the first frames
  seen = [len(set(np.unique(c["event_ids"][s + 4 * np.arange(32)])) - {0}) for s in range(4)]
  assert sum(seen) == 16
  assert slc_v2.bayes_top1(1.0) == pytest.approx(1.0)
  assert slc_v2.bayes_top1(0.0) == pytest.approx(1 / 8)
  assert slc_v2.bayes_top1(0.5) == pytest.approx(0.408, abs=1e-3)
  assert slc_v2.bayes_top1(0.25) == pytest.approx(0.283, abs=1e-3)


@pytest.mark.parametrize("version,preset,size", [(2, "medium", 32), (2, "long", 64), (1, "medium", 32)])
def test_rendering_a_subset_of_frames_gives_the_whole_clips_frames(version, preset, size):
  rng = np.random.default_rng(0)
  for i in range(4):
    whole = slc.generate_clip("unlabelled", i, preset, size, version)
    frames = np.unique(rng.integers(0, slc.CLIP_FRAMES, int(rng.integers(1, 40))))
    part = slc.generate_clip("unlabelled", i, preset, size, version, frames)
    for key, value in whole.items():
      want = value[frames] if key in slc.PER_FRAME_OUTPUTS else value
      assert part[key].tobytes() == want.tobytes(), (i, key)
    # a source element renders only what a view asks for, with the same label
    element = slc.SLCSource("unlabelled", preset, size, version=version)[i]
    assert int(element["label"]) == int(whole["label"])
    view = sample_indices(slc.CLIP_FRAMES, CPU_VIEW, rng)
    assert np.array_equal(element["video"][view], whole["video"][view])
    assert np.array_equal(element["info"][view], whole["event_ids"][view])
