"""One writer per run: a run directory is claimed by an exclusive OS file lock while it is computed.

The lock (`fcntl.flock` on `<run dir>/.lock`) belongs to the open file, so the kernel releases it
when its process ends, however it ends (kill -9 included): a claim is never stale and needs no
cleanup. A second process that reaches a claimed run either waits for the claim to end (and then
finds the run finished, or resumes it from its checkpoint if its writer died) or, asked not to
wait, raises RunClaimed so that a grid can go on with its other runs.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Iterator

LOCK_FILE = ".lock"


class RunClaimed(RuntimeError):
  """Raised for a run another process is computing (when not waiting for it)."""


def holder(run_dir: Path) -> str:
  """Who holds (or last held) the run's claim, as written in its lock file ("pid N on host")."""
  try:
    return (Path(run_dir) / LOCK_FILE).read_text().strip() or "another process"
  except OSError:
    return "another process"


@contextlib.contextmanager
def claim(run_dir: Path, wait: bool = True, poll_seconds: float = 1.0) -> Iterator[None]:
  """Holds the run's claim for the body. Where another process holds it: wait (saying so once on
  stderr) or, wait=False, raise RunClaimed naming the holder."""
  run_dir = Path(run_dir)
  run_dir.mkdir(parents=True, exist_ok=True)
  fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    said = False
    while True:
      try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        break
      except BlockingIOError:
        if not wait:
          raise RunClaimed(f"run {run_dir.name} is being computed by {holder(run_dir)}") from None
        if not said:
          print(f"run {run_dir.name} is being computed by {holder(run_dir)}: waiting for it", file=sys.stderr,
                flush=True)
          said = True
        time.sleep(poll_seconds)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
    yield
  finally:
    os.close(fd)  # closing the descriptor releases the lock
