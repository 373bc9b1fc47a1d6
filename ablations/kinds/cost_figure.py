"""The cost-figure kind (CostFigure): XLA's compiled memory and FLOPs of one train step across
settings (Figure 1 right); its `lvmae cost` commands and its figure. Nothing trains.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

import fiddle as fdl
import pandas as pd

import experiments
from ablations.kinds.common import Options, compiled_analysis, trains_no_grid
from lvmae import figures, report, runs


@dataclasses.dataclass(frozen=True)
class CostFigure:
  """XLA's compiled memory and FLOPs of one train step at each point (Figure 1 right); nothing
  trains. Like a card, it is taken at a fixed `profile` whatever profile the caller asks for."""
  id: str                              # "figure1"
  title: str
  experiment: str
  profile: str
  base: Sequence[str]                  # --set overrides shared by every point
  points: dict[str, Sequence[str]]     # x label -> --set overrides
  x_label: str
  memory_budget_gib: float             # drawn as a line; the note says which points fit
  memory_budget_label: str
  claim: str = ""

  def config(self, label: str) -> fdl.Config:
    return experiments.get(self.experiment, self.profile, tuple(self.base) + tuple(self.points[label]))

  def configs(self, profile: str) -> list[fdl.Config]:
    """Every config the figure builds (at its own profile, whatever `profile`): one per point."""
    del profile
    return [self.config(label) for label in self.points]

  def reproduce(self, options: Options) -> list[Path]:
    """Prints each point's `lvmae cost` command, or compiles every point and draws the figure."""
    trains_no_grid(self, options)
    if options.print_commands:
      for label in self.points:
        sets = " ".join(f"--set {s}" for s in (*self.base, *self.points[label]))
        print(f"lvmae cost {self.experiment} --profile {self.profile} {sets}  # {label}")
      return []
    runs.enable_compilation_cache(options.runs_dir)
    return [self.collect({label: self.config(label) for label in self.points}, options.results_dir,
                         options.runs_dir)]

  def collect(self, cfgs: dict, results: Path, runs_dir: Path | None = None) -> Path:
    """XLA's memory and FLOPs of one train step per point (`cfgs`: label -> config), drawn and
    tabulated under results/figures/; the analyses memoised under `runs_dir` (where given)."""
    return _collect(self, cfgs, results, runs_dir)


def _collect(figure: CostFigure, cfgs: dict, results, runs_dir) -> Path:
  """The body of CostFigure.collect (which see)."""
  start, rows = time.perf_counter(), []
  for label, cfg in cfgs.items():
    analysis = compiled_analysis(cfg, runs_dir)
    compiled = analysis["compiled"]
    rows.append({"point": label, "memory_gib": compiled["total_bytes"] / 2**30,
                 "argument_gib": compiled["argument_bytes"] / 2**30, "temp_gib": compiled["temp_bytes"] / 2**30,
                 "gflops": compiled["flops"] / 1e9, "analytic_gmacs_per_clip": analysis["macs_per_clip"]["total"] / 1e9,
                 "fits_budget": compiled["total_bytes"] / 2**30 <= figure.memory_budget_gib,
                 "backend": compiled["backend"]})
    print(f"[{figure.id}] {label}: {rows[-1]['memory_gib']:.2f} GiB, {rows[-1]['gflops']:.0f} GFLOPs", flush=True)
  df = pd.DataFrame(rows)
  png = figures.cost_figure(results / "figures" / f"{figure.id}.png", list(df.point), df.memory_gib.to_numpy(),
                            df.gflops.to_numpy(), budget_gib=figure.memory_budget_gib,
                            budget_label=figure.memory_budget_label, x_label=figure.x_label, title=figure.title)
  lines = [f"![{figure.title}]({png.name})", "",
           "| " + figure.x_label + " | memory (GiB) | of which temporaries | train-step GFLOPs | fits " +
           figure.memory_budget_label + " |", "|---|---|---|---|---|"]
  lines += [f"| {r.point} | {r.memory_gib:.2f} | {r.temp_gib:.2f} | {r.gflops:,.0f} | {'yes' if r.fits_budget else 'no'} |"
            for r in df.itertuples()]
  lines += ["", f"XLA's compiled analysis of `lvmae cost {figure.experiment} --profile {figure.profile}` with "
            f"`{' '.join('--set ' + s for s in figure.base)}` ({df.backend.iloc[0]} backend); memory is "
            "arguments + outputs + temporaries, donated buffers counted once; nothing was allocated or run."]
  meta = {"profile": figure.profile, "git_sha": runs.git_sha(), "compute_seconds": time.perf_counter() - start,
          "num_runs": 0, "claim": figure.claim, "points": rows}
  return report.write_table(results / "figures", figure.id, figure.title, "\n".join(lines) + "\n", df, meta)
