"""Optical-flow token scores (lvmae/data/flow.py) and the FlowScores caching stage."""
import json

import cv2
import fiddle as fdl
import numpy as np
import pytest

from lvmae import runs
from lvmae.data import flow
from lvmae.data.pipeline import SLCData, Sampling, SkippedClip, fixed_views
from lvmae.data.slc import SLCSource
from lvmae.masking.events import event_tokens, topk_recall
from lvmae.masking.grid import token_grid
from lvmae.train.flow_scores import FlowScores
from lvmae.train.precompute import SCORES, TokenCache
from lvmae.validation import ConfigError

KEEP = 0.15
SLC_SAMPLING = Sampling(num_frames=32, stride=4)
SLC_TUBELET = (4, 4, 4)


def _loop_reference(magnitudes, tubelet):
  """Token scores by an explicit loop over tokens in (t, h, w) row-major order."""
  tt, ph, pw = tubelet
  frames, height, width = magnitudes.shape
  scores = []
  for t in range(frames // tt):
    for h in range(height // ph):
      for w in range(width // pw):
        scores.append(magnitudes[t * tt:(t + 1) * tt, h * ph:(h + 1) * ph, w * pw:(w + 1) * pw].mean())
  scores = np.array(scores)
  return scores / scores.max() if scores.max() > 0 else scores


def _moving_square(frames=12, size=32, side=8, speed=2, top=12):
  """A flat dark background and one bright textured square moving `speed` px/frame to the right."""
  texture = np.random.default_rng(0).integers(128, 256, (side, side, 1)).repeat(3, axis=-1).astype(np.uint8)
  video = np.full((frames, size, size, 3), 30, np.uint8)
  mask = np.zeros((frames, size, size), bool)
  for i in range(frames):
    left = 1 + speed * i
    video[i, top:top + side, left:left + side] = texture
    mask[i, top:top + side, left:left + side] = True
  return video, mask


def _smooth_texture(height, width, seed=0):
  noise = np.random.default_rng(seed).random((height, width)).astype(np.float32)
  smooth = cv2.GaussianBlur(noise, (0, 0), 1.5)
  smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
  return (smooth * 255).astype(np.uint8)


# --- pooling and token order --------------------------------------------------------------------

def test_pooling_matches_a_loop_over_tokens_in_t_h_w_order():
  magnitudes = np.random.default_rng(1).random((8, 16, 24)).astype(np.float32) * 3
  tubelet = (2, 4, 8)  # non-square, so a swapped h/w order would not match
  scores = flow.pool_token_scores(magnitudes, tubelet)
  assert scores.dtype == np.float32 and scores.shape == (4 * 4 * 3,)
  np.testing.assert_allclose(scores, _loop_reference(magnitudes, tubelet), rtol=1e-6)
  assert scores.max() == 1.0
  np.testing.assert_array_equal(flow.pool_token_scores(np.zeros((4, 8, 8)), (2, 4, 4)), np.zeros(8))


def test_token_flow_scores_pools_the_methods_magnitudes(monkeypatch):
  field = np.random.default_rng(2).random((4, 8, 12)).astype(np.float32)
  seen = {}

  def fake(frames, method):
    seen["method"], seen["shape"] = method, frames.shape
    return field

  monkeypatch.setattr(flow, "flow_magnitudes", fake)
  frames = np.zeros((4, 8, 12, 3), np.uint8)
  scores = flow.token_flow_scores(frames, (2, 4, 4), "dis")
  assert seen == {"method": "dis", "shape": (4, 8, 12, 3)}
  np.testing.assert_allclose(scores, _loop_reference(field, (2, 4, 4)), rtol=1e-6)


def test_farneback_magnitudes_are_the_previous_to_current_flow_with_frame_zero_repeated():
  video, _ = _moving_square(frames=4)
  grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in video]
  out = flow.flow_magnitudes(video, "farneback")
  assert out.dtype == np.float32 and out.shape == (4, 32, 32)
  for i in range(1, 4):
    ref = cv2.calcOpticalFlowFarneback(grey[i - 1], grey[i], None, 0.5, 2, 9, 3, 5, 1.1, 0)
    np.testing.assert_allclose(out[i], np.linalg.norm(ref, axis=-1), rtol=1e-5, atol=1e-6)
  np.testing.assert_array_equal(out[0], out[1])


def test_bad_inputs_raise():
  video, _ = _moving_square(frames=4)
  with pytest.raises(ValueError, match="farneback"):
    flow.flow_magnitudes(video, "lucas_kanade")
  with pytest.raises(ValueError, match="dis"):
    flow.token_flow_scores(video, (2, 4, 4), "lucas_kanade")
  with pytest.raises(ValueError, match="height=32 is not divisible"):
    flow.token_flow_scores(video, (2, 5, 4), "farneback")
  with pytest.raises(ValueError, match="uint8"):
    flow.flow_magnitudes(video.astype(np.float32), "farneback")


# --- motion ------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", flow.FLOW_METHODS)
def test_a_moving_square_gets_the_highest_scores_and_a_static_clip_none(method):
  video, mask = _moving_square()
  tubelet = (2, 8, 8)
  magnitudes = flow.flow_magnitudes(video, method)
  # Inside the square (2 px from its edges) in frame i-1, where the field from i-1 to i lies: 2 px/frame.
  inside = [magnitudes[i, 14:18, 2 * i + 1:2 * i + 5] for i in range(1, 12)]
  assert 1.5 < np.median(inside) < 2.5, np.median(inside)
  scores = flow.token_flow_scores(video, tubelet, method).reshape(6, 4, 4)
  square = event_tokens(mask, token_grid(*mask.shape, tubelet)).reshape(6, 4, 4)
  for t in range(6):  # every time slice's highest score is on one of the square's tokens
    assert square[t].ravel()[np.argmax(scores[t])], (t, scores[t])
  top = np.argsort(-scores.ravel(), kind="stable")[:square.sum()]
  assert square.ravel()[top].mean() >= 0.8
  assert scores[square].mean() > 4 * scores[~square].mean()
  static = np.repeat(video[:1], 12, axis=0)
  assert np.abs(flow.token_flow_scores(static, tubelet, method)).max() < 1e-3
  np.testing.assert_array_equal(flow.flow_magnitudes(video[:1], method), np.zeros((1, 32, 32)))


@pytest.mark.parametrize("height,width", [(16, 16), (12, 40)])
def test_dis_on_frames_smaller_than_its_minimum_measures_original_pixels(height, width):
  texture = _smooth_texture(height + 8, width + 8)
  frames = np.stack([texture[4:4 + height, 4 - i:4 - i + width] for i in range(3)])  # 1 px/frame right
  magnitudes = flow.flow_magnitudes(np.repeat(frames[..., None], 3, axis=-1), "dis")
  assert magnitudes.shape == (3, height, width)
  assert 0.7 < np.median(magnitudes) < 1.3, np.median(magnitudes)


@pytest.mark.parametrize("method", flow.FLOW_METHODS)
def test_flow_recall_of_slc_medium_events_is_no_better_than_random(method):
  """SLC.md: the panning background and bouncing discs fool optical flow (the paper's Fig. 4)."""
  source = SLCSource("val", "medium", 32, 16)
  views = fixed_views(source, range(16), SLC_SAMPLING)
  grid = (8, 8, 8)
  scores = np.stack([flow.token_flow_scores(v, SLC_TUBELET, method) for v in views["video"]])
  events = np.stack([event_tokens(info, grid) for info in views["info"]])
  assert events.sum() > 0
  recall = topk_recall(scores, events, KEEP)
  assert recall <= KEEP + 0.05, recall
  assert topk_recall(events.astype(np.float32), events, KEEP) == 1.0  # the oracle finds them all


# --- the stage ---------------------------------------------------------------------------------

def _stage(**changes):
  fields = dict(data=SLCData(num_train=8, size=32), sampling=SLC_SAMPLING, tubelet=SLC_TUBELET, batch_size=4)
  return FlowScores(**{**fields, **changes})


def test_stage_writes_the_scores_token_cache_reads(tmp_path):
  cfg = fdl.Config(FlowScores, data=fdl.Config(SLCData, num_train=8, size=32),
                   sampling=fdl.Config(Sampling, num_frames=32, stride=4), tubelet=SLC_TUBELET, batch_size=4)
  assert runs.run_id(cfg).startswith("flowscores-")
  run_dir = runs.execute(cfg, tmp_path)
  stage = runs.build(cfg)
  assert stage == _stage() and stage.grid == (8, 8, 8)
  result = json.loads((run_dir / "result.json").read_text())
  scores = np.load(run_dir / SCORES)
  assert scores.dtype == np.float32 and scores.shape == (8, 512)
  assert not list(run_dir.glob("*.partial"))
  source = stage.data.source("train", fixed_view=True)
  views = fixed_views(source, range(8), stage.sampling)
  expect = np.stack([flow.token_flow_scores(v, SLC_TUBELET, "farneback") for v in views["video"]])
  np.testing.assert_allclose(scores, expect, rtol=1e-6, atol=1e-7)
  assert np.all(scores.max(axis=1) == 1.0)
  events = np.stack([event_tokens(info, stage.grid) for info in views["info"]])
  assert result["clips"] == 8 and result["grid"] == [8, 8, 8] and result["method"] == "farneback"
  assert result["scores"] is True and result["skipped"] == 0 and result["ms_per_clip"] > 0
  assert 0.0 <= result["event_recall"] <= 1.0 and result["recall_budget"] == KEEP
  assert result["event_tokens"] == events.sum() > 0
  assert result["event_recall"] == pytest.approx(topk_recall(scores, events, KEEP))
  cache = TokenCache(source, scores_dir=run_dir)
  for i in (0, 5, 7):
    element = cache[i]
    np.testing.assert_array_equal(element["scores"], scores[i])
    assert element["video"].shape == (128, 32, 32, 3)


class _Unreadable:
  shape = (128, 32, 32, 3)

  def __getitem__(self, index):
    raise SkippedClip("unreadable")


def test_stage_keeps_a_zero_row_for_an_unreadable_clip(tmp_path, monkeypatch):
  read = SLCData.source

  def source(self, which, fixed_view=False):
    clips = read(self, which, fixed_view)

    class Broken:
      def __len__(self):
        return len(clips)

      def __getitem__(self, index):
        element = clips[index]
        return {**element, "video": _Unreadable()} if index == 2 else element

    return Broken()

  monkeypatch.setattr(SLCData, "source", source)
  result = _stage(method="dis").run(tmp_path, {})
  scores = np.load(tmp_path / SCORES)
  assert result["skipped"] == 1 and scores.shape == (8, 512)
  np.testing.assert_array_equal(scores[2], 0)
  assert np.all(np.delete(scores, 2, axis=0).max(axis=1) == 1.0)
  assert 0.0 <= result["event_recall"] <= 1.0


@pytest.mark.parametrize("changes,field,words", [
    (dict(method="lucas_kanade"), "method", "farneback"),
    (dict(tubelet=(3, 4, 4)), "sampling.num_frames", "tubelet"),
    (dict(tubelet=(4, 5, 5)), "data.image_size", "tubelet"),
    (dict(tubelet=(4, 4)), "tubelet", "a tuple of 3 ints"),
    (dict(batch_size=0), "batch_size", ">= 1"),
    (dict(data_threads=0), "data_threads", ">= 1"),
    (dict(recall_budget=0.0), "recall_budget", "(0, 1)"),
    (dict(sampling=Sampling(num_frames=32, stride=5)), "num_frames", "spans"),
])
def test_bad_stage_configs_are_config_errors(changes, field, words):
  with pytest.raises(ConfigError) as err:
    _stage(**changes)
  assert err.value.field == field and words in str(err.value)
