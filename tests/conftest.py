"""Shared test set-up: tests run on the CPU, from the repository root."""
import os
from pathlib import Path

import pytest

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
  monkeypatch.chdir(ROOT)


def needs(strategies=("uniform", "running_cell", "flow", "everest", "oracle"), flow_scores: bool = True) -> None:
  """Skips a test, naming what is missing, while lvmae has not got these decoder strategies or the
  `flow_scores` stage (added by other work; un-skips by itself once they exist)."""
  import experiments
  from lvmae.masking import decoder
  missing = [s for s in strategies if s not in decoder.STRATEGIES]
  if missing:
    pytest.skip(f"lvmae.masking.decoder.STRATEGIES lacks {missing}")
  experiments.registry._load()
  if flow_scores and "flow_scores" not in experiments.EXPERIMENTS:
    pytest.skip("experiments has no `flow_scores` stage yet")


def refuse_to_compile(monkeypatch) -> None:
  """Makes any compiled analysis (lvmae.cost) fail the test: a memoised one must be read instead."""
  from lvmae import cost

  def refuse(stage, *args, **kwargs):
    raise AssertionError(f"compiled a {type(stage).__name__} step again")
  monkeypatch.setattr(cost, "compiled_memory", refuse)
  monkeypatch.setattr(cost, "analyse", refuse)
