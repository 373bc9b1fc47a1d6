"""Collectors: turn finished runs into tables (grids, metric columns), model cards and figures;
cost figures compile train steps instead (nothing trains).

Collectors take configs already built by the caller (the CLI resolves experiment names), read
the result.json files of run directories, never recompute a finished run, and write through
`lvmae.report` (tables, cards) or `lvmae.figures` (images).
"""
from __future__ import annotations

import json
import time

import jax
import numpy as np
import pandas as pd

from lvmae import cost, figures, report, runs
from lvmae.data.pipeline import first_view
from lvmae.masking import decoder
from lvmae.tokenizer import metrics


def stage_config(cfg, path: str):
  """The config of the stage at a dotted upstream path ("" is the config itself)."""
  for name in filter(None, path.split(".")):
    cfg = getattr(cfg, name)
  return cfg


def grid(table, profile, cfgs, runs_dir, results, paper_dir, run_ids) -> None:
  """A GridTable's cells (mean ± std over seeds) beside the paper's numbers."""
  records, measures, seen = [], table.measures(), set()
  for cell, cfg in cfgs:
    for label, (path, key, scale) in measures.items():
      if table.metrics is None and label != cell.column:
        continue
      run_dir = runs_dir / runs.run_id(stage_config(cfg, path))
      if (cell.row, label, run_dir.name) in seen:  # an upstream run shared by the seeds counts once
        continue
      seen.add((cell.row, label, run_dir.name))
      value = runs.read_result(run_dir).get(key)
      records.append({"row": cell.row, "column": label, "seed": cell.seed,
                      "value": float("nan") if value is None else value * scale, "run": run_dir.name})
  paper = report.read_paper(paper_dir / f"table{table.id}.csv")
  df = report.grid_table(records, list(table.rows), list(measures), paper)
  body = report.grid_markdown(df, list(measures), "row", table.metric_label)
  compute = sum(json.loads((runs_dir / rid / "provenance.json").read_text())["wall_seconds"] for rid in run_ids)
  meta = {"profile": profile, "git_sha": runs.git_sha(), "compute_seconds": compute, "num_runs": len(run_ids),
          "claim": table.claim, "cells": records}
  report.write_table(results / "tables", table.id, table.title, body, df, meta)


def card(table, cfg, results) -> None:
  """A CardTable: selected fields of `cfg` (the table's experiment at its profile); nothing runs."""
  runs.build(cfg)
  values = dict(runs.flatten(cfg))
  lines = ["| setting | value |", "|---|---|"]
  for label, paths in table.fields.items():
    shown = [str(values[p]) if values[p] not in ("", None) else "(not set)" for p in paths.split()]
    lines.append(f"| {label} | {' / '.join(shown)} |")
  body = "\n".join(lines) + f"\n\nGenerated from `lvmae show {table.experiment} --profile {table.profile}`.\n"
  report.write_table(results / "tables", table.id, table.title, body, None,
                     {"profile": table.profile, "git_sha": runs.git_sha(), "compute_seconds": None})


def selection_figure(figure, cfg, profile, runs_dir, results) -> None:
  """A SelectionFigure: runs its precompute stage `cfg` if not finished, then draws the selections."""
  stage = runs.build(cfg)
  start = time.perf_counter()
  run_dir = runs.execute(cfg, runs_dir)
  source = stage.data.source("train")
  elements = [source[i] for i in range(figure.num_clips)]
  frames = np.stack([first_view(e["video"], stage.sampling) for e in elements])
  events = np.stack([first_view(e["info"], stage.sampling) for e in elements]) if "info" in elements[0] else None
  scores = np.load(run_dir / "scores.npy", mmap_mode="r")[:figure.num_clips]
  token_grid, n = stage.grid, int(np.prod(stage.grid))
  panels, recalls = {}, {}
  for label, (strategy, budget, top_share) in figure.panels.items():
    keep = np.zeros((figure.num_clips, n), bool)
    for c in range(figure.num_clips):
      chosen = decoder.select(strategy, jax.random.key(c), n, budget, scores=np.asarray(scores[c]), top_share=top_share)
      keep[c, np.asarray(chosen)] = True
    panels[label] = keep.reshape(figure.num_clips, *token_grid)
    if events is not None:
      recalls[label] = metrics.selection_recall(keep, np.stack([metrics.event_tokens(e, token_grid) for e in events]))
  png = figures.selection_figure(results / "figures" / f"{figure.id}.png", frames, panels, events=events,
                                 title=figure.title, frames_shown=figure.frames_shown)
  lines = [f"![{figure.title}]({png.name})", "",
           f"{figure.num_clips} clips of `{figure.experiment}` (run `{run_dir.name}`); SLC event cells outlined in yellow."]
  if recalls:
    lines += ["", "| panel | event-token recall |", "|---|---|"]
    lines += [f"| {label} | {100 * value:.1f}% |" for label, value in recalls.items()]
  report.write_table(results / "figures", figure.id, figure.title, "\n".join(lines) + "\n", None,
                     {"profile": profile, "git_sha": runs.git_sha(), "compute_seconds": time.perf_counter() - start,
                      "num_runs": 1, "claim": figure.claim, "run": run_dir.name, "recall": recalls})


def cost_figure(figure, cfgs: dict, results) -> None:
  """A CostFigure: XLA's memory and FLOPs of one train step per point (`cfgs`: label -> config)."""
  start, rows = time.perf_counter(), []
  for label, cfg in cfgs.items():
    analysis = cost.analyse(runs.build(cfg))
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
  report.write_table(results / "figures", figure.id, figure.title, "\n".join(lines) + "\n", df, meta)
