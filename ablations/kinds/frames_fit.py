"""The frames-fit kind (FramesFitTable): model sizes vs the most frames whose pre-training step fits
a reference's memory (Table 9), their compute, and fine-tuned top-1 where such a run has finished;
its `lvmae cost` command and its table. Nothing trains.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

import fiddle as fdl
import pandas as pd

import experiments
from ablations.kinds.common import Options, compiled_analysis, compiled_memory, trains_no_grid
from lvmae import cost, report, runs


@dataclasses.dataclass(frozen=True)
class FramesFitTable:
  """Model sizes vs the most frames whose pre-training step fits the memory of a reference
  setting (Table 9), their compute, and fine-tuned top-1 where such a run has finished (never
  run by the table: the cells are paper-scale). Taken at a fixed `profile`."""
  id: str
  title: str
  experiment: str                      # a pre-training experiment
  finetune_experiment: str             # whose finished runs give top-1 (encoder and frames as the row)
  profile: str
  base: Sequence[str]                  # --set overrides shared by every configuration
  sizes: dict[str, Sequence[str]]      # row label -> encoder overrides, relative to the stage
  reference: tuple[str, int]           # (size label, frames) whose memory is the budget
  frame_choices: Sequence[int]
  measure: str = "total_bytes"         # lvmae.cost.compiled_memory key compared with the budget
  measure_label: str = "memory"
  claim: str = ""

  def sets(self, size: str, frames: int, prefix: str = "") -> tuple[str, ...]:
    return tuple(f"{prefix}{s}" for s in (*self.base, *self.sizes[size], f"sampling.num_frames={frames}"))

  def config(self, size: str, frames: int) -> fdl.Config:
    return experiments.get(self.experiment, self.profile, self.sets(size, frames))

  def finetune_config(self, size: str, frames: int) -> fdl.Config:
    """The fine-tuning run of this row: its encoder and frames, pre-trained with them."""
    own = tuple(s for s in self.sets(size, frames) if s.startswith(("encoder.", "sampling.")))
    return experiments.get(self.finetune_experiment, self.profile, own + self.sets(size, frames, "pretrained."))

  def configs(self, profile: str) -> list[fdl.Config]:
    """Every config the table may build (at its own profile, whatever `profile`): each size's
    pre-training and fine-tuning at each frame choice."""
    del profile
    return [build(size, frames) for size in self.sizes for frames in self.frame_choices
            for build in (self.config, self.finetune_config)]

  def reproduce(self, options: Options) -> list[Path]:
    """Prints the reference's `lvmae cost` command (the memory budget), or searches each size's
    frames by compiling and writes the table."""
    trains_no_grid(self, options)
    if options.print_commands:
      ref_size, ref_frames = self.reference
      sets = " ".join(f"--set {s}" for s in self.sets(ref_size, ref_frames))
      print(f"lvmae cost {self.experiment} --profile {self.profile} {sets}  # the memory budget")
      return []
    runs.enable_compilation_cache(options.runs_dir)  # a second call loads the compiled steps
    return [self.collect(self.config, self.finetune_config, options.runs_dir, options.results_dir)]

  def collect(self, pretrain_config, finetune_config, runs_dir: Path, results: Path) -> Path:
    """Per size, the most frames within the reference's memory (XLA's compiled analysis), analytic
    and compiled compute there (memoised under `runs_dir`: a second call compiles nothing), and
    top-1 of a finished fine-tuning run if any (under `runs_dir`).
    `pretrain_config(size, frames)` / `finetune_config(size, frames)` build the configs (the
    table's own `config` and `finetune_config`, or a test's)."""
    return _collect(self, pretrain_config, finetune_config, runs_dir, results)


def _collect(table: FramesFitTable, pretrain_config, finetune_config, runs_dir, results) -> Path:
  """The body of FramesFitTable.collect (which see)."""
  start = time.perf_counter()
  ref_size, ref_frames = table.reference
  budget = compiled_memory(pretrain_config(ref_size, ref_frames), runs_dir)[table.measure]
  rows = []
  for size in table.sizes:
    memory_at = lambda frames: compiled_memory(pretrain_config(size, frames), runs_dir)  # noqa: E731
    frames, measured = cost.most_frames_within(memory_at, budget, table.frame_choices, table.measure)
    row = {"row": size, "frames": frames, "memory_gib": None, "state_gib": None, "gmacs_per_clip": None,
           "train_step_tflops": None,
           "top1": None, "run": None, "memory_probes": {str(f): b / 2**30 for f, b in sorted(measured.items())}}
    if frames is not None:
      analysis = compiled_analysis(pretrain_config(size, frames), runs_dir)
      row.update(memory_gib=analysis["compiled"][table.measure] / 2**30,
                 state_gib=analysis["compiled"]["argument_bytes"] / 2**30,
                 gmacs_per_clip=analysis["macs_per_clip"]["total"] / 1e9,
                 train_step_tflops=analysis["compiled"]["flops"] / 1e12, params_m=analysis["params"]["encoder"] / 1e6)
      run_dir = runs_dir / runs.run_id(finetune_config(size, frames))
      if runs.is_finished(run_dir):
        row.update(top1=100 * runs.read_result(run_dir)["top1"], run=run_dir.name)
    rows.append(row)
    print(f"[table {table.id}] {size}: {frames} frames", flush=True)
  lines = [f"| model | most frames | {table.measure_label} (GiB) | arguments: state + batch (GiB) | encoder params (M) | "
           "pre-training GMACs/clip | train-step TFLOPs | top-1 |", "|---|---|---|---|---|---|---|---|"]
  fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
  for r in rows:
    lines.append(f"| {r['row']} | {fmt(r['frames'], 'd')} | {fmt(r['memory_gib'], '.2f')} | {fmt(r['state_gib'], '.2f')} | "
                 f"{fmt(r.get('params_m'), '.1f')} | {fmt(r['gmacs_per_clip'], ',.0f')} | {fmt(r['train_step_tflops'], '.2f')} | "
                 f"{fmt(r['top1'], '.1f')} |")
  lines += ["", f"Budget: the compiled {table.measure_label} of {ref_size} at {ref_frames} frames, {budget / 2**30:.2f} GiB; frames searched "
            f"among {min(table.frame_choices)}..{max(table.frame_choices)} in steps of "
            f"{table.frame_choices[1] - table.frame_choices[0]}; XLA's analysis, nothing run. Top-1: a finished "
            "fine-tuning run of that model and frame count, '-' where none exists."]
  meta = {"profile": table.profile, "git_sha": runs.git_sha(), "compute_seconds": time.perf_counter() - start,
          "num_runs": 0, "claim": table.claim, "budget_gib": budget / 2**30, "rows": rows}
  return report.write_table(results / "tables", table.id, table.title, "\n".join(lines) + "\n",
                     pd.DataFrame([{k: v for k, v in r.items() if k != "memory_probes"} for r in rows]), meta)
