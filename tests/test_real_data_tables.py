"""Tests of the real-dataset tables (3, 4e, 7): their cells are valid paper-profile configs on
the right datasets, and the collector reads only finished runs (duration bins from predictions)."""
import json

import fiddle as fdl
import numpy as np

import ablations
import cli
from lvmae import runs
from lvmae.data.videos import VideoData

DATASETS = {("3", "EK100 action"): "epic_kitchens_100", ("3", "Diving48"): "diving48",
            ("4e", "0-4 s"): "epic_kitchens_100", ("7", "FineGym288 top-1"): "finegym288"}


def test_cells_are_paper_runs_on_the_real_datasets():
  for (table_id, column), dataset in DATASETS.items():
    table = ablations.get(table_id)
    cell = next(c for c in table.cells() if c.column == column)
    cfg = cell.config(table.profile)
    stage = runs.build(cfg)
    assert isinstance(stage.data, VideoData) and stage.data.name == dataset
    assert stage.pretrained.data.name == dataset and stage.pretrained.tokens.data.name == dataset
    assert fdl.get_callable(cfg.data) is VideoData


def _finish(runs_dir, cfg, result, predictions=None):
  run_dir = runs_dir / runs.run_id(cfg)
  run_dir.mkdir(parents=True)
  (run_dir / "result.json").write_text(json.dumps(result))
  (run_dir / "provenance.json").write_text(json.dumps({"wall_seconds": 60.0}))
  if predictions is not None:
    np.savez(run_dir / "predictions.npz", **predictions)


def test_duration_bins_come_from_finished_runs_predictions_only(tmp_path):
  table = ablations.get("4e")
  runs_dir = tmp_path / "runs"
  rng = np.random.default_rng(0)
  duration = rng.uniform(0, 60, 400)
  label = rng.integers(0, 5, (400, 2))
  prediction = np.where(rng.random((400, 2)) < duration[:, None] / 60, label, -1)  # longer: more right
  cell = next(c for c in table.cells() if c.row == "LVMAE, 128 frames" and c.seed == 0)
  _finish(runs_dir, cell.config("paper"), {"top1": 0.0, "heads": ["verb", "noun"]},
          {"label": label, "prediction": prediction, "duration": duration})
  assert cli.main(["reproduce", "4e", "--runs-dir", str(runs_dir), "--results-dir", str(tmp_path / "out")]) == 0
  cells = json.loads((tmp_path / "out" / "tables" / "table4e.json").read_text())["cells"]
  assert len(cells) == len(table.columns)  # one finished run: one cell per bin, nothing else
  for c, (low, high) in zip(cells, ((0, 4), (4, 8), (8, 16), (16, 32), (32, np.inf))):
    keep = (duration >= low) & (duration < high)
    assert c["value"] == np.mean(label[keep, 0] == prediction[keep, 0]) * 100
  md = (tmp_path / "out" / "tables" / "table4e.md").read_text()
  assert "| baseline, 32 frames | - |" in md and "(1 of 6)" in md


def test_sota_table_keeps_the_papers_rows_beside_ours(tmp_path):
  runs_dir = tmp_path / "runs"
  table = ablations.get("3")
  cell = next(c for c in table.cells() if c.column == "EK100 verb" and c.seed == 1)
  _finish(runs_dir, cell.config("paper"), {"top1": 0.25, "top1_verb": 0.5, "top1_noun": 0.375})
  assert cli.main(["reproduce", "3", "--runs-dir", str(runs_dir), "--results-dir", str(tmp_path / "out")]) == 0
  md = (tmp_path / "out" / "tables" / "table3.md").read_text()
  # The EK100 columns share one run: action 25.0, verb 50.0, noun 37.5; Diving48 has no run.
  assert "| LVMAE ViT-L, 128 frames | 25.0 | 52.1 | 50.0 | 75.0 | 37.5 | 61.8 | - | 94.9 |" in md
