"""Pre-training with every decoder strategy: where each score comes from (EVEREST's patch
embedding, the oracle's event tokens), the logged selection recall, and config errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import experiments
from lvmae import runs
from lvmae.data.pipeline import Sampling, first_view_indices, train_iterator
from lvmae.data.slc import SLCSource
from lvmae.masking.grid import patchify
from lvmae.models.specs import DTYPES
from lvmae.masking import events as metrics
from lvmae.train.state import batch_spec, normalise_input
from lvmae.validation import ConfigError


def _stage(strategy, *sets):
  return runs.build(experiments.get("pretrain", "smoke", [f"masking.decoder_strategy='{strategy}'", *sets]))


def _batch(b=2, seed=0, events_per_clip=3):
  """Random uint8 clips and an `info` mask with a few 8x8-token-aligned event squares."""
  rng = np.random.default_rng(seed)
  video = rng.integers(0, 256, (b, 32, 32, 32, 3), dtype=np.uint8)
  info = np.zeros((b, 32, 32, 32), bool)
  for c in range(b):
    for _ in range(events_per_clip):
      t, y, x = rng.integers(0, 31), rng.integers(0, 28), rng.integers(0, 28)
      info[c, t, y:y + 4, x:x + 4] = True
  return {"video": video, "info": info}


class _SelectionRecorder:
  """Stands in for the MAE: records the selected tokens and predicts zeros."""

  def __init__(self, encoder=None):
    self.encoder = encoder

  def __call__(self, patches, visible, selected, grid):
    self.visible, self.selected = np.asarray(visible), np.asarray(selected)
    return jnp.zeros(selected.shape + (patches.shape[-1],))


def test_everest_scores_are_the_change_of_the_patch_embedding_over_one_step():
  stage = _stage("everest")
  model = stage.build_model(nnx.Rngs(0))
  batch = _batch()
  patches = patchify(normalise_input(batch["video"], DTYPES[stage.encoder.dtype]), stage.tubelet)
  scores = np.asarray(stage.scores(model, batch, patches, jax.random.key(0)))
  embedded = np.asarray(model.encoder.embed(patches)).reshape(2, *stage.grid, -1)
  gt = stage.grid[0]
  expected = np.zeros((2, *stage.grid))
  for t in range(gt):
    before, after = (0, 1) if t == 0 else (t - 1, t)  # the first step: its change to the second
    expected[:, t] = np.linalg.norm(embedded[:, after] - embedded[:, before], axis=-1)
  np.testing.assert_allclose(scores, expected.reshape(2, -1), rtol=1e-4, atol=1e-5)
  loss, logged = stage.loss(model, batch, jax.random.key(1))
  assert np.isfinite(float(loss)) and 0.0 <= float(logged["selection_recall"]) <= 1.0


def test_oracle_selects_every_event_token_and_its_recall_is_one():
  stage = _stage("oracle")
  batch = _batch(events_per_clip=2)  # at most 2 x 2 x 4 event tokens, fewer than the 10% top share
  events = metrics.event_tokens(batch["info"], stage.grid)
  model = _SelectionRecorder()
  _, logged = stage.loss(model, batch, jax.random.key(0))
  for c in range(2):
    assert set(np.flatnonzero(events[c])) <= set(model.selected[c].tolist())
  assert float(logged["selection_recall"]) == 1.0
  # the rest of the budget is not piled on the first tokens: ties are broken at random
  assert model.selected[0].max() > stage.grid[1] * stage.grid[2] * 4


@pytest.mark.parametrize("strategy,sets", [("random", ()), ("none", ()), ("uniform", ()),
                                           ("running_cell", ("masking.decoder_budget=0.25",))])
def test_logged_selection_recall_is_the_share_of_event_tokens_selected(strategy, sets):
  stage = _stage(strategy, *sets)
  batch = _batch(b=3, seed=4)
  model = _SelectionRecorder()
  _, logged = stage.loss(model, batch, jax.random.key(2))
  assert model.selected.shape == (3, stage.num_tokens()["selected"])
  selected = np.zeros((3, int(np.prod(stage.grid))), bool)
  for c in range(3):
    selected[c, model.selected[c]] = True
  expected = metrics.selection_recall(selected, metrics.event_tokens(batch["info"], stage.grid))
  np.testing.assert_allclose(float(logged["selection_recall"]), expected, rtol=1e-6)


def test_slc_batches_carry_the_event_masks_of_the_sampled_frames():
  stage = _stage("random")
  assert "info" in stage.batch_keys and batch_spec(stage)["info"].shape == (4, 32, 32, 32)
  source = SLCSource("unlabelled", "medium", 32, 8)
  sampling = Sampling(num_frames=8, stride=4)
  batch = next(train_iterator(source, sampling, batch_size=8, seed=0, keys=("video", "info", "index"),
                              num_threads=1, random_offset=False))
  for video, info, index in zip(batch["video"], batch["info"], batch["index"]):
    idx = first_view_indices(128, sampling)
    np.testing.assert_array_equal(info, source[int(index)]["info"][idx])
    np.testing.assert_array_equal(video, source[int(index)]["video"][idx])


def test_strategy_config_errors_name_the_field():
  with pytest.raises(ConfigError, match="decoder_budget.*0.25, 0.5, 0.75"):
    _stage("running_cell", "masking.decoder_budget=0.15")
  with pytest.raises(ConfigError, match="importance.*FlowScores"):
    _stage("flow")
  with pytest.raises(ConfigError, match="importance.*FlowScores"):
    _stage("flow", "importance=@tokens_adaptive_fsq_magvit")
  with pytest.raises(ConfigError, match="importance.*adaptive"):
    _stage("adaptive", "importance=@flow_scores")
  with pytest.raises(ConfigError, match="oracle.*event masks"):
    runs.build(experiments.get("pretrain", "paper", ["masking.decoder_strategy='oracle'"]))
  with pytest.raises(ConfigError, match="uniform_step"):
    _stage("uniform", "masking.uniform_step=0")


def test_flow_strategy_reads_the_flow_scores_of_the_same_clips():
  stage = _stage("flow", "importance=@flow_scores")
  assert "scores" in stage.batch_keys and stage.importance.grid == stage.grid
  with pytest.raises(ConfigError, match="importance.data"):
    _stage("flow", "importance=@flow_scores", "importance.sampling.stride=2")
