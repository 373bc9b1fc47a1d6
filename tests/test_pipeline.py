"""Tests of the grain pipelines (lvmae/data/pipeline.py) on a small SLC source."""
import itertools

import numpy as np
import pytest

from lvmae.data.pipeline import SLCData, Sampling, eval_batches, eval_starts, train_iterator
from lvmae.data.slc import CLIP_FRAMES, SLCSource
from lvmae.validation import ConfigError

NUM_CLIPS = 24
SAMPLING = Sampling(num_frames=4, stride=8)  # span 25: starts 0..103


@pytest.fixture(scope="module")
def source():
  return SLCSource("train", num_clips=NUM_CLIPS)


@pytest.fixture(scope="module")
def clips(source):  # rendered whole (a source's clips render lazily, when indexed)
  return [{key: np.asarray(value) for key, value in source[i].items()} for i in range(NUM_CLIPS)]


def _take(it, n):
  return list(itertools.islice(it, n))


def _locate(video, clips, sampling):
  """All (clip, start) whose frames start, start + stride, ... equal `video`, by brute force."""
  span = (sampling.num_frames - 1) * sampling.stride + 1
  found = []
  for c, clip in enumerate(clips):
    full = clip["video"]
    for start in range(full.shape[0] - span + 1):
      frames = [full[start + sampling.stride * f] for f in range(sampling.num_frames)]
      if all(np.array_equal(frames[f], video[f]) for f in range(sampling.num_frames)):
        found.append((c, start))
  return found


def _assert_same_batches(a, b):
  assert len(a) == len(b)
  for x, y in zip(a, b):
    assert x.keys() == y.keys()
    for k in x:
      np.testing.assert_array_equal(x[k], y[k])


# ------------------------------------------------------------------------------------- train


def test_train_batches_shapes_and_frames(source, clips):
  batch_size = 4
  batches = _take(train_iterator(source, SAMPLING, batch_size=batch_size, seed=0), 3)
  starts = []
  for batch in batches:
    assert set(batch) == {"video", "label"}
    assert batch["video"].shape == (batch_size, 4, 32, 32, 3)
    assert batch["video"].dtype == np.uint8
    assert batch["label"].shape == (batch_size,)
    assert np.issubdtype(batch["label"].dtype, np.integer)
    for video, label in zip(batch["video"], batch["label"]):
      found = _locate(video, clips, SAMPLING)
      assert len(found) == 1, found
      c, start = found[0]
      assert 0 <= start <= CLIP_FRAMES - SAMPLING.span()
      assert label == clips[c]["label"]
      starts.append(start)
  assert len(set(starts)) > 1  # the offset is random, not fixed


def test_train_index_key_matches_frames(source, clips):
  it = train_iterator(source, SAMPLING, batch_size=3, seed=5, keys=("video", "label", "index"))
  batch = next(it)
  for video, index in zip(batch["video"], batch["index"]):
    assert [c for c, _ in _locate(video, clips, SAMPLING)] == [int(index)]


def test_train_same_seed_same_batches(source):
  a = _take(train_iterator(source, SAMPLING, batch_size=4, seed=3), 4)
  b = _take(train_iterator(source, SAMPLING, batch_size=4, seed=3), 4)
  c = _take(train_iterator(source, SAMPLING, batch_size=4, seed=4), 4)
  _assert_same_batches(a, b)
  assert not all(np.array_equal(x["video"], y["video"]) for x, y in zip(a, c))


def test_train_iterator_checkpoint_resume(source):
  kwargs = dict(batch_size=4, seed=9, keys=("video", "label", "index"))
  it = train_iterator(source, SAMPLING, **kwargs)
  _take(it, 3)
  state = it.get_state()
  expected = _take(it, 4)  # crosses the epoch boundary (6 batches per epoch)

  fresh = train_iterator(source, SAMPLING, **kwargs)
  fresh.set_state(state)
  _assert_same_batches(_take(fresh, 4), expected)

  # And the restored batches are not simply the first ones of a new iterator.
  first = _take(train_iterator(source, SAMPLING, **kwargs), 4)
  assert not all(np.array_equal(x["index"], y["index"]) for x, y in zip(first, expected))


def test_train_epoch_covers_every_clip_once(source):
  batch_size = 6
  per_epoch = NUM_CLIPS // batch_size
  it = train_iterator(source, SAMPLING, batch_size=batch_size, seed=1, keys=("video", "index"))
  epochs = [np.concatenate([b["index"] for b in _take(it, per_epoch)]) for _ in range(2)]
  for order in epochs:
    assert sorted(order.tolist()) == list(range(NUM_CLIPS))
  assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch
  assert not np.array_equal(epochs[0], np.arange(NUM_CLIPS))  # shuffled at all


