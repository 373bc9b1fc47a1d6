"""Tables 1, 4a and 4d (decoder masking strategies, budget mixes, strategies at 128 frames) build
at the smoke and paper profiles (Figure 4's end-to-end test is in test_table1.py, beside Figure
3's). Cells that need a decoder strategy or the `flow_scores` stage skip until those exist."""
from types import SimpleNamespace

import pytest

import ablations
from ablations.kinds import selection_figure
from ablations.spec import Bound, Claim, Panel, SelectionFigure
import cli
from lvmae import runs
from tests.conftest import needs


def _stages(table_id: str, profile: str) -> dict:
  """(row, column) -> built stage of seed 0's cells."""
  return {(cell.row, cell.column): runs.build(cell.config(profile))
          for cell in ablations.get(table_id).cells(profile) if cell.seed == 0}


def test_table1_keeps_its_rows_and_adds_the_papers_strategies_and_an_oracle():
  table = ablations.get("1")
  assert list(table.rows) == ["none (100%)", "uniform (15%)", "random (15%)", "running cell (25%)", "flow (15%)",
                              "EVEREST (15%)", "adaptive (15%)", "oracle (15%)"]
  # The rows that have finished runs keep their overrides (run ids hash the configs).
  assert table.rows["none (100%)"] == ("pretrained.masking.decoder_strategy='none'",)
  assert table.rows["random (15%)"] == ("pretrained.masking.decoder_strategy='random'",
                                        "pretrained.masking.decoder_budget=0.15")
  assert table.rows["adaptive (15%)"] == ("pretrained.masking.decoder_strategy='adaptive'",
                                          "pretrained.masking.decoder_budget=0.15",
                                          "pretrained.importance=@tokens_adaptive_fsq_magvit")
  assert {c.row for c in table.cells("paper")} == set(table.rows) - {"oracle (15%)"}
  texts = [c.text for c in table.claims]
  assert texts[0].startswith("instrument") and texts[1].startswith("adaptive at 15% is no worse (within 1 point) than no decoder masking")
  assert table.claims[0].instrument and not any(c.instrument for c in table.claims[1:])


def test_table1_cells_build_at_smoke_and_paper():
  needs()
  smoke = _stages("1", "smoke")
  assert len(smoke) == 16
  strategies = {row: stage.pretrained.masking for (row, column), stage in smoke.items() if column == "RGB"}
  assert strategies["uniform (15%)"].decoder_strategy == "uniform"
  assert (strategies["running cell (25%)"].decoder_strategy, strategies["running cell (25%)"].decoder_budget) == (
      "running_cell", 0.25)
  assert strategies["EVEREST (15%)"].top_share == 1.0 and strategies["flow (15%)"].top_share == pytest.approx(2 / 3)
  assert type(smoke[("flow (15%)", "RGB")].pretrained.importance).__name__ == "FlowScores"
  assert smoke[("oracle (15%)", "FSQ-MagViT")].pretrained.importance is None
  paper = _stages("1", "paper")
  assert len(paper) == 14 and not any(row == "oracle (15%)" for row, _ in paper)


def test_table4a_splits_the_budget_between_top_and_random_tokens():
  stages = _stages("4a", "smoke")
  shares = {row: stage.pretrained.masking.top_share for (row, _), stage in stages.items()}
  assert shares == pytest.approx({"15% + 0% (adaptive only)": 1.0, "10% + 5% (paper)": 2 / 3, "5% + 10%": 1 / 3,
                                  "0% + 15% (random only)": 0.0})
  assert all(s.pretrained.masking.decoder_budget == 0.15 for s in stages.values())
  # The paper's mix sets no top_share: its runs are the full-method runs of other tables (4b's best cell).
  paper = next(c for c in ablations.get("4a").cells("cpu") if c.row == "10% + 5% (paper)")
  same = next(c for c in ablations.get("4b").cells("cpu") if c.row == "adaptive FSQ-MagViT"
              and c.column == "adaptive decoder mask" and c.seed == paper.seed)
  assert runs.run_id(paper.config("cpu")) == runs.run_id(same.config("cpu"))


def test_table4d_runs_every_strategy_at_128_frames():
  needs()
  smoke = _stages("4d", "smoke")
  assert {column for _, column in smoke} == {"top-1"} and len(smoke) == 7
  for (row, _), stage in smoke.items():
    assert stage.sampling.num_frames == stage.pretrained.sampling.num_frames == 128 and stage.token_drop == 0.2
    assert stage.data.preset == stage.pretrained.data.preset == "long"
    assert stage.pretrained.targets.kind == "adaptive_fsq_magvit"
    assert stage.pretrained.importance is None or stage.pretrained.importance.sampling.num_frames == 128
  assert type(smoke[("flow (15%)", "top-1")].pretrained.importance).__name__ == "FlowScores"
  adaptive = next(c for c in ablations.get("4d").cells("cpu") if c.row == "adaptive (15%)" and c.seed == 0)
  same = next(c for c in ablations.get("4c").cells("cpu") if c.row == "128 frames" and c.seed == 0)
  assert runs.run_id(adaptive.config("cpu")) == runs.run_id(same.config("cpu"))  # shared with Table 4c


def test_table4d_is_on_ek100_and_diving48_at_the_paper_profile():
  needs()
  paper = _stages("4d", "paper")
  assert {column for _, column in paper} == {"EK100", "Diving48"} and len(paper) == 12  # no oracle
  flow = paper[("flow (15%)", "Diving48")]
  assert {flow.data.name, flow.pretrained.data.name, flow.pretrained.tokens.data.name,
          flow.pretrained.importance.data.name} == {"diving48"}
  random = paper[("random (15%)", "Diving48")]
  assert random.pretrained.data.name == "diving48" and random.pretrained.importance is None
  assert paper[("random (15%)", "EK100")].pretrained.data.name == "epic_kitchens_100"


def test_reproduce_rows_runs_only_those_rows(capsys):
  args = ["reproduce", "1", "--print-commands", "--seeds", "0", "--rows", "random (15%)"]
  assert cli.main(args) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  # RGB: pre-training, fine-tuning; FSQ-MagViT: its tokenizer and cache too.
  assert len(lines) == 6 and all("decoder_strategy='random'" in line for line in lines if "finetune" in line)
  assert cli.main(["reproduce", "1", "--print-commands", "--rows", "bogus"]) == 2
  assert "--rows ['bogus']" in capsys.readouterr().err


def test_selection_figures_name_their_score_sources_and_draw_the_same_clips():
  assert ablations.get("figure4").sources() == ["flow_scores", "tokens_adaptive_fsq_magvit"]
  assert ablations.get("figure3").sources() == ["tokens_adaptive_fsq_magvit"]
  with pytest.raises(ValueError, match="no panel reads scores"):
    SelectionFigure(id="f", title="t", panels={"random": Panel("random", 0.15)})
  with pytest.raises(ValueError, match="claims name panels"):
    SelectionFigure(id="f", title="t", panels={"a": Panel("adaptive", 0.15, 2 / 3, "tokens_adaptive_fsq_magvit")},
                    claims=(Claim("c", (Bound("a", "<", "flow"),)),))
  clips = SimpleNamespace(data="slc", sampling=(32, 4), grid=(16, 4, 4))
  other = SimpleNamespace(data="slc", sampling=(32, 2), grid=(16, 4, 4))
  assert selection_figure._same_clips({"x": clips, "y": clips}) is clips
  with pytest.raises(ValueError, match="`y` and `x` do not read the same clips"):
    selection_figure._same_clips({"x": clips, "y": other})
