"""End to end: `lvmae reproduce 1` at the smoke profile writes table 1 and the report; a rerun reuses.
Figures 3 and 4 train the same smoke tokenizer (one process compiles it once)."""
import json
import re

import pandas as pd
import pytest

import ablations
import cli
from tests.conftest import ROOT, needs


_RUN_ROWS = ["none (100%)", "adaptive (15%)"]


def test_table1_smoke_end_to_end(tmp_path, capsys):
  """Two of the table's rows and seeds 0 and 2 of its three (to keep `make test` short): 8 cells
  of pre-training and fine-tuning, 2 tokenizers and 2 caches."""
  runs_dir, results = tmp_path / "runs", tmp_path / "results"
  args = ["reproduce", "1", "--profile", "smoke", "--runs-dir", str(runs_dir), "--results-dir", str(results),
          "--seeds", "0", "2", "--rows", *_RUN_ROWS]
  assert cli.main(args) == 0
  first = capsys.readouterr().out
  assert first.count(" running") == 20 and "reused" not in first  # 16 cell runs + 2 tokenizers + 2 caches

  csv = pd.read_csv(results / "tables" / "table1.csv")
  assert list(csv["row"]) == list(ablations.get("1").rows)  # every row; those not run have no cells
  ran = csv[csv.row.isin(_RUN_ROWS)]
  for column in ("RGB", "FSQ-MagViT"):
    assert (ran[f"{column} n"] == 2).all() and (csv[~csv.row.isin(_RUN_ROWS)][f"{column} n"] == 0).all()
    assert ran[f"{column} mean"].between(0, 100).all() and (ran[f"{column} std"] >= 0).all()
    assert csv[f"{column} paper"].isna().all()  # the paper's table 1 numbers are not known here
  # The two tokenizers (with and without scorer) are trained once and shared by every cell.
  assert len(list(runs_dir.glob("tokenizer-*"))) == 2 and len(list(runs_dir.glob("precompute-*"))) == 2

  meta = json.loads((results / "tables" / "table1.json").read_text())
  assert meta["profile"] == "smoke" and len(meta["cells"]) == 8 and meta["num_runs"] == 20
  assert {cell["seed"] for cell in meta["cells"]} == {0, 2}
  for cell in meta["cells"]:  # every number points at a finished run directory
    result = json.loads((runs_dir / cell["run"] / "result.json").read_text())
    assert result["top1"] * 100 == pytest.approx(cell["value"])  # the table shows top-1 in %
    for name in ("config.json", "config.txt", "metrics.jsonl", "predictions.npz", "provenance.json"):
      assert (runs_dir / cell["run"] / name).exists()
  means = ran.set_index("row")["RGB mean"]
  for row, mean in means.items():
    values = [c["value"] for c in meta["cells"] if c["row"] == row and c["column"] == "RGB"]
    assert abs(sum(values) / 2 - mean) < 1e-6

  markdown = (results / "tables" / "table1.md").read_text()
  assert "profile: smoke" in markdown and "| none (100%) |" in markdown
  assert "| selection recall (%) |" in markdown.splitlines()[4]  # the header row
  # Claims: the rows not run leave those checks "not run"; the verdicts come from the cells shown.
  claims = {c["claim"]: c for c in meta["claims"]}
  assert len(claims) == 4
  instrument = next(c for name, c in claims.items() if name.startswith("instrument"))
  assert [c["verdict"] for c in instrument["checks"]] == ["not run"]  # the oracle row was not run
  versus_none = claims["adaptive at 15% is no worse (within 1 point) than no decoder masking (100%), for both targets"]
  assert versus_none["verdict"] in ("reproduced", "not reproduced", "inconclusive")
  assert len(versus_none["checks"]) == 2 and f"- {versus_none['claim']}: **{versus_none['verdict']}**" in markdown
  others = claims["adaptive at 15% beats every other decoder strategy, for both targets"]
  assert any(c["verdict"] == "not run" for c in others["checks"]) and others["verdict"] != "reproduced"
  report = (results / "REPORT.md").read_text()
  assert "## Table 1:" in report and re.search(r"git: \w+", report)
  assert report.index("## Claims") < report.index("## Table 1:")

  stamps = {p: p.stat().st_mtime_ns for p in runs_dir.glob("*/result.json")}
  assert cli.main(args) == 0
  second = capsys.readouterr().out
  assert second.count(" reused") == 20 and " running" not in second
  assert stamps == {p: p.stat().st_mtime_ns for p in runs_dir.glob("*/result.json")}


