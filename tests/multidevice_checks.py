"""Checks that need 8 devices: run by tests/test_sharding.py in a subprocess whose XLA_FLAGS
simulate 8 CPU devices (pytest does not collect this file by itself)."""
import jax
import numpy as np
import pytest
from flax import nnx

import experiments
from lvmae import runs
from lvmae.train import sharding
from lvmae.train.checkpoint import Checkpointer
from lvmae.train.sharding import Parallelism
from lvmae.train.state import init_state, make_train_step
from lvmae.validation import ConfigError

SETS = ("schedule.batch_size=8", "encoder.remat='none'", "decoder.remat='none'")


def setup_module():
  assert jax.device_count() == 8, "run with XLA_FLAGS=--xla_force_host_platform_device_count=8"


def _stage():
  return runs.build(experiments.get("pretrain", "smoke", SETS))


def _state_and_batch(stage):
  graphdef, state = init_state(stage.build_model(nnx.Rngs(0)), stage.schedule.optimizer())
  rng = np.random.default_rng(0)
  size, frames = stage.data.image_size, stage.sampling.num_frames
  batch = {"video": rng.integers(0, 256, (8, frames, size, size, 3), dtype=np.uint8)}
  return graphdef, state, batch


def test_mesh_axes_and_errors():
  mesh = sharding.make_mesh(Parallelism(fsdp=2))
  assert dict(mesh.shape) == {"data": 4, "fsdp": 2}
  with pytest.raises(ConfigError, match="fsdp"):
    sharding.make_mesh(Parallelism(fsdp=3))
  with pytest.raises(ConfigError, match="batch_size"):
    sharding.check_batch(mesh, 12)


@pytest.mark.parametrize("fsdp", [1, 2])  # data parallel only; both axes
def test_sharded_step_matches_the_single_device_step(fsdp):
  stage = _stage()
  tx = stage.schedule.optimizer()
  graphdef, state, batch = _state_and_batch(stage)
  key = jax.random.key(3)
  single = make_train_step(graphdef, tx, stage.loss)
  reference, ref_metrics = single(jax.tree.map(np.array, state), batch, key)

  mesh = sharding.make_mesh(Parallelism(fsdp=fsdp))
  state_sh, batch_sh = sharding.state_shardings(mesh, state), sharding.batch_sharding(mesh)
  sharded = make_train_step(graphdef, tx, stage.loss, (state_sh, batch_sh))
  out, metrics = sharded(jax.device_put(state, state_sh), sharding.put_batch(batch, batch_sh), key)
  assert float(metrics["loss"]) == pytest.approx(float(ref_metrics["loss"]), rel=1e-5)
  for got, want in zip(jax.tree.leaves(out), jax.tree.leaves(reference)):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-6)
  if fsdp > 1:  # the big arrays really are split
    kernel = out["params"]["encoder"]["transformer"]["blocks"]["mlp"]["fc1"]["kernel"][...]
    assert len(kernel.sharding.device_set) == 8 and kernel.addressable_shards[0].data.size < kernel.size


def test_checkpoints_move_between_8_devices_and_1(tmp_path):
  stage = _stage()
  _, state, _ = _state_and_batch(stage)
  mesh = sharding.make_mesh(Parallelism(fsdp=4))
  on_8 = jax.device_put(state, sharding.state_shardings(mesh, state))
  on_1 = jax.device_put(state, jax.devices()[0])

  saver = Checkpointer(tmp_path / "from8")
  saver.save(1, on_8)
  saver.wait()
  step, restored = saver.restore(on_1)
  saver.close()
  assert step == 1
  for got, want in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
    assert got.sharding.device_set == {jax.devices()[0]}
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))

  saver = Checkpointer(tmp_path / "from1")
  saver.save(1, on_1)
  saver.wait()
  _, restored = saver.restore(on_8)
  saver.close()
  for got, like, want in zip(jax.tree.leaves(restored), jax.tree.leaves(on_8), jax.tree.leaves(state)):
    assert got.sharding == like.sharding
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_a_run_trains_on_the_mesh_and_resumes(tmp_path):
  cfg = experiments.get("finetune", "smoke", ("schedule.batch_size=8", "parallel.fsdp=2",
                                              "pretrained.schedule.batch_size=8", "pretrained.parallel.fsdp=2"))
  run_dir = runs.execute(cfg, tmp_path, stop_after=4)
  assert not runs.is_finished(run_dir)
  run_dir = runs.execute(cfg, tmp_path)
  result = runs.read_result(run_dir)
  assert result["finished"] and 0 <= result["top1"] <= 1
