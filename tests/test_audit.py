"""The audit trail: a results directory carries the small files of every run its tables use, and
each table page (and the report) links every cell to its run's archived result."""
import json

import experiments
from ablations.acceptance import TABLE
from lvmae import report, runs
from lvmae.atomic import write_atomic


def _fake_run(run_dir, top1: float, finished: bool = True, predictions: bool = False) -> None:
  """A run directory with every kind of file a run has; only finished runs have result.json."""
  (run_dir / "checkpoints" / "400").mkdir(parents=True)
  write_atomic(run_dir / "checkpoints" / "400" / "state", b"\0" * 1000)
  if predictions:
    write_atomic(run_dir / "predictions.npz", b"npz")
  write_atomic(run_dir / "config.json", b"{}")
  for name, text in (("config.txt", f"top1 {top1}\n"), ("metrics.jsonl", '{"step": 1}\n'),
                     ("provenance.json", '{"wall_seconds": 2.0}')):
    write_atomic(run_dir / name, text.encode())
  if finished:
    write_atomic(run_dir / runs.RESULT_FILE, json.dumps({"top1": top1}).encode())


def test_archive_copies_only_the_small_files_of_finished_runs(tmp_path):
  runs_dir, dest = tmp_path / "runs", tmp_path / "results" / "runs"
  _fake_run(runs_dir / "probe-a", 0.5, predictions=True)
  _fake_run(runs_dir / "probe-b", 0.4, finished=False)
  assert runs.archive(["probe-a", "probe-b", "probe-a"], runs_dir, dest) == ["probe-a"]
  assert sorted(p.name for p in (dest / "probe-a").iterdir()) == sorted(runs.AUDIT_FILES)
  for name in runs.AUDIT_FILES:
    assert (dest / "probe-a" / name).read_bytes() == (runs_dir / "probe-a" / name).read_bytes()
  assert not (dest / "probe-b").exists()
  assert runs.archive(["probe-a"], runs_dir, runs_dir) == ["probe-a"]  # already there: nothing copied
  assert sorted(p.name for p in (runs_dir / "probe-a").iterdir())[0] == "checkpoints"


def test_a_collected_grid_archives_its_runs_and_links_each_cell(tmp_path):
  runs_dir, results = tmp_path / "runs", tmp_path / "results"
  cfgs = [(cell, cell.config("smoke")) for cell in TABLE.cells("smoke")]
  ids = []
  for i, (cell, cfg) in enumerate(cfgs):
    rid = runs.run_id(cfg)
    if not (runs_dir / rid).exists():
      _fake_run(runs_dir / rid, 0.2 + 0.01 * i)
    ids.append(rid)
  TABLE.collect("smoke", cfgs, runs_dir, results, tmp_path / "paper", ids)
  meta = json.loads((results / "tables" / "acceptance.json").read_text())
  assert sorted(meta["archived_runs"]) == sorted(set(ids))
  for record in meta["cells"]:
    assert (results / "runs" / record["run"] / runs.RESULT_FILE).exists()
    seed = "-" if record["seed"] is None else record["seed"]
    assert (f"| {record['row']} | {record['column']} | {seed} | "
            f"[{record['run']}](../runs/{record['run']}/result.json) |") in meta["body_md"]
  assert not any((results / "runs" / rid / "checkpoints").exists() for rid in ids)
  text = report.write_report(results / "tables", results / "REPORT.md").read_text()
  first = meta["cells"][0]["run"]
  assert f"](runs/{first}/result.json)" in text and "](../runs/" not in text  # links from results/
  # collected again with another run for one cell: the run no table uses any more leaves the archive
  cell, _ = cfgs[0]
  cfgs[0] = (cell, experiments.get(cell.experiment, "smoke", cell.sets + ("seed=7",)))
  new_id = runs.run_id(cfgs[0][1])
  _fake_run(runs_dir / new_id, 0.9)
  TABLE.collect("smoke", cfgs, runs_dir, results, tmp_path / "paper", [new_id] + ids[1:])
  kept = {d.name for d in (results / "runs").iterdir()}
  assert ids[0] not in ids[1:] and kept == set([new_id] + ids[1:])  # ids[0] was pruned


def test_pruning_never_touches_the_runs_directory_or_a_real_run(tmp_path):
  runs_dir, dest = tmp_path / "runs", tmp_path / "results" / "runs"
  _fake_run(runs_dir / "probe-a", 0.5)
  runs.archive(["probe-a"], runs_dir, dest)
  _fake_run(dest / "probe-real", 0.1)  # a directory with checkpoints: not an archived run
  assert runs.prune_archive(runs_dir, runs_dir, []) == [] and (runs_dir / "probe-a").exists()
  assert runs.prune_archive(dest, runs_dir, []) == ["probe-a"]
  assert (dest / "probe-real").exists() and not (dest / "probe-a").exists()
