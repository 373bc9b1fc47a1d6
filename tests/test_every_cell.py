"""Every table builds every config it would run, at every profile (each tree validates before
anything runs), and the paper profile's distinct train steps lower from shapes alone: a typo or a
shape that does not fit in any table's declaration fails here, not hours into a grid."""
import dataclasses

import jax
import pytest

import ablations
import experiments
from lvmae import runs

TABLES = sorted(ablations.tables())
_BUILT: dict[tuple[str, str], list] = {}


def _stages(table_id: str, profile: str) -> list:
  """Every built stage (each config's tree, upstream included) of the table at `profile`."""
  if (table_id, profile) not in _BUILT:
    _BUILT[table_id, profile] = [runs.build(stage) for cfg in ablations.get(table_id).configs(profile)
                                 for _, stage in runs.stage_chain(cfg)]
  return _BUILT[table_id, profile]


@pytest.mark.parametrize("profile", experiments.PROFILES)
@pytest.mark.parametrize("table_id", TABLES)
def test_every_config_of_every_table_builds(table_id, profile):
  stages = _stages(table_id, profile)
  assert stages, f"table {table_id} builds nothing at {profile}"


def _step_signature(stage) -> tuple:
  """What a stage's train step's shapes and program depend on: its fields less seeds, thread
  counts and upstream stages (a fine-tuning's pre-training has its own step)."""
  skip = {"seed", "data_threads", "pretrained", "tokens", "importance"}
  return (type(stage).__name__,) + tuple((f.name, repr(getattr(stage, f.name))) for f in dataclasses.fields(stage)
                                         if f.name not in skip)


@pytest.mark.slow
def test_every_distinct_paper_train_step_lowers_without_allocating():
  distinct = {}
  for table_id in TABLES:
    for stage in _stages(table_id, "paper"):
      if hasattr(stage, "lower_train_step"):
        distinct.setdefault(_step_signature(stage), stage)
  assert len(distinct) > 10
  for stage in distinct.values():
    before = len(jax.live_arrays())
    lowered = stage.lower_train_step()
    assert len(jax.live_arrays()) - before < 8  # only the PRNG key's handful of scalars
    assert "ui8" in lowered.as_text()  # the uint8 clips go in
