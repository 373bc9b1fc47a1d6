"""Collectors: turn finished runs into tables (grids, metric columns), model cards and figures,
with the verdicts on the claims they check; cost figures compile train steps instead (nothing trains).

Collectors take configs already built by the caller (the CLI resolves experiment names), read
the result.json files of run directories, never recompute a finished run, and write through
`lvmae.report` (tables, cards) or `lvmae.figures` (images).
"""
from __future__ import annotations

import time

import jax
import numpy as np
import pandas as pd

from lvmae import cost, figures, report, runs, verdicts
from lvmae.data.pipeline import fixed_views
from lvmae.masking import decoder
from lvmae.masking import events as metrics
from lvmae.train.evaluate import PREDICTIONS
from lvmae.train.pretrain import TOKEN_TYPES, token_loss_curves


def stage_config(cfg, path: str):
  """The config of the stage at a dotted upstream path ("" is the config itself); None where the
  config has no such stage (e.g. a floor's probe, which has no pre-training)."""
  for name in filter(None, path.split(".")):
    cfg = getattr(cfg, name, None)
    if cfg is None:
      return None
  return cfg


def compute_seconds(runs_dir, run_ids) -> float:
  """The wall time of the runs, from their provenance."""
  return sum(runs.wall_seconds(runs_dir / rid) for rid in run_ids)


