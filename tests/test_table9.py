"""Table 9: the most frames within a memory budget, per model size."""
import json

import pytest

import ablations
from ablations.spec import FramesFitTable
from lvmae import cost, runs
from tests.conftest import refuse_to_compile


@pytest.mark.parametrize("budget", [0, 1, 300, 4096, 10**9])
def test_most_frames_within_is_the_largest_choice_under_budget(budget):
  choices = list(range(16, 129, 16))
  best, measured = cost.most_frames_within(lambda f: {"total_bytes": f * f}, budget, choices)
  fitting = [f for f in choices if f * f <= budget]
  assert best == (max(fitting) if fitting else None)
  assert len(measured) <= 4  # a binary search over 8 choices


def test_smaller_models_fit_at_least_as_many_frames_and_a_second_call_compiles_nothing(tmp_path, monkeypatch):
  table = FramesFitTable(
      id="9", title="small", experiment="pretrain", finetune_experiment="finetune", profile="smoke",
      base=("schedule.batch_size=2", "sampling.stride=1"), sizes={"narrow": (), "wide": ("encoder.width=256", "encoder.heads=4")},
      reference=("narrow", 32), frame_choices=(16, 32), measure="total_bytes", measure_label="memory")
  table.collect(table.config, table.finetune_config, tmp_path / "runs", tmp_path)
  rows = {r["row"]: r for r in json.loads((tmp_path / "tables" / "table9.json").read_text())["rows"]}
  assert rows["narrow"]["frames"] == 32  # the reference fits its own budget
  assert rows["wide"]["frames"] is None or rows["wide"]["frames"] <= rows["narrow"]["frames"]
  assert rows["narrow"]["top1"] is None  # no fine-tuning run exists: nothing is invented
  body = lambda: (tmp_path / "tables" / "table9.md").read_text().split("\n\n", 2)[2]  # noqa: E731 (after the header)
  first = body()
  refuse_to_compile(monkeypatch)
  table.collect(table.config, table.finetune_config, tmp_path / "runs", tmp_path)
  assert body() == first


def test_registered_table9_compares_vit_s_b_l_against_vit_b_at_128_frames():
  table = ablations.get("9")
  assert list(table.sizes) == ["ViT-S", "ViT-B", "ViT-L"] and table.reference == ("ViT-B", 128)
  large = runs.build(table.config("ViT-L", 64))
  assert (large.encoder.width, large.encoder.depth, large.grid) == (1024, 24, (32, 14, 14))
  finetune = runs.build(table.finetune_config("ViT-L", 64))
  assert finetune.encoder == large.encoder and finetune.pretrained.sampling.num_frames == 64
