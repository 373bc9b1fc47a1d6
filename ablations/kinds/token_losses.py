"""A grid's token-type loss table (GridTable.token_losses, SLC): each row's pre-training losses per
token type beside their trivial levels, the mean ratios its claims' Bounds read, and the curves.
"""
from __future__ import annotations

import numpy as np

from lvmae import figures, runs, verdicts
from lvmae.train.pretrain import TOKEN_TYPES, token_loss_curves


def token_losses_table(rows, cfgs, runs_dir, path: str) -> tuple[str, dict[str, float], list[dict]]:
  """The token-type losses (result.json `token_losses`, SLC) of each row's `path` runs (its
  pre-training): a markdown table of each type's mean loss and mean trivial level over the row's
  runs, and the mean of their per-run ratios; those mean ratios by name (verdicts.loss_ratio_of);
  a record per run and type. A run shared by cells of a row counts once; rows without such a stage
  (floors) are left out, rows without a finished run show '-'."""
  found, seen, staged = [], set(), set()
  for cell, cfg in cfgs:
    stage = runs.stage_at(cfg, path)
    if stage is None:
      continue
    staged.add(cell.row)
    run_dir = runs_dir / runs.run_id(stage)
    if (cell.row, run_dir.name) in seen or not runs.is_finished(run_dir):
      continue
    seen.add((cell.row, run_dir.name))
    losses = runs.read_result(run_dir).get("token_losses") or {}
    for kind in TOKEN_TYPES:
      loss, trivial = ((losses.get(kind) or {}).get(value) for value in ("loss", "trivial"))
      if loss is not None and trivial:  # None: no token of this type was logged
        found.append({"row": cell.row, "seed": cell.seed, "type": kind, "loss": loss, "trivial": trivial,
                      "ratio": loss / trivial, "run": run_dir.name})
  lines = ["", f"Token-type losses of the pre-training (`{path}`): mean loss / mean trivial level (mean of the "
           "per-run ratios) over each row's runs, over the last quarter of the logged steps; the trivial level is "
           "the loss of predicting those tokens' mean target (lvmae/train/pretrain.py); n/a where no run logged a "
           "token of that type.", "",
           "| row | runs | " + " | ".join(f"{kind}: loss / trivial (ratio)" for kind in TOKEN_TYPES) + " |",
           "|" + "---|" * (2 + len(TOKEN_TYPES))]
  ratios = {}
  for row in (r for r in rows if r in staged):
    row_runs = {f["run"] for f in found if f["row"] == row}
    shown = []
    for kind in TOKEN_TYPES:
      these = [f for f in found if f["row"] == row and f["type"] == kind]
      if not these:
        shown.append("-" if not row_runs else "n/a")
        continue
      mean = {key: float(np.mean([f[key] for f in these])) for key in ("loss", "trivial", "ratio")}
      ratios[verdicts.loss_ratio_of(row, kind)] = mean["ratio"]
      shown.append(f"{mean['loss']:.3f} / {mean['trivial']:.3f} ({mean['ratio']:.2f})")
    lines.append(f"| {row} | {len(row_runs)} | " + " | ".join(shown) + " |")
  return "\n".join(lines) + "\n", ratios, found


def token_losses_figure(table, token_losses: list[dict], runs_dir, results) -> str:
  """Draws each pre-training's token-type loss curves beside their trivial levels (one line per
  run; `results/figures/<table id>_token_losses.png`); returns the markdown that shows it."""
  runs_by_label = {f"{f['row']} (seed {f['seed']})": f["run"] for f in token_losses}
  curves = {label: token_loss_curves(runs_dir / run) for label, run in runs_by_label.items()}
  curves = {label: by_type for label, by_type in curves.items() if by_type}
  if not curves:
    return ""
  png = figures.token_loss_figure(results / "figures" / f"{table.id}_token_losses.png", curves,
                                  title=f"{table.title}: pre-training loss by token type")
  return (f"\n![token-type losses](../figures/{png.name})\n\nSolid: each pre-training's loss on the token type; "
          "dashed: its trivial level.\n")
