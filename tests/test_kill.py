"""Kill -9 anywhere: a small grid killed at chosen points (during training, a checkpoint write, a
result write, the collection; tests/kill_points.py) and at a random moment, re-run after each kill,
ends with every run's result and metrics log and the collected table identical to an uninterrupted
grid's, and no half-written file left where it could be read."""
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Two runs with checkpoints (a pre-training and its fine-tuning) and a collection.
TABLE = "1-finetune"
GRID = ["reproduce", TABLE, "--profile", "smoke", "--seeds", "0", "--rows", "oracle (15%)"]
# Timings, not outcomes: they differ between any two runs.
VOLATILE = ("seconds", "train_seconds", "ms_per_clip")


def _grid(home: Path, point: str = "none", n: int = 1) -> subprocess.Popen:
  command = [sys.executable, "-m", "tests.kill_points", point, str(n), "--", *GRID,
             "--runs-dir", str(home / "runs"), "--results-dir", str(home / "results")]
  return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen) -> int:
  _, err = proc.communicate(timeout=900)
  assert proc.returncode in (0, -9), err[-2000:]
  return proc.returncode


def _outcome(home: Path) -> dict:
  """Every run's result (timings left out) and metrics log, and the collected table."""
  out = {}
  for run in sorted(p for p in (home / "runs").iterdir() if not p.name.startswith(".")):
    result = json.loads((run / "result.json").read_text())
    out[run.name] = ({k: v for k, v in result.items() if k not in VOLATILE},
                     (run / "metrics.jsonl").read_text() if (run / "metrics.jsonl").exists() else None)
  tables = home / "results" / "tables"
  out["table"] = (tables / f"table{TABLE}.csv").read_text()
  out["cells"] = [(c["row"], c["column"], c["seed"], c["run"], c["value"])
                  for c in json.loads((tables / f"table{TABLE}.json").read_text())["cells"]]
  return out


def test_a_grid_killed_at_every_kind_of_moment_and_rerun_ends_as_an_uninterrupted_one(tmp_path):
  reference = tmp_path / "reference"
  assert _finish(_grid(reference)) == 0
  expected = _outcome(reference)

  home = tmp_path / "killed"
  kills = [("checkpoint", 1), ("metrics", 5), ("result", 1), ("collection", 2)]
  for point, n in kills[:3]:
    assert _finish(_grid(home, point, n)) == -9, f"{point} {n}: the kill point was never reached"
  # A kill at a random moment: anywhere in start-up, training, features, probes or collection.
  proc = _grid(home)
  time.sleep(random.Random(0).uniform(2.0, 8.0))
  proc.kill()
  _finish(proc)
  point, n = kills[3]
  assert _finish(_grid(home, point, n)) == -9, "the collection kill point was never reached"
  assert _finish(_grid(home)) == 0

  got = _outcome(home)
  assert got.keys() == expected.keys()
  for name in expected:
    assert got[name] == expected[name], name
  # Nothing half-written is left under a final name: no temp or partial file remains either.
  left = [p for p in home.rglob("*") if p.name.endswith((".tmp", ".partial"))]
  assert not left, left
