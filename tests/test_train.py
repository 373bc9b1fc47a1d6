"""Training: the Eq. 1 loss, resume after an interruption, NaN stop, loading the pre-trained encoder."""
import json
import math

import grain
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import experiments
from lvmae import runs
from lvmae.targets.pixels import pixel_targets
from lvmae.train import loop, stage as stage_module
from lvmae.train.checkpoint import Checkpointer
from lvmae.train.optim import Schedule


class _RecordingModel:
  """Predicts the exact target at visible tokens and zero at masked ones; records its inputs."""

  def __init__(self, targets):
    self.targets = targets

  def __call__(self, patches, visible, selected, grid):
    self.visible, self.selected = np.asarray(visible), np.asarray(selected)
    out = np.zeros(selected.shape + (self.targets.shape[-1],), np.float32)
    for b in range(selected.shape[0]):
      for j, token in enumerate(self.selected[b]):
        if token in set(self.visible[b]):
          out[b, j] = self.targets[b, token]
    return jnp.asarray(out)


@pytest.mark.parametrize("strategy", ["random", "none"])
def test_loss_is_the_mean_over_masked_and_selected_tokens(strategy):
  stage = runs.build(experiments.get("pretrain", "smoke", [f"masking.decoder_strategy='{strategy}'"]))
  video = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 32, 3), dtype=np.uint8)
  targets = np.asarray(pixel_targets(video, stage.tubelet, stage.targets.pixel_norm))
  model = _RecordingModel(targets)
  loss, _ = stage.loss(model, {"video": video}, jax.random.key(3))
  errors = []
  for b in range(2):
    for token in model.selected[b]:
      if token not in set(model.visible[b]):
        errors.append(np.mean(targets[b, token] ** 2))
  assert len(errors) > 0
  np.testing.assert_allclose(float(loss), np.mean(errors), rtol=1e-5)
  if strategy == "none":  # every encoder-masked token is decoded
    n = targets.shape[1]
    assert all(len(set(model.selected[b]) | set(model.visible[b])) == n for b in range(2))


class _InterruptingIterator:
  """Delegates to a grain iterator and raises after `limit` batches, like a preemption."""

  def __init__(self, inner, limit):
    self.inner, self.limit, self.count = inner, limit, 0

  def __iter__(self):
    return self

  def __next__(self):
    self.count += 1
    if self.count > self.limit:
      raise KeyboardInterrupt("simulated preemption")
    return next(self.inner)

  # The byte-state protocol grain's checkpoint handler uses for iterators of other types.
  def get_state(self):
    return json.dumps(self.inner.get_state()).encode()

  def set_state(self, state):
    self.inner.set_state(json.loads(state))

  def start_prefetch(self):
    self.inner.start_prefetch()


def _final_loss(run_dir):
  lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
  return lines[-1]["step"], lines[-1]["loss"], lines


def test_interrupted_pretraining_resumes_to_the_same_final_loss(tmp_path, monkeypatch):
  cfg = experiments.get("pretrain", "smoke")  # 12 steps, checkpoints every 6
  reference = runs.execute(cfg, tmp_path / "uninterrupted")

  original = stage_module.train_iterator
  monkeypatch.setattr(stage_module, "train_iterator", lambda *a, **k: _InterruptingIterator(original(*a, **k), 8))
  with pytest.raises(KeyboardInterrupt):
    runs.execute(cfg, tmp_path / "interrupted")
  run_dir = tmp_path / "interrupted" / runs.run_id(cfg)
  assert not runs.is_finished(run_dir)
  assert Checkpointer(run_dir / "checkpoints").latest_step() == 6
  monkeypatch.setattr(stage_module, "train_iterator", original)

  resumed = runs.execute(cfg, tmp_path / "interrupted")
  assert json.loads((resumed / "provenance.json").read_text())["resumed"] is True
  step_a, loss_a, lines_a = _final_loss(reference)
  step_b, loss_b, lines_b = _final_loss(resumed)
  assert step_a == step_b == 12
  assert loss_a == loss_b  # exactly: same data order, same keys, same optimiser state
  assert [l["step"] for l in lines_b] == [l["step"] for l in lines_a]


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
  schedule = Schedule(steps=10, batch_size=2, learning_rate=1.0, checkpoint_every=3, log_every=1)
  batches = iter(grain.MapDataset.range(100).batch(2).to_iter_dataset())

  def step_fn(state, batch, key):
    new = {"w": state["w"] + 1.0}
    loss = jnp.where(new["w"][0] >= 5.0, jnp.nan, 0.5)
    return new, {"loss": loss}

  with pytest.raises(loop.NonFiniteLossError, match=r"nan at step 5.*checkpoint \(step 3\)"):
    loop.fit(run_dir=tmp_path, state={"w": jnp.zeros(2)}, step_fn=step_fn, batches=batches,
             schedule=schedule, seed=0, desc="nan-test")
  checkpointer = Checkpointer(tmp_path / "checkpoints")
  step, state = checkpointer.restore({"w": jnp.zeros(2)})
  assert step == 3 and np.all(np.asarray(state["w"]) == 3.0)
  assert all(math.isfinite(json.loads(l)["loss"]) for l in (tmp_path / "metrics.jsonl").read_text().splitlines())


