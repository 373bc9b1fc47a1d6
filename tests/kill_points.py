"""The `lvmae` command line, killed -9 by itself at a chosen point (tests/test_kill.py).

  python -m tests.kill_points POINT N -- <lvmae arguments>

runs the command line with one function patched so that its N-th call ends the process with
SIGKILL at that point, as an out-of-memory kill or a preemption would:
  checkpoint  right after a checkpoint save is started (the asynchronous write still in flight);
  metrics     right after a line of a run's metrics log is written (before its checkpoint);
  result      while a run's result.json is written (its temp file written, not yet renamed);
  collection  while a table is written (the N-th of its files: temp file written, not renamed);
  none        no kill (the uninterrupted reference).
"""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path


def _die() -> None:
  os.kill(os.getpid(), signal.SIGKILL)


def _on_nth(owner, name: str, n: int, patched_call) -> None:
  """Replaces owner.name with a function that runs `patched_call(original, *args)` on its n-th
  call (which must end the process) and the original on every other call."""
  original, calls = getattr(owner, name), [0]

  def wrapper(*args, **kwargs):
    calls[0] += 1
    if calls[0] == n:
      patched_call(original, *args, **kwargs)
    return original(*args, **kwargs)

  setattr(owner, name, wrapper)


def _then_die(original, *args, **kwargs) -> None:
  original(*args, **kwargs)
  _die()


def _temp_file_then_die(original, path, data) -> None:
  """What lvmae.atomic.write_atomic does before its rename, then the kill."""
  tmp = Path(f"{path}.tmp")
  tmp.write_bytes(data) if isinstance(data, bytes) else tmp.write_text(data)
  _die()


def install(point: str, n: int) -> None:
  from lvmae import report, runs
  from lvmae.train import checkpoint, loop
  if point == "checkpoint":
    _on_nth(checkpoint.Checkpointer, "save", n, _then_die)
  elif point == "metrics":
    _on_nth(loop.MetricsLog, "write", n, _then_die)
  elif point == "result":
    original, calls = runs.write_atomic, [0]

    def write(path, data):
      if Path(path).name == runs.RESULT_FILE:
        calls[0] += 1
        if calls[0] == n:
          _temp_file_then_die(original, path, data)
      original(path, data)

    runs.write_atomic = write
  elif point == "collection":
    _on_nth(report, "write_atomic", n, _temp_file_then_die)
  elif point != "none":
    raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
  point, n, separator, *args = sys.argv[1:]
  assert separator == "--", "usage: python -m tests.kill_points POINT N -- <lvmae arguments>"
  install(point, int(n))
  from cli import main
  sys.exit(main(args))
