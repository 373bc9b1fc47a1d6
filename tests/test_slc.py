"""Tests of the SparseLongCount generator (lvmae/data/slc.py) against shared/SLC.md."""
import pickle

import cv2
import numpy as np
import pytest

import grain.python as pygrain
from lvmae.data import slc
from lvmae.masking.events import event_tokens
from lvmae.masking.grid import token_grid

TUBELET = (2, 4, 4)
KEEP = 0.15


def _clips(split, n, preset="medium", size=32, start=0):
  return [slc.generate_clip(split, i, preset, size) for i in range(start, start + n)]


def _token_mean(x, tubelet=TUBELET):
  """(T, H, W) per-pixel scores -> (N,) per-token means in the project's token order."""
  tt, ph, pw = tubelet
  t, h, w = x.shape
  return x.reshape(t // tt, tt, h // ph, ph, w // pw, pw).mean(axis=(1, 3, 5)).reshape(-1)


def _farneback_scores(video):
  grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video]
  mags = [np.zeros(grey[0].shape, np.float32)]
  for prev, cur in zip(grey[:-1], grey[1:]):
    flow = cv2.calcOpticalFlowFarneback(prev, cur, None, 0.5, 2, 9, 3, 5, 1.1, 0)
    mags.append(np.linalg.norm(flow, axis=-1))
  return _token_mean(np.stack(mags))


def _recall(scores, events, keep=KEEP):
  top = np.argsort(-scores, kind="stable")[: int(round(keep * len(scores)))]
  return events[top].sum() / events.sum()


def _rgb(colour):
  return np.floor(np.asarray(colour) * 255 + 0.5).astype(np.uint8)  # 0.3 -> 77 (half up)


# --- determinism and splits -------------------------------------------------------------------

def test_same_arguments_give_byte_identical_clips():
  for preset in slc.PRESETS:
    a = slc.generate_clip("train", 7, preset)
    b = slc.generate_clip("train", 7, preset)
    assert a.keys() == b.keys()
    for key in a:
      assert a[key].dtype == b[key].dtype and a[key].tobytes() == b[key].tobytes(), key


def test_splits_presets_and_indices_use_different_streams():
  videos = {s: slc.generate_clip(s, 3)["video"] for s in slc.SPLIT_SIZES}
  names = sorted(videos)
  for i, a in enumerate(names):
    for b in names[i + 1:]:
      assert not np.array_equal(videos[a], videos[b]), (a, b)
  states = {tuple(slc.clip_seed_sequence(s, 3).generate_state(4)) for s in slc.SPLIT_SIZES}
  assert len(states) == len(slc.SPLIT_SIZES)
  # The same (split, index) pair never reappears in another split: entropies differ by split id.
  entropies = {tuple(slc.clip_seed_sequence(s, i).entropy) for s in slc.SPLIT_SIZES for i in range(50)}
  assert len(entropies) == 50 * len(slc.SPLIT_SIZES)
  assert not np.array_equal(videos["train"], slc.generate_clip("train", 4)["video"])
  assert not np.array_equal(videos["train"], slc.generate_clip("train", 3, "hard")["video"])


# --- shapes, dtypes, constants ----------------------------------------------------------------

@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_dtypes(size):
  c = slc.generate_clip("val", 0, size=size)
  t = slc.CLIP_FRAMES
  assert c["video"].shape == (t, size, size, 3) and c["video"].dtype == np.uint8
  assert c["label"].shape == () and c["label"].dtype == np.int64
  assert c["info"].shape == (t, size, size) and c["info"].dtype == bool
  assert c["distract"].shape == (t, size, size) and c["distract"].dtype == bool
  assert c["onsets"].shape == (8,) and np.issubdtype(c["onsets"].dtype, np.integer)
  assert c["kinds"].shape == (8,) and np.issubdtype(c["kinds"].dtype, np.integer)
  assert c["cells"].shape == (8, 2) and np.issubdtype(c["cells"].dtype, np.integer)
  assert ((c["cells"] >= 0) & (c["cells"] < 8)).all()


def test_constants_and_presets():
  assert slc.SPLIT_SIZES == {"unlabelled": 20_000, "train": 2_000, "val": 2_000, "test": 2_000}
  assert slc.NUM_CLASSES == 8 and slc.CLIP_FRAMES == 128
  assert set(slc.PRESETS) == {"easy", "medium", "hard"}
  med = slc.PRESETS["medium"]
  assert (med.bg_contrast, med.bg_speed, med.num_distractors) == (0.6, (1.0, 3.0), 3)
  assert med.glyph_colour == (1.0, 0.15, 0.15)
  assert slc.PRESETS["easy"].glyph_colour == (1.0, 1.0, 1.0)
  assert slc.GLYPHS.shape == (4, 4, 4) and slc.GLYPHS.dtype == bool
  assert len({g.tobytes() for g in slc.GLYPHS}) == 4  # four distinct shapes


