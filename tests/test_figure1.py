"""Figure 1 (right): compiled memory and FLOPs of a pre-training step by decoder budget."""
import json

import pandas as pd
import pytest

import ablations
from ablations.spec import CostFigure
from lvmae import cost, runs
from tests.conftest import refuse_to_compile

SMALL = CostFigure(
    id="figure1", title="small", experiment="pretrain", profile="smoke",
    base=("schedule.batch_size=1",),
    points={"100%": ("masking.decoder_strategy='none'",),
            "50%": ("masking.decoder_budget=0.5",), "15%": ("masking.decoder_budget=0.15",)},
    x_label="decoder token budget", memory_budget_gib=1.0, memory_budget_label="1 GiB")


def test_cost_figure_writes_memory_and_flops_that_shrink_with_the_budget(tmp_path, monkeypatch):
  cfgs = {label: SMALL.config(label) for label in SMALL.points}
  SMALL.collect(cfgs, tmp_path, tmp_path / "runs")
  df = pd.read_csv(tmp_path / "figures" / "figure1.csv")
  assert list(df.point) == ["100%", "50%", "15%"]
  assert df.gflops.is_monotonic_decreasing and df.temp_gib.is_monotonic_decreasing
  assert df.fits_budget.all()
  assert (tmp_path / "figures" / "figure1.png").stat().st_size > 0
  meta = json.loads((tmp_path / "figures" / "figure1.json").read_text())
  assert meta["num_runs"] == 0 and len(meta["points"]) == 3
  refuse_to_compile(monkeypatch)  # a second call reads the memoised analyses
  SMALL.collect(cfgs, tmp_path, tmp_path / "runs")
  pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "figures" / "figure1.csv"), df)


def test_registered_figure1_is_vit_b_at_128_frames_from_100_to_5_percent():
  figure = ablations.get("figure1")
  assert list(figure.points) == ["100%", "75%", "50%", "25%", "15%", "10%", "5%"]
  stage = runs.build(figure.config("15%"))
  assert stage.grid == (64, 14, 14) and stage.schedule.batch_size == 1
  assert stage.encoder.width == 768 and stage.masking.encoder_ratio == 0.9
  assert stage.num_tokens()["selected"] == round(0.15 * 64 * 14 * 14)
  assert runs.build(figure.config("100%")).masking.decoder_strategy == "none"


@pytest.mark.slow
def test_vit_b_128_frames_fits_16_gib_at_15_percent_and_needs_4x_more_at_100():
  figure = ablations.get("figure1")
  memory = {label: cost.compiled_cost(runs.build(figure.config(label)))["total_bytes"] / 2**30
            for label in ("15%", "100%")}
  assert memory["15%"] <= 16
  assert memory["100%"] >= 4 * memory["15%"]