def test_table11_model_card_comes_from_the_paper_config(tmp_path, capsys):
  assert cli.main(["reproduce", "10", "11", "--results-dir", str(tmp_path)]) == 0  # several tables: one call
  assert "Table 10" in (tmp_path / "tables" / "table10.md").read_text()
  report = (tmp_path / "REPORT.md").read_text()
  assert report.index("Table 10") < report.index("Table 11")
  card = (tmp_path / "tables" / "table11.md").read_text()
  assert "| encoder width / depth / heads | 768 / 12 / 12 |" in card
  assert "| tubelet (t, h, w) | (2, 16, 16) |" in card
  assert "| encoder mask ratio (tube) | 0.9 |" in card
  assert "| decoder strategy / budget | random / 0.15 |" in card


def test_makefile_has_a_target_per_registered_table():
  makefile = (ROOT / "Makefile").read_text()
  listed = re.search(r"^TABLES := (.*)$", makefile, re.M).group(1).split()
  figures = re.search(r"^FIGURES := (.*)$", makefile, re.M).group(1).split()
  assert listed + [f"figure{f}" for f in figures] == list(ablations.tables())


def test_figure3_draws_the_selection_and_links_it_from_the_report(tmp_path, capsys):
  results = tmp_path / "results"
  args = ["reproduce", "figure3", "--profile", "smoke", "--runs-dir", str(tmp_path / "runs"),
          "--results-dir", str(results)]
  assert cli.main(args) == 0
  png = results / "figures" / "figure3.png"
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  page = (results / "figures" / "figure3.md").read_text()
  assert "](figure3.png)" in page and "| adaptive 15% |" in page
  recall = json.loads((results / "figures" / "figure3.json").read_text())["recall"]
  assert set(recall) == {"adaptive 15%", "top 15% by score"} and all(0 <= v <= 1 for v in recall.values())
  report = (results / "REPORT.md").read_text()
  assert "## Figure 3:" in report and "](figures/figure3.png)" in report


def test_figure4_draws_four_strategies_over_the_same_clips(tmp_path):
  needs(("flow", "oracle"))
  results = tmp_path / "results"
  args = ["reproduce", "figure4", "--profile", "smoke", "--runs-dir", str(tmp_path / "runs"),
          "--results-dir", str(results)]
  assert cli.main(args) == 0
  assert (results / "figures" / "figure4.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
  meta = json.loads((results / "figures" / "figure4.json").read_text())
  assert set(meta["runs"]) == {"flow_scores", "tokens_adaptive_fsq_magvit"}
  recall = meta["recall"]
  assert set(recall) == {"flow (15%)", "random (15%)", "adaptive (15%)", "oracle (15%)"}
  assert meta["recall_clips"] == 64  # every cached smoke clip, not only the 3 drawn
  assert abs(recall["random (15%)"] - 0.15) < 0.05  # pooled over 64 clips, random's recall is near its budget
  assert recall["oracle (15%)"] > max(recall["flow (15%)"], recall["random (15%)"])  # its top 10% are events
  (claim,) = meta["claims"]
  flow_below_adaptive = recall["flow (15%)"] < recall["adaptive (15%)"]
  flow_near_random = recall["flow (15%)"] <= recall["random (15%)"] + 0.05
  assert claim["verdict"] == ("reproduced" if flow_below_adaptive and flow_near_random else "not reproduced")
  page = (results / "figures" / "figure4.md").read_text()
  assert "| flow (15%) |" in page and "`flow_scores` (run `flowscores-" in page
  report = (results / "REPORT.md").read_text()
  assert "## Claims" in report and "| Figure 4 | flow is fooled by background motion" in report


def test_missing_metrics_show_as_not_available():
  from lvmae import report
  records = [{"row": "a", "column": "FVD", "seed": 0, "value": float("nan")},
             {"row": "a", "column": "PSNR", "seed": 0, "value": 20.0},
             {"row": "a", "column": "PSNR", "seed": 1, "value": 22.0}]
  df = report.grid_table(records, ["a"], ["FVD", "PSNR"], None)
  md = report.grid_markdown(df, ["FVD", "PSNR"], "row", "metric")
  assert "| a | n/a | n/a | 21.0 ± 1.4 | n/a |" in md
