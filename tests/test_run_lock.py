"""One writer per run (lvmae/run_lock.py, runs.execute): the claim is exclusive across processes,
dies with its process (kill -9 included), is waited for, and two processes asking for the same
run compute it once."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lvmae import run_lock

ROOT = Path(__file__).resolve().parents[1]

# A process that claims `run_dir`, says so (file `held`), and holds the claim until `release`
# exists; it writes `released` just before letting go.
_HOLDER = """
import sys, time
from pathlib import Path
from lvmae import run_lock
run_dir, signals = Path(sys.argv[1]), Path(sys.argv[2])
with run_lock.claim(run_dir):
  (signals / "held").write_text("")
  while not (signals / "release").exists():
    time.sleep(0.05)
  (signals / "released").write_text("")
"""


def _start_holder(run_dir: Path, signals: Path) -> subprocess.Popen:
  signals.mkdir(parents=True, exist_ok=True)
  proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(run_dir), str(signals)], cwd=ROOT)
  for _ in range(600):  # the holder has the claim once it says so
    if (signals / "held").exists():
      return proc
    assert proc.poll() is None, "the holder died before claiming"
    time.sleep(0.05)
  proc.kill()
  raise AssertionError("the holder never claimed the run")


def test_a_claimed_run_is_refused_and_the_claim_dies_with_its_process(tmp_path):
  run_dir = tmp_path / "runs" / "pretrain-abc"
  proc = _start_holder(run_dir, tmp_path / "signals")
  try:
    with pytest.raises(run_lock.RunClaimed, match=f"pretrain-abc is being computed by pid {proc.pid}"):
      with run_lock.claim(run_dir, wait=False):
        pass
  finally:
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup runs: the kernel drops the lock
    proc.wait()
  with run_lock.claim(run_dir, wait=False):  # free again, nothing stale left behind
    assert f"pid {os.getpid()}" in run_lock.holder(run_dir)


def test_a_waiting_process_gets_the_claim_after_its_holder_lets_go(tmp_path, capfd):
  run_dir, signals = tmp_path / "runs" / "probe-123", tmp_path / "signals"
  proc = _start_holder(run_dir, signals)
  (signals / "release").write_text("")  # the holder lets go soon, while this process waits
  with run_lock.claim(run_dir, wait=True, poll_seconds=0.05):
    assert (signals / "released").exists()  # never both at once
  assert proc.wait() == 0


def test_two_processes_asking_for_one_run_compute_it_once(tmp_path):
  """Two `lvmae run` of one config started together: one trains, the other waits and reuses its
  result; the run's metrics log has each logged step once, and the result equals a run computed
  by a single process."""
  command = [sys.executable, "-m", "cli", "run", "pretrain", "--profile", "smoke", "--set", "schedule.steps=20",
             "--set", "schedule.log_every=5", "--set", "schedule.checkpoint_every=10"]
  shared, alone = tmp_path / "shared", tmp_path / "alone"
  both = [subprocess.Popen(command + ["--runs-dir", str(shared)], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True) for _ in range(2)]
  outputs = [proc.communicate(timeout=600) for proc in both]
  assert [proc.returncode for proc in both] == [0, 0], [err[-2000:] for _, err in outputs]
  subprocess.run(command + ["--runs-dir", str(alone)], cwd=ROOT, check=True, capture_output=True, timeout=600)
  (run_dir,) = [d for d in shared.iterdir() if d.name.startswith("pretrain-")]
  steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
  assert steps == [5, 10, 15, 20]
  assert not json.loads((run_dir / "provenance.json").read_text())["resumed"]
  assert any("being computed by" in err for _, err in outputs)  # the second one said it waited
  result, single = (json.loads((d / run_dir.name / "result.json").read_text()) for d in (shared, alone))
  assert result.pop("train_seconds") > 0 and single.pop("train_seconds") > 0  # the one field a rerun changes
  assert result == single


def test_a_grid_asked_not_to_wait_skips_a_claimed_run_and_the_runs_that_need_it(tmp_path, capsys):
  import experiments
  from ablations.kinds.common import Cell, execute_all, unique_runs
  from lvmae import runs
  cfg = experiments.get("probe_pixels", "smoke", ("seed=0",))
  cell = Cell("floor: raw pixels", "top-1", None, "probe_pixels", ("seed=0",))
  todo = unique_runs([(cell, cfg)])  # the features run, then the probe that reads it
  features_id, probe_id = (rid for rid, *_ in todo)
  runs_dir = tmp_path / "runs"
  proc = _start_holder(runs_dir / features_id, tmp_path / "signals")
  try:
    skipped = execute_all(type("T", (), {"id": "9z"}), todo, runs_dir, wait=False)
  finally:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
  assert skipped == [features_id, probe_id]
  assert not runs.is_finished(runs_dir / probe_id) and not (runs_dir / probe_id).exists()
  assert capsys.readouterr().out.count("is being computed by pid") == 2
  assert execute_all(type("T", (), {"id": "9z"}), todo, runs_dir, wait=False) == []  # the claim died with its holder
  assert runs.is_finished(runs_dir / probe_id)


def test_two_reproduce_of_tables_sharing_a_stage_compute_each_run_once(tmp_path):
  """`lvmae reproduce acceptance` and `lvmae reproduce 1-finetune` started together share the
  oracle pre-training (seed 0): every run of both finishes once (no resume, each logged step once,
  the shared run computed by one of them while the other waited) and every result equals the one
  a single process computing both tables one after the other gets."""
  def command(table, runs_dir):
    return [sys.executable, "-m", "cli", "reproduce", table, "--profile", "smoke", "--seeds", "0",
            "--rows", "oracle (15%)", "--runs-dir", str(runs_dir), "--results-dir", str(runs_dir.parent / "results")]

  shared, alone = tmp_path / "shared" / "runs", tmp_path / "alone" / "runs"
  both = [subprocess.Popen(command(table, shared), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True) for table in ("acceptance", "1-finetune")]
  outputs = [proc.communicate(timeout=900)[0] for proc in both]
  assert [proc.returncode for proc in both] == [0, 0], [out[-2000:] for out in outputs]
  for table in ("acceptance", "1-finetune"):
    subprocess.run(command(table, alone), cwd=ROOT, check=True, capture_output=True, timeout=900)
  assert any("being computed by" in out for out in outputs)  # one waited for the other's pre-training
  ids = sorted(d.name for d in shared.iterdir() if not d.name.startswith("."))
  assert ids == sorted(d.name for d in alone.iterdir() if not d.name.startswith("."))
  assert {rid.split("-")[0] for rid in ids} == {"pretrain", "probefeatures", "probe", "finetune"}
  for rid in ids:
    provenance = json.loads((shared / rid / "provenance.json").read_text())
    assert not provenance["resumed"], rid
    if (shared / rid / "metrics.jsonl").exists():
      steps = [json.loads(line).get("step") for line in (shared / rid / "metrics.jsonl").read_text().splitlines()]
      assert len(steps) == len(set(steps)), (rid, steps)
    result, single = (json.loads((d / rid / "result.json").read_text()) for d in (shared, alone))
    for timing in ("train_seconds", "seconds", "wall_seconds"):  # what a rerun changes
      result.pop(timing, None), single.pop(timing, None)
    assert result == single, rid