# --- content ----------------------------------------------------------------------------------

@pytest.mark.parametrize("preset", sorted(slc.PRESETS))
def test_background_moves_everywhere(preset):
  for c in _clips("train", 2, preset):
    moved = np.abs(np.diff(c["video"].astype(np.int16), axis=0)).max(axis=-1) > 0
    assert moved.mean() > 0.95
    # Pure background (no disc or glyph in either frame) changes almost everywhere.
    still = ~(c["info"] | c["distract"])
    background = still[1:] & still[:-1]
    assert moved[background].mean() > 0.97
    assert moved.mean(axis=(1, 2)).min() > 0.8  # no frame is frozen


def test_one_event_per_segment_visible_for_two_frames():
  for c in _clips("test", 10):
    visible = c["info"].any(axis=(1, 2))
    assert visible.sum() == 16
    for s in range(8):
      frames = np.flatnonzero(visible[16 * s: 16 * (s + 1)]) + 16 * s
      assert len(frames) == 2 and frames[1] == frames[0] + 1
      assert frames[0] == c["onsets"][s]
      # One whole 4x4 cell, the same in both frames, at the reported grid cell.
      cells = c["info"][frames[0]]
      assert cells.sum() == 16 and np.array_equal(cells, c["info"][frames[1]])
      r, q = c["cells"][s]
      assert cells[4 * r: 4 * r + 4, 4 * q: 4 * q + 4].all()


def test_event_tokens_are_sparse():
  for c in _clips("val", 10):
    share = event_tokens(c["info"], token_grid(*c["info"].shape, TUBELET)).mean()
    assert 0.001 <= share <= 0.005


def test_labels_uniform_and_equal_to_disc_count():
  labels = []
  for i in range(400):
    c = slc.generate_clip("unlabelled", i)
    assert int(c["label"]) == int((c["kinds"] == slc.DISC).sum())
    assert ((c["kinds"] >= 0) & (c["kinds"] < 4)).all()
    labels.append(int(c["label"]))
  share = np.bincount(labels, minlength=8) / len(labels)
  assert len(share) == 8
  assert (share >= 0.05).all() and (share <= 0.20).all(), share


@pytest.mark.parametrize("preset", sorted(slc.PRESETS))
def test_glyph_pixels_have_the_glyph_colour_and_shape(preset):
  colour = _rgb(slc.PRESETS[preset].glyph_colour)
  for c in _clips("train", 3, preset):
    for onset, kind, (r, q) in zip(c["onsets"], c["kinds"], c["cells"]):
      cell = c["video"][onset: onset + 2, 4 * r: 4 * r + 4, 4 * q: 4 * q + 4]
      glyph = slc.GLYPHS[kind]
      assert (cell[:, glyph] == colour).all()
      # Outside the pattern the cell is not painted (background or disc colours show).
      assert not (cell[:, ~glyph] == colour).all(axis=-1).all()
      # Before and after the event the glyph is gone.
      for t in (onset - 1, onset + 2):
        if 0 <= t < slc.CLIP_FRAMES and not c["info"][t, 4 * r, 4 * q]:  # no next event there
          assert not (c["video"][t, 4 * r: 4 * r + 4, 4 * q: 4 * q + 4][glyph] == colour).all()


def test_disc_glyph_shape():
  disc = slc.GLYPHS[slc.DISC]
  assert disc[1:3, :].all() and disc[:, 1:3].all() and not disc[0, 0]


def test_distractors_are_never_red():
  for preset, count in (("easy", 1), ("hard", 5)):
    for c in _clips("train", 3, preset):
      assert c["distract"].any(axis=(1, 2)).all()  # discs visible in every frame
      red = c["video"][..., 0][c["distract"]]
      assert red.max() <= 0.6 * 255 + 1
      # Roughly count discs of radius 2.5 px (about 21 px each) per frame.
      per_frame = c["distract"].sum(axis=(1, 2))
      assert per_frame.max() <= count * 25


def test_flow_selection_is_fooled_on_medium_but_oracle_is_not():
  flow, oracle = [], []
  for c in _clips("val", 20):
    events = event_tokens(c["info"], token_grid(*c["info"].shape, TUBELET))
    flow.append(_recall(_farneback_scores(c["video"]), events))
    oracle.append(_recall(events.astype(np.float32), events))
  assert np.mean(oracle) == 1.0
  assert np.mean(flow) <= KEEP + 0.05, np.mean(flow)


