"""`lvmae reproduce --jobs N`: several tables reproduced by N worker processes at once.

On the 2-core machine one process leaves a core idle much of the time at the smoke profile (its runs
are short: tracing, lowering and loading each run's steps is one Python thread), so `make reproduce`
deals its tables to two workers. Each worker is an ordinary `lvmae reproduce` of its share of the
tables, in the given order; a run two tables share is computed once, by whichever worker reaches it
first, while the other waits for it (lvmae.run_lock). The tables are dealt by their number of runs,
heaviest first onto the least loaded worker (`deal`). Each worker's output goes to a log under
`<runs dir>/.reproduce/`, and every line of it is relayed here prefixed by the worker's number; the
report is rebuilt once all have finished.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

LOG_DIR = ".reproduce"  # under the runs directory: machine-local, like the runs
POLL_SECONDS = 0.5


def deal(weights: Sequence[tuple[str, float]], jobs: int) -> list[list[str]]:
  """The tables (id, weight) dealt to `jobs` workers: heaviest first, each onto the worker with
  the least weight so far (the first such on ties); each worker keeps the tables' given order.
  Workers that get nothing are left out."""
  load, dealt = [0.0] * jobs, [[] for _ in range(jobs)]
  order = {table: i for i, (table, _) in enumerate(weights)}
  for table, weight in sorted(weights, key=lambda tw: -tw[1]):
    k = load.index(min(load))
    load[k] += weight
    dealt[k].append(table)
  return [sorted(tables, key=order.get) for tables in dealt if tables]


def weight(table, options) -> int:
  """How many runs a table's grid has at the options' profile (1 for a table without a grid)."""
  from ablations.kinds import GridTable
  from ablations.kinds.common import cell_configs, unique_runs
  if not isinstance(table, GridTable):
    return 1
  at = table.at(options.profile)
  return len(unique_runs(cell_configs(at, at.cells(options.profile), options.profile, options)))


def forwarded(args) -> list[str]:
  """The reproduce options a worker takes from this command line (all but the tables and --jobs)."""
  out = ["--profile", args.profile, "--runs-dir", str(args.runs_dir), "--results-dir", str(args.results_dir),
         "--paper-dir", str(args.paper_dir)]
  if args.seeds is not None:
    out += ["--seeds", *map(str, args.seeds)]
  if args.data_root is not None:
    out += ["--data-root", str(args.data_root)]
  out += [flag for flag, on in (("--finished-only", args.finished_only), ("--skip-claimed", args.skip_claimed)) if on]
  return out


def run_workers(groups: list[list[str]], options: list[str], log_dir: Path) -> list[int]:
  """Starts one `lvmae reproduce` per group, relays their logs' lines as they come and returns
  their exit codes."""
  log_dir.mkdir(parents=True, exist_ok=True)
  logs = [log_dir / f"job{k}.log" for k in range(1, len(groups) + 1)]
  workers = []
  for group, log in zip(groups, logs):
    with open(log, "wb") as out:
      workers.append(subprocess.Popen([sys.executable, "-m", "cli", "reproduce", *group, *options],
                                      stdout=out, stderr=subprocess.STDOUT))
  for k, (group, log) in enumerate(zip(groups, logs), 1):
    print(f"[job {k}] tables {' '.join(group)} (log: {log})", flush=True)
  offsets, partial = [0] * len(logs), [b""] * len(logs)
  while True:
    running = any(w.poll() is None for w in workers)
    for k, log in enumerate(logs):
      with open(log, "rb") as f:
        f.seek(offsets[k])
        chunk = f.read()
      offsets[k] += len(chunk)
      *lines, partial[k] = (partial[k] + chunk).split(b"\n")
      for line in lines:  # a progress bar's line: its last state
        print(f"[job {k + 1}] {line.decode(errors='replace').rsplit(chr(13), 1)[-1]}", flush=True)
    if not running:
      break
    time.sleep(POLL_SECONDS)
  for k, rest in enumerate(partial, 1):  # a last line without its newline
    if rest.strip():
      print(f"[job {k}] {rest.decode(errors='replace').rsplit(chr(13), 1)[-1]}", flush=True)
  for k, (w, log) in enumerate(zip(workers, logs), 1):
    if w.returncode:
      print(f"lvmae: error: job {k} exited with code {w.returncode}; its log: {log}", file=sys.stderr)
  return [w.returncode for w in workers]