def grid(table, profile, cfgs, runs_dir, results, paper_dir, run_ids, cost_cfgs=None, memory_cfgs=None,
         cells: int | None = None) -> None:
  """A GridTable's cells at `profile` (mean ± std over seeds) beside the paper's numbers, its floor
  rows, row metrics, token-type losses and its claims' verdicts (each cell's values by seed go to
  lvmae.verdicts, which pairs them over the pre-training seeds); `cost_cfgs` (label -> (config,
  profile, budget GiB)) are settings reported from XLA's compiled memory, not run; `memory_cfgs`
  ((row -> config, profile, reference row)) adds a column of memory relative to a row; `cells`: how
  many cells the grid has when `cfgs` holds only some (a look at a grid still running), said in a note."""
  records, measures, seen = [], table.measures(profile), set()
  for cell, cfg in cfgs:
    for label, (path, key, scale) in measures.items():
      stage = stage_config(cfg, path)
      if (table.metrics is None and label != cell.column) or stage is None:
        continue
      run_dir = runs_dir / runs.run_id(stage)
      if (cell.row, label, run_dir.name) in seen:  # an upstream run shared by the seeds counts once
        continue
      seen.add((cell.row, label, run_dir.name))
      value = runs.read_result(run_dir).get(key)
      records.append({"row": cell.row, "column": label, "seed": cell.seed,
                      "value": float("nan") if value is None else value * scale, "run": run_dir.name})
  paper = report.read_paper(report.table_path(paper_dir, table.id, ".csv"))
  skipped, floors = table.skipped(profile), table.floors or {}
  df = report.grid_table(records, table.labels(), list(measures), paper)
  if floors:
    df["floor"] = df.row.isin(floors)
  extra, notes = {}, []
  metric_records = []
  for label, (path, key, scale) in (table.row_metrics or {}).items():
    column, found, note = _row_metric(table.rows, cfgs, runs_dir, path, key, scale)
    metric_records += [{**r, "column": label} for r in found]
    for stat in ("mean", "std", "n"):
      df[f"{label} {stat}"] = column[stat].to_numpy()
    extra[label] = {row: report.NOT_AT_PROFILE if row in skipped else "n/a" if n == 0 else report.mean_std(mean, std, n)
                    for row, mean, std, n in zip(table.rows, column["mean"], column["std"], column["n"])}
    notes.append(f"{label}: {note}")
  memory = {}
  if memory_cfgs is not None:
    row_cfgs, memory_profile, reference = memory_cfgs
    memory = {row: cost.compiled_memory(runs.build(cfg))["total_bytes"] for row, cfg in row_cfgs.items()}
    label = f"memory vs {reference} ({memory_profile} profile)"
    extra[label] = {row: f"{b / memory[reference]:.2f}x ({b / 2**30:.1f} GiB)" for row, b in memory.items()}
    df[label] = [memory[row] / memory[reference] if row in memory else float("nan") for row in df.row]
  body = report.grid_markdown(df, list(measures), "row", table.metric_label, extra, skipped, floors=list(floors))
  if floors:
    notes.append(_floors_note(table))
  judged = _predicted_one_class(records, runs_dir)
  by_cell = _one_class_by_cell(records, judged)
  if any(judged.values()):
    notes.append(_one_class_note(by_cell, judged))
  if skipped:
    notes.append(f"Not built at the {profile} profile: {', '.join(skipped)}.")
  if table.note:
    notes.append(table.note)
  if cells is not None and cells != len(cfgs):
    notes.append(f"Partial: {len(cfgs)} of the grid's {cells} cells have finished; the others are not counted.")
  body += "".join(f"\n{note}\n" for note in notes)
  costs = {}
  for label, (cfg, cost_profile, budget) in (cost_cfgs or {}).items():
    gib = cost.compiled_memory(runs.build(cfg))["total_bytes"] / 2**30
    costs[label] = {"memory_gib": gib, "budget_gib": budget, "profile": cost_profile}
    verdict = "over" if gib > budget else "within"
    body += (f"\n{label}: not run. XLA's compiled memory of its pre-training step at the {cost_profile} profile is "
             f"{gib:.1f} GiB, {verdict} the {budget:g} GiB budget.\n")
  at_chance = {cell for cell, by_seed in by_cell.items() if all(by_seed.values())}
  by_seed, seeds_are = _values_by_seed(records), _seed_kinds(cfgs)
  stats = {(r["row"], c): verdicts.Stat(r[f"{c} mean"], r[f"{c} std"], r[f"{c} n"], (r["row"], c) in at_chance,
                                        by_seed.get((r["row"], c), {}), seeds_are.get(r["row"], ""))
           for r in df.to_dict("records") for c in measures}
  values = {row: b / 2**30 for row, b in memory.items()}  # what the claims' Bounds read, by name
  values.update({verdicts.mean_of(row, column): stat.mean for (row, column), stat in stats.items()})
  token_losses = []
  if table.token_losses is not None:
    text, ratios, token_losses = _token_loss_table(table.rows, cfgs, runs_dir, table.token_losses)
    body += text + _token_loss_figure(table, token_losses, runs_dir, results)
    values.update(ratios)
  claims = verdicts.evaluate(table.claims, stats, list(measures), values)
  body += verdicts.markdown(claims)
  if table.pass_fail:
    body = _pass_fail_line(table.pass_fail, claims) + body
  compute = compute_seconds(runs_dir, run_ids)
  meta = {"profile": profile, "git_sha": runs.git_sha(), "compute_seconds": compute, "num_runs": len(run_ids),
          "claim": table.claim, "claims": claims, "cells": records, "row_metrics": metric_records,
          "token_losses": token_losses, "pass_fail": _passed(claims) if table.pass_fail else None,
          "cost_rows": costs, "memory_bytes": memory, "one_class_runs": sorted(r for r, one in judged.items() if one),
          "cells_collected": len(cfgs), "cells_in_grid": len(cfgs) if cells is None else cells}
  report.write_table(results / "tables", table.id, table.title, body, df, meta)


def _values_by_seed(records) -> dict[tuple[str, str], dict[int, float]]:
  """(row, column) -> seed -> the cell's value for that seed: what the claims' comparisons pair."""
  cells = {}
  for r in records:
    cells.setdefault((r["row"], r["column"]), {})[r["seed"]] = r["value"]
  return cells


def _seed_kinds(cfgs) -> dict[str, str]:
  """row -> what its cells' seeds are: pre-training seeds where they pre-train (each fine-tuned
  or probed with the table's one downstream seed), else the runs' own seeds; "" for a row with both
  and for a floor (its seeds pair with no row's). Cells whose seeds are of the same kind are
  compared paired by seed, others unpaired (lvmae.verdicts)."""
  kinds = {}
  for cell, cfg in cfgs:
    kind = verdicts.PRETRAINING_SEEDS if runs.pretraining_path(cfg) is not None else verdicts.OWN_SEEDS
    kinds[cell.row] = kind if kinds.get(cell.row, kind) == kind and not cell.floor else ""
  return kinds