def test_finetuning_starts_from_the_pretrained_encoder(tmp_path):
  cfg = experiments.get("finetune", "smoke")
  stage = runs.build(cfg)
  pretrain_dir = runs.execute(cfg.pretrained, tmp_path)
  model = stage.build_model(nnx.Rngs(123))
  fresh = jax.tree.map(np.asarray, nnx.state(model.encoder, nnx.Param))
  stage.load_pretrained_encoder(model, pretrain_dir)
  loaded = jax.tree.map(np.asarray, nnx.state(model.encoder, nnx.Param))
  checkpointer = Checkpointer(pretrain_dir / "checkpoints")
  mae = stage.pretrained.build_model(nnx.Rngs(0))
  from lvmae.train.state import init_state
  _, like = init_state(mae, stage.pretrained.schedule.optimizer())
  _, saved = checkpointer.restore(like, step=stage.pretrained.schedule.steps)
  saved_encoder = jax.tree.map(np.asarray, saved["params"]["encoder"])
  for a, b, c in zip(jax.tree.leaves(loaded), jax.tree.leaves(saved_encoder), jax.tree.leaves(fresh)):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, c) for a, c in zip(jax.tree.leaves(loaded), jax.tree.leaves(fresh)))


def test_multi_clip_evaluation_averages_clip_posteriors():
  from lvmae.train.evaluate import evaluate

  class ClipMeanModel(nnx.Module):  # logits from each clip's mean pixel value: differ between clips
    def __call__(self, patches, positions, grid):
      m = patches.mean(axis=(1, 2))
      return jnp.stack([m, -m, 2 * m], axis=-1)

  rng = np.random.default_rng(0)
  batches = [{"video": rng.integers(0, 256, (3, 4, 2, 8, 8, 3), dtype=np.uint8),
              "label": np.array([0, 1, 2]), "index": np.arange(3) + 3 * i} for i in range(2)]
  batches[-1] = {k: v[:2] for k, v in batches[-1].items()}  # a short last batch is padded
  out = evaluate(ClipMeanModel(), batches, tubelet=(2, 4, 4), grid=(1, 2, 2), batch_size=3, heads=(3,))
  assert out["probs"].shape == (5, 3) and list(out["index"]) == [0, 1, 2, 3, 4]
  from lvmae.train.state import INPUT_MEAN, INPUT_STD
  for b, batch in enumerate(batches):
    for j in range(len(batch["label"])):
      x = (batch["video"][j] / 255.0 - np.asarray(INPUT_MEAN)) / np.asarray(INPUT_STD)
      m = x.reshape(4, -1).mean(axis=1)
      logits = np.stack([m, -m, 2 * m], axis=-1)
      p = np.exp(logits - logits.max(-1, keepdims=True))
      p /= p.sum(-1, keepdims=True)
      np.testing.assert_allclose(out["probs"][3 * b + j], p.mean(0), rtol=1e-5)
  assert np.array_equal(out["prediction"], out["probs"].argmax(-1))