def test_train_batch_larger_than_source():
  small = SLCSource("train", num_clips=4)
  with pytest.raises(ConfigError, match="batch_size") as err:
    train_iterator(small, SAMPLING, batch_size=5, seed=0)
  assert err.value.field == "batch_size"


# -------------------------------------------------------------------------------------- eval


def _reference_starts(clip_frames, sampling):
  last = clip_frames - ((sampling.num_frames - 1) * sampling.stride + 1)
  n = sampling.eval_clips
  if n == 1:
    return [last // 2]
  return [int(round(i * last / (n - 1))) for i in range(n)]


@pytest.mark.parametrize("eval_clips", [1, 4])
def test_eval_batches_every_clip_in_order(source, clips, eval_clips):
  sampling = Sampling(num_frames=4, stride=8, eval_clips=eval_clips)
  starts = _reference_starts(CLIP_FRAMES, sampling)
  batches = list(eval_batches(source, sampling, batch_size=10))
  assert [len(b["index"]) for b in batches] == [10, 10, 4]  # the last batch is short
  order = np.concatenate([b["index"] for b in batches])
  np.testing.assert_array_equal(order, np.arange(NUM_CLIPS))
  i = 0
  for batch in batches:
    assert batch["video"].shape == (len(batch["index"]), eval_clips, 4, 32, 32, 3)
    assert batch["video"].dtype == np.uint8
    for video, label in zip(batch["video"], batch["label"]):
      assert label == clips[i]["label"]
      for view, start in zip(video, starts):
        expected = clips[i]["video"][[start + 8 * f for f in range(4)]]
        np.testing.assert_array_equal(view, expected)
      i += 1


def test_eval_starts_spread():
  sampling = Sampling(num_frames=4, stride=8, eval_clips=4)
  starts = eval_starts(CLIP_FRAMES, sampling)
  last = CLIP_FRAMES - sampling.span()
  assert starts.tolist() == [0, 34, 69, 103]
  assert starts[0] == 0 and starts[-1] == last
  assert np.all(np.abs(np.diff(starts) - last / 3) <= 1)

  wide = Sampling(num_frames=16, stride=8, eval_clips=2)  # span 121: starts 0 and 7
  assert eval_starts(CLIP_FRAMES, wide).tolist() == [0, 7]


@pytest.mark.parametrize("num_frames,stride", [(4, 8), (16, 4), (32, 4), (128, 1), (7, 3)])
def test_eval_starts_single_clip_centred(num_frames, stride):
  sampling = Sampling(num_frames=num_frames, stride=stride, eval_clips=1)
  (start,) = eval_starts(CLIP_FRAMES, sampling).tolist()
  after = CLIP_FRAMES - (start + sampling.span())
  assert start >= 0 and after >= 0
  assert abs(start - after) <= 1


# -------------------------------------------------------------------------------- validation


@pytest.mark.parametrize("field,value", [("num_frames", 0), ("num_frames", -2), ("stride", 0),
                                         ("eval_clips", 0)])
def test_sampling_rejects_non_positive(field, value):
  with pytest.raises(ConfigError, match=field) as err:
    Sampling(**{field: value})
  assert err.value.field == field


def test_sampling_check_fits():
  assert Sampling(num_frames=4, stride=8).span() == 25
  Sampling(num_frames=128, stride=1).check_fits(CLIP_FRAMES)  # span 128: fits exactly
  Sampling(num_frames=64, stride=2).check_fits(CLIP_FRAMES)  # span 127
  for num_frames, stride in ((65, 2), (33, 4), (129, 1)):
    with pytest.raises(ConfigError, match="num_frames") as err:
      Sampling(num_frames=num_frames, stride=stride).check_fits(CLIP_FRAMES)
    assert err.value.field == "num_frames"


@pytest.mark.parametrize("kwargs,field", [
    (dict(preset="bogus"), "preset"),
    (dict(size=48), "size"),
    (dict(train_split="bogus"), "train_split"),
    (dict(eval_split="bogus"), "eval_split"),
    (dict(train_split="train", num_train=2001), "num_train"),
    (dict(num_train=20_001), "num_train"),
    (dict(num_train=0), "num_train"),
    (dict(eval_split="val", num_eval=2001), "num_eval"),
])
def test_slc_data_validation(kwargs, field):
  with pytest.raises(ConfigError, match=field) as err:
    SLCData(**kwargs)
  assert err.value.field == field


def test_slc_data_valid_sources():
  data = SLCData(preset="easy", version=1, train_split="train", num_train=2000, num_eval=5)
  train, ev = data.source("train"), data.source("eval")
  assert (train.split, train.preset, len(train), train.version) == ("train", "easy", 2000, 1)
  assert SLCData(preset="long", num_train=8).source("train").preset == "long"
  assert (ev.split, len(ev)) == ("val", 5)
  assert SLCData(num_train=20_000).source("train").split == "unlabelled"