def _floors_note(table) -> str:
  """The note on a table's floor rows: what each is and what its seeds are."""
  described = []
  for label, floor in table.floors.items():
    seeds = "deterministic, one run" if floor.seed_field is None else f"the table's seeds as `{floor.seed_field}`"
    described.append(f"{label} (`{floor.experiment}`: {seeds})")
  return (f"Floors (in italics; runs that every row should beat, with none of the rows' or columns' overrides): "
          f"{'; '.join(described)}. Comparisons with a floor are unpaired (Welch).")


def _token_loss_table(rows, cfgs, runs_dir, path: str) -> tuple[str, dict[str, float], list[dict]]:
  """The token-type losses (result.json `token_losses`, SLC) of each row's `path` runs (its
  pre-training): a markdown table of each type's mean loss and mean trivial level over the row's
  runs, and the mean of their per-run ratios; those mean ratios by name (verdicts.loss_ratio_of);
  a record per run and type. A run shared by cells of a row counts once; rows without such a stage
  (floors) are left out, rows without a finished run show '-'."""
  found, seen, staged = [], set(), set()
  for cell, cfg in cfgs:
    stage = stage_config(cfg, path)
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


def _token_loss_figure(table, token_losses: list[dict], runs_dir, results) -> str:
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


def _passed(claims: list[dict]) -> str:
  """PASS when the table checks claims and every one is reproduced; INCOMPLETE while a check has
  no finished run (and none has failed outright); FAIL otherwise."""
  if claims and all(c["verdict"] == verdicts.REPRODUCED for c in claims):
    return "PASS"
  if any(c["verdict"] == verdicts.NOT_RUN for c in claims) and not any(
      c["verdict"] == verdicts.NOT_REPRODUCED for c in claims):
    return "INCOMPLETE"
  return "FAIL"


def _pass_fail_line(name: str, claims: list[dict]) -> str:
  """A test table's first line: "**<name>: PASS**" (or FAIL, INCOMPLETE), with each claim's verdict
  (its numbers follow in the claims)."""
  each = "; ".join(f"{c['claim']}: {c['verdict']}" for c in claims)
  return f"**{name}: {_passed(claims)}** (PASS needs every claim reproduced): {each}.\n\n"


def _predicted_one_class(records, runs_dir) -> dict[str, bool]:
  """For each record's run with a predictions.npz: did it predict one class (one tuple of classes,
  for several heads) for every evaluated clip? Such a classifier never left chance, whatever its
  top-1 (which is then that class's share). Runs without predictions are not judged."""
  judged = {}
  for record in records:
    path = runs_dir / record["run"] / PREDICTIONS
    if record["run"] not in judged and path.exists():
      with np.load(path) as p:
        prediction = p["prediction"].reshape(len(p["prediction"]), -1)
      judged[record["run"]] = len(np.unique(prediction, axis=0)) == 1
  return judged


def _one_class_by_cell(records, judged: dict[str, bool]) -> dict[tuple[str, str], dict[int, bool]]:
  """(row, column) -> seed -> did that seed's run predict one class (a run not judged did not)."""
  cells = {}
  for r in records:
    cells.setdefault((r["row"], r["column"]), {})[r["seed"]] = judged.get(r["run"], False)
  return cells


def _one_class_note(by_cell, judged: dict[str, bool]) -> str:
  """The table note naming the cells whose runs predicted one class."""
  seeds = {cell: sorted(s for s, one in by_seed.items() if one) for cell, by_seed in by_cell.items()}
  listed = "; ".join(f"{row} [{column}] seed{'s' if len(ss) > 1 else ''} {', '.join(map(str, ss))}"
                     for (row, column), ss in seeds.items() if ss)
  return (f"At chance: {sum(judged.values())} of {len(judged)} classifier runs (fine-tunings or probes) predicted "
          f"one class for every evaluated clip (they never left chance; their top-1 is that class's share): {listed}.")


