"""The generic training loop shared by pre-training and fine-tuning.

It owns: resuming from the latest checkpoint, per-step keys folded from one seed (so a resumed
run repeats an uninterrupted one exactly), metrics.jsonl, tqdm progress, checkpoints of the
train state and the grain iterator every N steps and at the end, and stopping on a NaN/Inf loss
while keeping the last good checkpoint.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import grain
import jax
from tqdm.auto import tqdm

from lvmae.train.checkpoint import Checkpointer
from lvmae.train.optim import Schedule


METRICS = "metrics.jsonl"  # one JSON line per logged step, in the run directory


class NonFiniteLossError(RuntimeError):
  """The loss became NaN or Inf; the run stopped without saving the bad state."""


class MetricsLog:
  """Appends one JSON line per logged step; on resume, drops lines past the restored step."""

  def __init__(self, path: Path, resume_step: int):
    self.path = Path(path)
    if self.path.exists():
      kept = [l for l in self.path.read_text().splitlines() if l and json.loads(l)["step"] <= resume_step]
      self.path.write_text("".join(l + "\n" for l in kept))

  def write(self, record: dict) -> None:
    with self.path.open("a") as f:
      f.write(json.dumps(record) + "\n")

  def last(self, key: str) -> float | None:
    """`key` of the last logged line (the loss at the last logged step), None before any line."""
    lines = self.path.read_text().splitlines() if self.path.exists() else []
    return json.loads(lines[-1]).get(key) if lines else None


def fit(*, run_dir: Path, state: Any, step_fn: Callable, batches: grain.DatasetIterator,
        schedule: Schedule, seed: int, desc: str, stop_after: int | None = None) -> tuple[Any, dict]:
  """Trains `state` with `step_fn(state, batch, key) -> (state, metrics)` for schedule.steps steps.

  `stop_after` ends this call after that many steps (as a preemption would); the run resumes
  from its last checkpoint on the next call. Returns the final state and a summary.
  """
  run_dir = Path(run_dir)
  checkpointer = Checkpointer(run_dir / "checkpoints")
  restored = checkpointer.restore(state, batches)
  start = 0
  if restored is not None:
    start, state = restored
  log = MetricsLog(run_dir / METRICS, start)
  base_key = jax.random.key(seed)
  learning_rate = schedule.learning_rate_fn()
  end = schedule.steps if stop_after is None else min(schedule.steps, start + stop_after)
  pending, t0 = [], time.perf_counter()

  def fetch() -> dict:
    """The pending steps' metrics to the host, in order; stops at the first non-finite loss (before
    any later checkpoint is saved, so the last one kept is good). Returns the last step's."""
    fetched = jax.device_get([metrics for _, metrics in pending])
    for (step, _), metrics in zip(pending, fetched):
      if not math.isfinite(metrics["loss"]):
        checkpointer.wait()
        raise NonFiniteLossError(
            f"{desc}: loss is {metrics['loss']} at step {step}; run stopped. The last good "
            f"checkpoint (step {checkpointer.latest_step()}) is kept in {checkpointer.directory}")
    pending.clear()
    return {k: float(v) for k, v in fetched[-1].items()}

  try:
    with tqdm(total=schedule.steps, initial=start, desc=desc, unit="step", dynamic_ncols=True) as bar:
      for step in range(start, end):
        # Steps are dispatched without waiting for their metrics (the next batch is read while
        # the device computes); metrics reach the host at log and checkpoint steps.
        state, metrics = step_fn(state, next(batches), jax.random.fold_in(base_key, step))
        done = step + 1
        pending.append((done, metrics))
        logged, saved = done % schedule.log_every == 0 or done == schedule.steps, done % schedule.checkpoint_every == 0 or done == end
        if logged or saved:
          last = fetch()
          if logged:
            log.write({"step": done, **last, "lr": float(learning_rate(done - 1))})
          if saved:
            checkpointer.save(done, state, batches)
          bar.set_postfix(loss=f"{last['loss']:.4f}")
        bar.update(1)
  finally:  # also on an interruption: finish writing the checkpoint in flight
    checkpointer.wait()
    checkpointer.close()
  # From the log, not this call's steps: a run resumed at its last checkpoint trains none.
  summary = {"steps_done": end, "finished": end == schedule.steps, "loss_last": log.last("loss"),
             "train_seconds": time.perf_counter() - t0}
  return state, summary


def logged_mean(metrics_path: Path, key: str, last_share: float = 1.0) -> float | None:
  """The mean of a logged metric over a MetricsLog file (NaN lines left out), None if never logged;
  `last_share` < 1 takes only the last lines (e.g. 0.25: the last quarter of the logged steps)."""
  if not metrics_path.exists():
    return None
  records = [r for r in map(json.loads, metrics_path.read_text().splitlines()) if key in r]
  values = [r[key] for r in records[len(records) - max(1, math.ceil(last_share * len(records))):]]
  values = [v for v in values if v is not None and math.isfinite(v)]
  return sum(values) / len(values) if values else None
