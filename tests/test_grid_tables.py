"""GridTable declarations and their collection: rows left out at a profile, columns by profile,
overrides into stages a cell does not plug in, a per-row metric read from an upstream stage, and
claims checked on the collected cells (on hand-written result.json files; nothing trains)."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from ablations.spec import Claim, Comparison, Floor, GridTable, Measure, restaged
from lvmae import runs
from lvmae.atomic import write_atomic

_BUDGET = "pretrained.masking.decoder_budget"


def _table(**fields) -> GridTable:
  """Rows change the pre-training; columns only the fine-tuning, so the two columns of a row and
  seed share one pre-training run."""
  return GridTable(id="9z", title="t", experiment="finetune",
                   rows={"a": (f"{_BUDGET}=0.1",), "b": (f"{_BUDGET}=0.2",), "c": (f"{_BUDGET}=0.3",)},
                   columns={"x": ("token_drop=0.0",), "y": ("token_drop=0.1",)}, **{"seeds": (0, 1), **fields})


def test_a_fixed_pretraining_seed_makes_the_grid_seeds_the_fine_tunings_own(tmp_path):
  """With `pretraining_seed`, every cell pre-trains with that seed (one pre-training run per row)
  and the grid's seeds are the fine-tuning runs' own; rows still pair by seed."""
  table = _table(pretraining_seed=3, seeds=(0, 1, 2), claims=(Claim("a beats b", (Comparison(("a", "x"), ">", ("b", "x")),)),))
  cells = [c for c in table.cells("smoke") if c.column == "x" and c.row in ("a", "b")]
  stages = [runs.build(c.config("smoke")) for c in cells]
  assert [(s.seed, s.pretrained.seed) for s in stages] == [(seed, 3) for _ in "ab" for seed in (0, 1, 2)]
  assert len({runs.run_id(c.config("smoke").pretrained) for c in cells if c.row == "a"}) == 1
  runs_dir, finished = tmp_path / "runs", [(c, c.config("smoke")) for c in cells]
  for cell, cfg in finished:
    _finish(runs_dir / runs.run_id(cfg), {"top1": (0.5 if cell.row == "a" else 0.3) + 0.01 * cell.seed})
  table.collect("smoke", finished, runs_dir, tmp_path, tmp_path / "paper", [])
  (claim,) = json.loads((tmp_path / "tables" / "table9z.json").read_text())["claims"]
  assert claim["checks"][0]["difference"]["paired"] and "paired over 3 seeds" in claim["checks"][0]["text"]


def test_rows_are_left_out_and_columns_replaced_at_their_profile():
  table = _table(skip_rows={"paper": ("c",)}, profile_columns={"paper": {"P": (), "Q": ("token_drop=0.2",)}})
  smoke, paper = table.cells("smoke"), table.cells("paper")
  assert {(c.row, c.column) for c in smoke} == {(r, col) for r in "abc" for col in "xy"} and len(smoke) == 12
  assert {(c.row, c.column) for c in paper} == {(r, col) for r in "ab" for col in "PQ"} and len(paper) == 8
  assert list(table.measures("paper")) == ["P", "Q"] and list(table.measures("cpu")) == ["x", "y"]
  assert table.skipped("paper") == ("c",) and table.skipped("smoke") == ()
  q = next(c for c in paper if c.row == "a" and c.column == "Q" and c.seed == 1)
  assert q.sets == (f"{_BUDGET}=0.1", "token_drop=0.2", "seed=0", "pretrained.seed=1")


def test_the_grid_seed_is_the_pretraining_seed_and_the_downstream_seed_is_fixed():
  """Every cell of seed s pre-trains with seed s (the same data order and masks in every row: a
  paired design) and fine-tunes with the table's one downstream seed; an experiment without
  pre-training varies its own seed."""
  table = _table(downstream_seed=5)
  for cell in table.cells("smoke"):
    stage = runs.build(cell.config("smoke"))
    assert (stage.seed, stage.pretrained.seed) == (5, cell.seed)
  same_seed = [cell.config("smoke") for cell in table.cells("smoke") if cell.seed == 1 and cell.row == "a"]
  assert len({runs.run_id(cfg.pretrained) for cfg in same_seed}) == 1  # the columns share the pre-training run
  supervised = GridTable(id="9y", title="t", experiment="supervised", rows={"a": ()}, columns={"x": ()}, seeds=(0, 3))
  assert [cell.sets for cell in supervised.cells("smoke")] == [("seed=0",), ("seed=3",)]
  assert runs.build(supervised.cells("smoke")[1].config("smoke")).seed == 3


def test_declarations_naming_missing_rows_or_cells_are_refused():
  with pytest.raises(ValueError, match="skip_rows"):
    _table(skip_rows={"paper": ("d",)})
  with pytest.raises(ValueError, match="'a', 'z'"):
    _table(claims=(Claim("a beats b", (Comparison(("a", "z"), ">", "b"),)),))
  _table(claims=(Claim("a beats b at P", (Comparison(("a", "P"), ">", ("b", "P")),)),),
         profile_columns={"paper": {"P": ()}})  # a column of another profile is a column


def test_overrides_reach_only_the_upstream_stages_a_cell_plugs_in():
  """`<stage>?.` sets an optional stage where the cell plugs it in and nowhere else; a plain
  override into a stage the cell does not plug in is an error, not silently dropped."""
  data = ("pretrained.data.num_train=8", "pretrained.importance?.data.num_train=8",
          "pretrained.tokens?.data.num_train=8")
  rows = {"random": ("pretrained.masking.decoder_strategy='random'",),
          "adaptive": ("pretrained.masking.decoder_strategy='adaptive'", "pretrained.importance=@tokens_adaptive_fsq_magvit")}
  table = GridTable(id="9z", title="t", experiment="finetune", seeds=(0,), columns={"c": data}, rows=rows)
  random, adaptive = table.cells("smoke")
  assert "pretrained.importance.data.num_train=8" not in random.sets_at("smoke")
  assert "pretrained.importance.data.num_train=8" in adaptive.sets_at("smoke")
  assert not any("pretrained.tokens" in s for cell in (random, adaptive) for s in cell.sets_at("smoke"))
  assert "pretrained.importance" not in random.command("smoke") and "?" not in adaptive.command("smoke")
  stage = runs.build(adaptive.config("smoke"))
  assert stage.pretrained.data.num_train == stage.pretrained.importance.data.num_train == 8
  plain = GridTable(id="9z", title="t", experiment="finetune", seeds=(0,), rows=rows,
                    columns={"c": ("pretrained.importance.data.num_train=8",)})
  random, adaptive = plain.cells("smoke")
  assert "pretrained.importance.data.num_train=8" in adaptive.sets_at("smoke")
  with pytest.raises(ValueError, match=r"\(random \| c\).*sets `pretrained.importance`, which the cell does not plug in"):
    random.sets_at("smoke")


def _finish(run_dir, result: dict) -> None:
  run_dir.mkdir(parents=True, exist_ok=True)
  write_atomic(run_dir / "result.json", json.dumps(result))


def _collected(tmp_path, table, profile="smoke"):
  """Writes a result.json for every cell (top-1) and for its pre-training run (`selection_recall`
  in row a's two runs, in one of row b's, in none of row c's), then collects the table."""
  runs_dir = tmp_path / "runs"
  recall = {("a", 0): 0.2, ("a", 1): 0.4, ("b", 0): 0.5}
  top1 = {"a": 0.5, "b": 0.3, "c": 0.1}
  cfgs = [(cell, cell.config(profile)) for cell in table.cells(profile)]
  for cell, cfg in cfgs:
    _finish(runs_dir / runs.run_id(cfg), {"top1": top1[cell.row] + 0.01 * cell.seed})
    pretrain = {"loss": 1.0}
    if (cell.row, cell.seed) in recall:
      pretrain["selection_recall"] = recall[(cell.row, cell.seed)]
    _finish(runs_dir / runs.run_id(cfg.pretrained), pretrain)
  table.collect(profile, cfgs, runs_dir, tmp_path, tmp_path / "paper", [])
  return (json.loads((tmp_path / "tables" / "table9z.json").read_text()),
          pd.read_csv(tmp_path / "tables" / "table9z.csv"))


def test_row_metric_is_the_mean_over_each_rows_runs_that_have_the_key(tmp_path):
  table = _table(row_metrics={"selection recall (%)": Measure("pretrained", "selection_recall", 100.0)})
  meta, csv = _collected(tmp_path, table)
  body = meta["body_md"]
  # Row a: two pre-training runs (each shared by columns x and y, counted once): 20 and 40.
  assert "| a | 50.5 ± 0.7 | n/a | 50.5 ± 0.7 | n/a | 30.0 ± 14.1 |" in body
  assert "| b | 30.5 ± 0.7 | n/a | 30.5 ± 0.7 | n/a | 50.0 |" in body    # one of its two runs has it
  assert "| c | 10.5 ± 0.7 | n/a | 10.5 ± 0.7 | n/a | n/a |" in body     # none has it
  assert "3 of 6 runs report it" in body
  assert list(csv["selection recall (%) n"]) == [2, 1, 0]
  assert csv["selection recall (%) mean"].iloc[0] == pytest.approx(30.0)
  assert sorted(r["value"] for r in meta["row_metrics"]) == pytest.approx([20.0, 40.0, 50.0])


def test_skipped_rows_show_as_not_at_this_profile_and_claims_get_verdicts(tmp_path):
  claims = (Claim("a beats b", (Comparison("a", ">", "b"),), on_slc="SLC can say this."),
            Claim("c is no worse than a", (Comparison("c", ">=", "a"),)))
  table = _table(skip_rows={"smoke": ("c",)}, claims=claims,
                 row_metrics={"selection recall (%)": Measure("pretrained", "selection_recall", 100.0)})
  meta, csv = _collected(tmp_path, table)
  body = meta["body_md"]
  skipped = "n/a (not at this profile)"
  assert f"| c | {skipped} | n/a | {skipped} | n/a | {skipped} |" in body
  assert "Not built at the smoke profile: c." in body
  assert list(csv["row"]) == ["a", "b", "c"] and list(csv["x n"]) == [2, 2, 0]
  first, second = meta["claims"]
  assert first["verdict"] == "reproduced" and len(first["checks"]) == 2  # [49.8, 51.2] above [29.8, 31.2]
  assert first["on_slc"] == "SLC can say this." and second["on_slc"] == ""  # the smoke grid reads SLC
  assert second["verdict"] == "not run"
  assert "- a beats b: **reproduced**" in body
  assert "  - a − b [y]: +20.0 [+20.0, +20.0] (paired over 2 pre-training seeds), claimed >: reproduced" in body
  assert first["checks"][0]["left"]["values"] == pytest.approx({"0": 50.0, "1": 51.0})


def test_claims_pair_the_cells_by_pretraining_seed(tmp_path):
  """The collector hands each cell's values by seed to the verdicts: a row 1 point above another on
  every pre-training seed, with 30 points between seeds, is reproduced (the mean ± std intervals
  overlap); a cell that misses a seed is paired over the seeds both have."""
  claims = (Claim("a beats b", (Comparison(("a", "x"), ">", ("b", "x")),)),
            Claim("b beats c", (Comparison(("b", "x"), ">", ("c", "x")),)))
  table = _table(claims=claims, seeds=(0, 1, 2))
  top1 = {("a", 0): 0.41, ("a", 1): 0.71, ("a", 2): 0.11, ("b", 0): 0.40, ("b", 1): 0.70, ("b", 2): 0.10,
          ("c", 0): 0.30, ("c", 1): 0.60}
  cfgs = [(cell, cell.config("smoke")) for cell in table.cells("smoke") if cell.column == "x"]
  for cell, cfg in cfgs:
    if (cell.row, cell.seed) in top1:
      _finish(tmp_path / "runs" / runs.run_id(cfg), {"top1": top1[(cell.row, cell.seed)]})
  finished = [(cell, cfg) for cell, cfg in cfgs if (cell.row, cell.seed) in top1]
  table.collect("smoke", finished, tmp_path / "runs", tmp_path, tmp_path / "paper", [])
  meta = json.loads((tmp_path / "tables" / "table9z.json").read_text())
  a_over_b, b_over_c = meta["claims"]
  assert a_over_b["verdict"] == "reproduced"
  assert a_over_b["checks"][0]["difference"]["n"] == 3 and a_over_b["checks"][0]["difference"]["paired"]
  assert "a − b [x]: +1.0 [+1.0, +1.0] (paired over 3 pre-training seeds), claimed >: reproduced" in meta["body_md"]
  assert b_over_c["checks"][0]["difference"]["n"] == 2  # c has no seed 2
  assert b_over_c["verdict"] == "reproduced"


def test_runs_that_predict_one_class_for_every_clip_are_named(tmp_path):
  """A run whose predictions are all one class is at chance whatever its top-1; two heads count as
  one class only if the pair never changes; runs without predictions.npz are not judged. A cell is
  at chance when all its runs are, and a claim with it on the left is then not reproduced."""
  claims = (Claim("a is no worse than b", (Comparison(("a", "y"), ">=", ("b", "y")),)),
            Claim("b is no worse than a", (Comparison(("b", "y"), ">=", ("a", "y")),)))
  table = _table(claims=claims)
  cfgs = [(cell, cell.config("smoke")) for cell in table.cells("smoke")]
  rng = np.random.default_rng(0)
  one_class = {("a", "x", 1): np.full(20, 3), ("b", "y", 0): np.tile([[2, 5]], (20, 1)),
               ("b", "y", 1): np.full(20, 4)}
  for cell, cfg in cfgs:
    run_dir = tmp_path / "runs" / runs.run_id(cfg)
    _finish(run_dir, {"top1": 0.2})
    key = (cell.row, cell.column, cell.seed)
    if key == ("c", "x", 0):
      continue  # no predictions: not judged
    if key in one_class:
      prediction = one_class[key]
    elif key == ("c", "y", 1):  # two heads, each constant in turn but the pair changes
      prediction = np.stack([np.r_[np.zeros(10), np.ones(10)], np.r_[np.ones(10), np.ones(10)]], -1)
    else:
      prediction = rng.integers(0, 8, 20)
    np.savez(run_dir / "predictions.npz", prediction=prediction, label=np.zeros(20))
  table.collect("smoke", cfgs, tmp_path / "runs", tmp_path, tmp_path / "paper", [])
  meta = json.loads((tmp_path / "tables" / "table9z.json").read_text())
  ids = {(cell.row, cell.column, cell.seed): runs.run_id(cfg) for cell, cfg in cfgs}
  assert meta["one_class_runs"] == sorted(ids[k] for k in one_class)
  assert ("At chance: 3 of 11 classifier runs (fine-tunings or probes) predicted one class for every evaluated clip "
          "(they never left chance; their top-1 is that class's share): a [x] seed 1; b [y] seeds 0, 1.") in meta["body_md"]
  # Every cell has top-1 20%, so both claims overlap; only the one with b (all at chance) on the left is held back.
  a_over_b, b_over_a = meta["claims"]
  assert a_over_b["verdict"] == "reproduced" and b_over_a["verdict"] == "inconclusive"
  assert b_over_a["checks"][0]["left"]["at_chance"] and not a_over_b["checks"][0]["left"]["at_chance"]
  assert "b (at chance) − a [y]: +0.0 [+0.0, +0.0] (paired over 2 pre-training seeds), claimed >=: inconclusive" \
      in meta["body_md"]


def test_finished_only_collects_the_finished_cells_and_runs_nothing(tmp_path, capsys):
  """`reproduce --finished-only` on one row of a grid (`--rows`, to keep it short), with runs
  hand-written for two of its three seeds: those two cells are the table, the other rows show '-',
  a note says how many cells are in, and no run directory is created."""
  import ablations
  import cli
  table, runs_dir = ablations.get("4a"), tmp_path / "runs"
  row = list(table.rows)[1]
  done = [(cell, cell.config("smoke")) for cell in table.cells("smoke") if cell.row == row and cell.seed != 1]
  for cell, cfg in done:
    _finish(runs_dir / runs.run_id(cfg), {"top1": 0.2 + 0.1 * cell.seed})
    write_atomic(runs_dir / runs.run_id(cfg) / "provenance.json", json.dumps({"wall_seconds": 60.0}))
  before = sorted(p.name for p in runs_dir.iterdir())
  args = ["reproduce", "4a", "--profile", "smoke", "--finished-only", "--rows", row, "--seeds", "0", "1", "2",
          "--runs-dir", str(runs_dir), "--results-dir", str(tmp_path / "results")]
  assert cli.main(args) == 0
  assert "2 of 3 cells, 2 runs" in capsys.readouterr().out
  assert sorted(p.name for p in runs_dir.iterdir() if not p.name.startswith(".")) == before
  meta = json.loads((tmp_path / "results" / "tables" / "table4a.json").read_text())
  assert (meta["cells_collected"], meta["cells_in_grid"], meta["num_runs"]) == (2, 3, 2)
  assert {(c["seed"], c["value"]) for c in meta["cells"]} == {(0, 20.0), (2, 40.0)}
  assert f"| {row} | 30.0 ± 14.1 |" in meta["body_md"] and meta["body_md"].count("| - |") >= 3
  assert "Partial: 2 of the grid's 3 cells have finished; the others are not counted." in meta["body_md"]
  assert cli.main(["reproduce", "figure4", "--finished-only", "--runs-dir", str(runs_dir)]) == 2  # not a grid


def test_floors_are_rows_of_their_own_runs_in_every_column(tmp_path):
  """A floor takes none of the rows' or columns' overrides, so each column of a seed shows the same
  run; a seeded floor varies its own seed (or `seed_field`) and runs with the table's downstream
  seed otherwise; a deterministic one runs once whatever the seeds. Comparisons with a floor are
  unpaired."""
  floors = {"floor: scratch": Floor("supervised"),
            "floor: init seed": Floor("probe_random_init", seed_field="features.seed"),
            "floor: once": Floor("supervised", ("token_drop=0.1",), seed_field=None)}
  beats_scratch = Claim("a beats training from scratch", (Comparison(("a", "x"), ">", ("floor: scratch", "x")),))
  table = _table(floors=floors, downstream_seed=4, claims=(beats_scratch,))
  cells = [c for c in table.cells("smoke") if c.floor]
  assert table.labels() == ["a", "b", "c", *floors]
  assert [(c.row, c.column, c.seed, c.sets) for c in cells if c.column == "x"] == [
      ("floor: scratch", "x", 0, ("seed=0",)), ("floor: scratch", "x", 1, ("seed=1",)),
      ("floor: init seed", "x", 0, ("seed=4", "features.seed=0")),
      ("floor: init seed", "x", 1, ("seed=4", "features.seed=1")),
      ("floor: once", "x", None, ("token_drop=0.1", "seed=4"))]
  once = [runs.run_id(c.config("smoke")) for c in cells if c.row == "floor: once"]
  assert len(once) == 2 and len(set(once)) == 1  # columns x and y: one run
  runs_dir, finished = tmp_path / "runs", [(c, c.config("smoke")) for c in table.cells("smoke")
                                           if c.row in ("a", "floor: scratch")]
  for cell, cfg in finished:
    _finish(runs_dir / runs.run_id(cfg), {"top1": (0.5 if cell.row == "a" else 0.2) + 0.01 * cell.seed})
  table.collect("smoke", finished, runs_dir, tmp_path, tmp_path / "paper", [])
  meta = json.loads((tmp_path / "tables" / "table9z.json").read_text())
  assert "| *floor: scratch* | 20.5 ± 0.7 | n/a | 20.5 ± 0.7 | n/a |" in meta["body_md"]
  assert "| *floor: once* | - | n/a | - | n/a |" in meta["body_md"]  # not collected
  (claim,) = meta["claims"]
  assert not claim["checks"][0]["difference"]["paired"] and claim["verdict"] == "reproduced"
  assert meta["floors"] == {"floor: scratch": "20.5 ± 0.7", "floor: init seed": "-", "floor: once": "-"}
  assert claim["on_slc"] == ""  # the claim says nothing about SLC


def test_a_row_at_its_floors_level_reproduces_no_claim(tmp_path):
  """a beats b in every seed (paired +3 [+3, +3]); with the floor at a's level the claim reads
  inconclusive and names the floor; with the floor below both rows it reads reproduced."""
  a_beats_b = Claim("a beats b", (Comparison(("a", "x"), ">", ("b", "x")),))
  table = _table(floors={"floor: scratch": Floor("supervised")}, claims=(a_beats_b,))
  cells = [(c, c.config("smoke")) for c in table.cells("smoke") if c.row in ("a", "b", "floor: scratch")]
  verdicts_by_floor = {}
  for floor_level in (0.20, 0.05):
    runs_dir = tmp_path / f"runs{floor_level}"
    for cell, cfg in cells:
      level = {"a": 0.21, "b": 0.18, "floor: scratch": floor_level}[cell.row]
      _finish(runs_dir / runs.run_id(cfg), {"top1": level + 0.01 * cell.seed})
    table.collect("smoke", cells, runs_dir, tmp_path, tmp_path / "paper", [])
    (claim,) = json.loads((tmp_path / "tables" / "table9z.json").read_text())["claims"]
    verdicts_by_floor[floor_level] = claim["verdict"], claim["checks"][0]["not_above_floors"]
  assert verdicts_by_floor == {0.20: ("inconclusive", ["floor: scratch"]), 0.05: ("reproduced", [])}


def test_bad_floors_and_restaged_overrides_are_refused():
  with pytest.raises(ValueError, match="pre-trains: make it a row"):
    _table(floors={"f": Floor("finetune")})
  with pytest.raises(ValueError, match="is also a row"):
    _table(floors={"a": Floor("supervised")})
  assert restaged(("pretrained.seed=1", "pretrained.importance=@flow_scores"), "features.pretrained") == (
      "features.pretrained.seed=1", "features.pretrained.importance=@flow_scores")
  with pytest.raises(ValueError, match="not into the `pretrained` stage"):
    restaged(("seed=1",), "features.pretrained")


def test_smoke_runs_each_tables_first_seed_unless_seeds_are_named(monkeypatch):
  import ablations
  import cli
  from ablations.kinds.common import Options, selected
  table = ablations.get("acceptance")
  cells = table.cells("smoke")
  seeds = lambda built_at, **kw: sorted({c.seed for c in selected(table, cells, Options(**kw), built_at)  # noqa: E731
                                        if c.seed is not None})
  assert seeds("smoke") == [0] and seeds("cpu") == [0, 1, 2]
  assert seeds("smoke", seeds=(1, 2)) == [1, 2]
  assert seeds("paper", profile="smoke") == [0, 1, 2]  # the profile the cells are built at (real-data tables)
  assert any(c.seed is None for c in selected(table, cells, Options(), "smoke"))  # the pixel floor stays
  # ... and compiles without XLA's expensive CPU optimisations, once each, keeping the caller's flags
  monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
  cli._fast_compilation_at_smoke("reproduce", "cpu")
  cli._fast_compilation_at_smoke("bench", "smoke")  # a benchmark times the code as compiled elsewhere
  assert os.environ["XLA_FLAGS"] == "--xla_dump_to=/tmp/x"
  cli._fast_compilation_at_smoke("reproduce", "smoke")
  cli._fast_compilation_at_smoke("run", "smoke")
  assert os.environ["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x", *cli.SMOKE_XLA_FLAGS]