def test_stride_four_sampling_sees_about_half_the_events():
  rng = np.random.default_rng(0)
  seen = []
  for c in _clips("val", 20):
    frames = rng.integers(0, 4) + 4 * np.arange(32)
    visible = c["info"][frames].any(axis=(1, 2))
    # Every event lasts 2 consecutive frames, so a sampled frame shows at most one event.
    seen.append(visible.sum() / 8)
  assert 0.35 <= np.mean(seen) <= 0.65


def test_size_64_doubles_spatial_sizes():
  c = slc.generate_clip("train", 1, size=64)
  assert c["video"].shape == (128, 64, 64, 3)
  colour = _rgb(slc.PRESETS["medium"].glyph_colour)
  for onset, kind, (r, q) in zip(c["onsets"], c["kinds"], c["cells"]):
    info = c["info"][onset]
    assert info.sum() == 64 and info[8 * r: 8 * r + 8, 8 * q: 8 * q + 8].all()
    cell = c["video"][onset, 8 * r: 8 * r + 8, 8 * q: 8 * q + 8]
    glyph = np.kron(slc.GLYPHS[kind], np.ones((2, 2), bool)).astype(bool)
    assert (cell[glyph] == colour).all()
  share = event_tokens(c["info"], token_grid(*c["info"].shape, (2, 8, 8))).mean()
  assert 0.001 <= share <= 0.005
  assert c["distract"].sum(axis=(1, 2)).max() <= 3 * 4 * 25  # discs of radius 5 px


# --- errors and the grain source --------------------------------------------------------------

def test_invalid_arguments():
  with pytest.raises(ValueError, match="size"):
    slc.generate_clip("train", 0, size=48)
  with pytest.raises(ValueError, match="size"):
    slc.SLCSource("train", size=16)
  with pytest.raises(ValueError, match="bogus.*train"):
    slc.generate_clip("bogus", 0)
  with pytest.raises(ValueError, match="extreme.*medium"):
    slc.generate_clip("train", 0, "extreme")
  with pytest.raises(IndexError):
    slc.generate_clip("train", 2_000)
  with pytest.raises(IndexError):
    slc.generate_clip("train", -1)
  with pytest.raises(ValueError):
    slc.SLCSource("val", num_clips=2_001)


def test_source():
  full = slc.SLCSource("unlabelled")
  assert len(full) == 20_000
  assert isinstance(full, pygrain.RandomAccessDataSource)
  src = slc.SLCSource("train", preset="hard", num_clips=5)
  assert len(src) == 5
  assert "train" in repr(src) and "hard" in repr(src) and "5" in repr(src)
  item = src[2]
  clip = slc.generate_clip("train", 2, "hard")
  assert set(item) == {"video", "label", "info", "index"}
  assert item["label"].dtype == np.int32 and item["label"].shape == ()
  assert item["index"].dtype == np.int32 and int(item["index"]) == 2
  assert np.array_equal(item["video"], clip["video"]) and int(item["label"]) == int(clip["label"])
  assert item["info"].dtype == np.uint8 and np.array_equal(item["info"], clip["event_ids"])
  assert np.array_equal(np.asarray(item["info"]) != 0, clip["info"])
  assert item["video"].shape == clip["video"].shape and item["info"].shape == clip["event_ids"].shape
  idx = np.array([9, 3, 3, 120])  # any order, repeats: numpy's indexing of the whole clip
  assert np.array_equal(item["video"][idx], clip["video"][idx])
  assert np.array_equal(item["info"][5], clip["event_ids"][5])
  assert np.array_equal(item["video"][2:40:4], clip["video"][2:40:4])
  with pytest.raises(IndexError):
    item["video"][np.array([128])]
  assert "version=1" in repr(src) and "version=2" in repr(slc.SLCSource("train", version=2))
  assert np.array_equal(src[np.int64(4)]["video"], src[-1]["video"])
  with pytest.raises(IndexError):
    src[5]
  with pytest.raises(IndexError):
    src[-6]
  again = pickle.loads(pickle.dumps(src))
  assert repr(again) == repr(src) and np.array_equal(again[0]["video"], src[0]["video"])
  labels = [int(x["label"]) for x in pygrain.MapDataset.source(src)]
  assert labels == [int(slc.generate_clip("train", i, "hard")["label"]) for i in range(5)]
