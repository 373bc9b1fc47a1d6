"""The real-data kind (RealDataTable): runs on the paper's real datasets beside the paper's reported
rows (Tables 3, 4e, 7); its cells, its printed commands, running them (at the paper profile only)
and its collection of the finished ones, a result.json key or top-1 over a clip-duration bin.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import fiddle as fdl
import numpy as np

from ablations.kinds.common import Cell, Options, cell_configs, execute_all, grid_cells, print_commands, unique_runs
from lvmae import report, runs
from lvmae.train.evaluate import PREDICTIONS


@dataclasses.dataclass(frozen=True)
class RealDataTable:
  """Runs on the paper's real datasets beside the paper's reported rows (Tables 3, 4e, 7).

  Every cell is a paper-profile run (real videos; never approximated on SLC). `lvmae reproduce`
  runs the cells only at the paper profile (with --data-root); at any other profile it collects
  what has finished and shows '-' for the rest. Rows of the paper's CSV that are not ours (other
  methods) are shown as reported, with no cells of ours.

  columns: label -> (overrides, e.g. the dataset; what the cell reads): a result.json key, or
  ("duration", head, low, high): top-1 of one head over the evaluation examples whose clip lasts
  [low, high) seconds, from predictions.npz.
  """
  id: str
  title: str
  experiment: str
  rows: dict[str, Sequence[str]]
  columns: dict[str, tuple[Sequence[str], str | tuple[str, str, float, float]]]
  seeds: Sequence[int] = (0, 1, 2)   # pre-training seeds, as a GridTable's
  scale: float = 100.0
  metric_label: str = "top-1 (%)"
  claim: str = ""
  note: str = ""
  profile: str = "paper"
  downstream_seed: int = 0

  def cells(self) -> list[Cell]:
    return grid_cells(self.experiment, self.rows, {c: sets for c, (sets, _) in self.columns.items()}, self.seeds,
                      downstream_seed=self.downstream_seed)

  def configs(self, profile: str) -> list[fdl.Config]:
    """Every cell's config (at the table's own profile, whatever `profile`: real data only)."""
    del profile
    return [cell.config(self.profile) for cell in self.cells()]

  def reproduce(self, options: Options) -> list[Path]:
    """At the table's own profile (paper) runs the selected cells (or prints their commands); at any
    other profile, or with `finished_only`, runs nothing; then collects the finished cells."""
    cfgs = cell_configs(self, self.cells(), self.profile, options)
    if options.profile == self.profile and not options.finished_only:  # real data: run the cells (or print commands)
      if options.print_commands:
        print_commands(unique_runs(cfgs), self.profile, options)
        return []
      execute_all(self, unique_runs(cfgs), options.runs_dir, not options.skip_claimed)  # collects finished cells
    else:
      print(f"table {self.id}: cells are {self.profile}-profile runs on real data; collecting finished ones only")
    return [self.collect(cfgs, options.runs_dir, options.results_dir, options.paper_dir)]

  def collect(self, cfgs, runs_dir: Path, results: Path, paper_dir: Path) -> Path:
    """The finished paper-profile runs of `cfgs` ((cell, config); others are '-') beside the paper's rows."""
    records, run_ids, all_ids = [], [], set()
    for cell, cfg in cfgs:
      run_dir = runs_dir / runs.run_id(cfg)
      all_ids.add(run_dir.name)
      if runs.is_finished(run_dir):
        value = _value(run_dir, self.columns[cell.column][1], self.scale)
        records.append({"row": cell.row, "column": cell.column, "seed": cell.seed, "value": value,
                        "run": run_dir.name})
        run_ids.append(run_dir.name)
    paper = report.read_paper(report.table_path(paper_dir, self.id, ".csv"))
    others = [] if paper is None else [r for r in dict.fromkeys(paper.row) if r not in self.rows]
    df = report.grid_table(records, list(self.rows) + others, list(self.columns), paper)
    body = report.grid_markdown(df, list(self.columns), "row", self.metric_label)
    body += (f"\nOur cells: finished {self.profile}-profile runs on the real datasets ({len(set(run_ids))} of "
             f"{len(all_ids)}); '-' where none has finished. {self.note}\n")
    compute = runs.compute_seconds(runs_dir, set(run_ids))
    meta = {"profile": self.profile, "git_sha": runs.git_sha(), "compute_seconds": compute,
            "num_runs": len(set(run_ids)), "claim": self.claim, "cells": records}
    return report.write_table(results / "tables", self.id, self.title, body, df, meta)


def _value(run_dir, measure, scale: float) -> float:
  """A RealDataTable cell: a result.json key, or top-1 of one head over a duration bin."""
  if isinstance(measure, str):
    value = runs.read_result(run_dir).get(measure)
    return float("nan") if value is None else value * scale
  _, head, low, high = measure
  with np.load(run_dir / PREDICTIONS) as p:
    heads = runs.read_result(run_dir).get("heads", ["class"])
    h = heads.index(head)
    label, prediction = p["label"].reshape(len(p["label"]), -1), p["prediction"].reshape(len(p["label"]), -1)
    keep = (p["duration"] >= low) & (p["duration"] < high)
    return float((label[keep, h] == prediction[keep, h]).mean() * scale) if keep.any() else float("nan")