def _row_metric(rows, cfgs, runs_dir, path: str, key: str, scale: float) -> tuple[pd.DataFrame, list[dict], str]:
  """A per-row column read from the `path` stage of each row's cells: (mean, std, n per row over
  the runs with `key`; those runs' records; a note saying how many runs had it). A run shared by
  cells of a row counts once."""
  found, seen = [], set()
  for cell, cfg in cfgs:
    stage = stage_config(cfg, path)
    if stage is None:  # a floor without this stage
      continue
    run_dir = runs_dir / runs.run_id(stage)
    if (cell.row, run_dir.name) in seen:
      continue
    seen.add((cell.row, run_dir.name))
    value = runs.read_result(run_dir).get(key) if runs.is_finished(run_dir) else None
    if value is not None:
      found.append({"row": cell.row, "seed": cell.seed, "value": value * scale, "run": run_dir.name})
  column = report.grid_table([{**r, "column": key} for r in found], list(rows), [key], None)
  column = column.rename(columns={f"{key} {stat}": stat for stat in ("mean", "std", "n")})
  stage = f"`{path}`" if path else "own"
  note = (f"mean ± std over each row's {stage} runs that report `{key}` (every column and seed; a run shared by "
          f"cells counted once), n/a where none does: {len(found)} of {len(seen)} runs report it.")
  return column, found, note


def _real_data_value(run_dir, measure, scale: float) -> float:
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


def real_data(table, cfgs, runs_dir, results, paper_dir) -> None:
  """A RealDataTable: finished paper-profile runs (others are '-') beside the paper's rows."""
  records, run_ids, all_ids = [], [], set()
  for cell, cfg in cfgs:
    run_dir = runs_dir / runs.run_id(cfg)
    all_ids.add(run_dir.name)
    if runs.is_finished(run_dir):
      value = _real_data_value(run_dir, table.columns[cell.column][1], table.scale)
      records.append({"row": cell.row, "column": cell.column, "seed": cell.seed, "value": value, "run": run_dir.name})
      run_ids.append(run_dir.name)
  paper = report.read_paper(report.table_path(paper_dir, table.id, ".csv"))
  others = [] if paper is None else [r for r in dict.fromkeys(paper.row) if r not in table.rows]
  df = report.grid_table(records, list(table.rows) + others, list(table.columns), paper)
  body = report.grid_markdown(df, list(table.columns), "row", table.metric_label)
  body += (f"\nOur cells: finished {table.profile}-profile runs on the real datasets ({len(set(run_ids))} of "
           f"{len(all_ids)}); '-' where none has finished. {table.note}\n")
  compute = compute_seconds(runs_dir, set(run_ids))
  meta = {"profile": table.profile, "git_sha": runs.git_sha(), "compute_seconds": compute,
          "num_runs": len(set(run_ids)), "claim": table.claim, "cells": records}
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


