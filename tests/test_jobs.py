"""`lvmae reproduce --jobs N` (cli/jobs.py): how tables are dealt to workers, and two workers end to end
on hand-written runs (`--finished-only`: nothing trains)."""
import json

import pytest

from cli import jobs
from lvmae import runs
from lvmae.atomic import write_atomic


@pytest.mark.parametrize("weights, count, expected", [
    # heaviest first onto the least loaded: b 37 -> 1; d 24 -> 2; c 22 -> 2 (24 < 37); e 17 -> 1 (37 < 46);
    # a 10 -> 2 (46 < 54); f 1 -> 1 (54 < 56)
    ([("a", 10), ("b", 37), ("c", 22), ("d", 24), ("e", 17), ("f", 1)], 2,
     [["b", "e", "f"], ["a", "c", "d"]]),
    ([("a", 1), ("b", 1), ("c", 1)], 2, [["a", "c"], ["b"]]),            # ties: the first least loaded, order kept
    ([("a", 5)], 3, [["a"]]),                                          # workers left without a table are left out
    ([("a", 3), ("b", 2), ("c", 1)], 1, [["a", "b", "c"]]),
])
def test_tables_are_dealt_heaviest_first_to_the_least_loaded_worker_in_their_order(weights, count, expected):
  dealt = jobs.deal(weights, count)
  assert dealt == expected
  assert sorted(t for group in dealt for t in group) == sorted(t for t, _ in weights)  # each table exactly once


def test_two_workers_collect_their_tables_and_the_report_lists_both(tmp_path, capsys):
  """Table 4a with one finished cell and Table 4b with none, reproduced by two workers with
  --finished-only: each worker's lines come back prefixed by its number, both tables are written,
  and the report, rebuilt once both have finished, has both."""
  import ablations
  import cli
  table, runs_dir, results = ablations.get("4a"), tmp_path / "runs", tmp_path / "results"
  cell = next(c for c in table.cells("smoke") if c.seed == 0)
  run_dir = runs_dir / runs.run_id(cell.config("smoke"))
  run_dir.mkdir(parents=True)
  write_atomic(run_dir / "result.json", json.dumps({"top1": 0.25}))
  write_atomic(run_dir / "provenance.json", json.dumps({"wall_seconds": 60.0}))
  args = ["reproduce", "4a", "4b", "--profile", "smoke", "--finished-only", "--jobs", "2",
          "--runs-dir", str(runs_dir), "--results-dir", str(results)]
  assert cli.main(args) == 0
  out = capsys.readouterr().out
  assert "[job 1] tables 4b" in out and "[job 2] tables 4a" in out  # 4b has more runs: dealt first
  assert "[job 2] table 4a: 1 of 4 cells, 1 runs" in out and "[job 1] table 4b: 0 of 8 cells, 0 runs" in out
  assert out.rstrip().endswith(f"wrote {results / 'REPORT.md'}")
  assert json.loads((results / "tables" / "table4a.json").read_text())["cells_collected"] == 1
  report = (results / "REPORT.md").read_text()
  assert "Table 4a" in report and "Table 4b" in report
  assert (runs_dir / jobs.LOG_DIR / "job2.log").read_text().count("table 4a:") == 1


def test_a_failing_worker_fails_the_command_and_names_its_log(tmp_path, capsys):
  import cli
  args = ["reproduce", "4a", "figure4", "--profile", "smoke", "--finished-only", "--jobs", "2",
          "--runs-dir", str(tmp_path / "runs"), "--results-dir", str(tmp_path / "results")]
  assert cli.main(args) == 1  # figure4 has no grid to collect: its worker exits with 2
  captured = capsys.readouterr()
  assert "lvmae: error: --finished-only" in captured.out  # the worker's own error, relayed
  assert f"exited with code 2; its log: {tmp_path / 'runs' / jobs.LOG_DIR}" in captured.err