def selection_figure(figure, cfgs: dict, profile, runs_dir, results) -> None:
  """A SelectionFigure: runs its score sources (`cfgs`: experiment name -> config, in the order of
  `figure.sources()`) where not finished, then draws each panel's selection over the same clips,
  with each panel's event-token recall (SLC) and the claims' verdicts on those recalls."""
  start = time.perf_counter()
  stages = {name: runs.build(cfg) for name, cfg in cfgs.items()}
  run_dirs = {name: runs.execute(cfg, runs_dir) for name, cfg in cfgs.items()}
  first = _same_clips(stages)
  source = first.data.source("train", fixed_view=True)
  count = max(figure.num_clips, min(figure.recall_clips, len(source)))  # drawn: the first num_clips
  views = fixed_views(source, range(count), first.sampling, first.data.spatial("fixed"))
  frames, events = views["video"][:figure.num_clips], views.get("info")
  token_grid, n = first.grid, int(np.prod(first.grid))
  event_mask = None if events is None else np.stack([metrics.event_tokens(e, token_grid) for e in events])
  scores = {name: np.load(run_dirs[name] / "scores.npy", mmap_mode="r")[:count] for name in cfgs}
  for name, cached in scores.items():
    if cached.shape[1:] != (n,):
      raise ValueError(f"`{name}`'s scores.npy holds {cached.shape[1:]} scores per clip, not the {n} tokens "
                       f"of the grid {token_grid}")
  panels, recalls = {}, {}
  for label, panel in figure.panels.items():
    source_scores = _panel_scores(label, panel, scores, event_mask)
    options = {"top_share": panel.top_share} if panel.top_share is not None else {}
    clip_scores = (np.zeros((count, 0), np.float32) if source_scores is None
                   else np.asarray(source_scores, np.float32).reshape(count, n))
    chosen = np.asarray(jax.jit(jax.vmap(lambda key, s: decoder.select(  # clip c draws with key c
        panel.strategy, key, n, panel.budget, scores=s, grid=token_grid, **options)))(
            jax.vmap(jax.random.key)(np.arange(count)), clip_scores))
    keep = np.zeros((count, n), bool)
    np.put_along_axis(keep, chosen, True, axis=1)
    panels[label] = keep[:figure.num_clips].reshape(figure.num_clips, *token_grid)
    if event_mask is not None:
      recalls[label] = metrics.selection_recall(keep, event_mask)
  drawn_events = None if events is None else events[:figure.num_clips]
  png = figures.selection_figure(results / "figures" / f"{figure.id}.png", frames, panels, events=drawn_events,
                                 title=figure.title, frames_shown=figure.frames_shown)
  shown = ", ".join(f"`{name}` (run `{run_dir.name}`)" for name, run_dir in run_dirs.items())
  lines = [f"![{figure.title}]({png.name})", "",
           f"{figure.num_clips} clips of {shown}; SLC event cells outlined in yellow."]
  if recalls:
    lines += ["", f"Event-token recall: the share of SLC's event tokens each panel's selection holds, pooled over "
              f"the first {count} clips (the drawn ones included).", "", "| panel | event-token recall |", "|---|---|"]
    lines += [f"| {label} | {100 * value:.1f}% |" for label, value in recalls.items()]
  claims = verdicts.evaluate(figure.claims, {}, [], recalls)
  body = "\n".join(lines) + "\n" + verdicts.markdown(claims)
  report.write_table(results / "figures", figure.id, figure.title, body, None,
                     {"profile": profile, "git_sha": runs.git_sha(), "compute_seconds": time.perf_counter() - start,
                      "num_runs": len(run_dirs), "claim": figure.claim, "claims": claims,
                      "run": next(iter(run_dirs.values())).name, "runs": {k: v.name for k, v in run_dirs.items()},
                      "recall": recalls, "recall_clips": count})


def _same_clips(stages: dict):
  """The first stage, after checking that every stage reads the same clips on the same token grid."""
  (first_name, first), *others = stages.items()
  for name, stage in others:
    if (stage.data, stage.sampling, tuple(stage.grid)) != (first.data, first.sampling, tuple(first.grid)):
      raise ValueError(f"`{name}` and `{first_name}` do not read the same clips (data, sampling and token grid "
                       "must match) so their selections cannot be drawn over the same frames")
  return first


def _panel_scores(label: str, panel, scores: dict, event_mask):
  """(clips, N) scores of a panel: its source's cached scores, SLC's event tokens, or None."""
  if panel.source is None:
    return None
  if panel.from_events:
    if event_mask is None:
      raise ValueError(f"panel {label!r}: event-token scores need SLC's event masks; this data has none")
    return np.asarray(decoder.oracle_scores(jax.random.key(0), event_mask))
  return scores[panel.source]


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


def frames_fit(table, pretrain_config, finetune_config, runs_dir, results) -> None:
  """A FramesFitTable: per size, the most frames within the reference's memory (XLA's compiled
  analysis), analytic and compiled compute there, and top-1 of a finished fine-tuning run if any.
  `pretrain_config(size, frames)` / `finetune_config(size, frames)` build the configs."""
  start = time.perf_counter()
  ref_size, ref_frames = table.reference
  budget = cost.compiled_memory(runs.build(pretrain_config(ref_size, ref_frames)))[table.measure]
  rows = []
  for size in table.sizes:
    frames, measured = cost.most_frames_within(lambda f: runs.build(pretrain_config(size, f)), budget,
                                               table.frame_choices, table.measure)
    row = {"row": size, "frames": frames, "memory_gib": None, "state_gib": None, "gmacs_per_clip": None,
           "train_step_tflops": None,
           "top1": None, "run": None, "memory_probes": {str(f): b / 2**30 for f, b in sorted(measured.items())}}
    if frames is not None:
      stage = runs.build(pretrain_config(size, frames))
      analysis = cost.analyse(stage)
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
  report.write_table(results / "tables", table.id, table.title, "\n".join(lines) + "\n",
                     pd.DataFrame([{k: v for k, v in r.items() if k != "memory_probes"} for r in rows]), meta)
