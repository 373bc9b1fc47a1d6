"""The grid kind (GridTable): rows x columns x seeds of one experiment, each cell a run (and its
upstream stages); its cells, its printed commands, running them, and its collection into a table
of mean ± std over seeds beside the paper's numbers, with floor rows, row metrics, token-type
losses, cost rows and a memory column, and the verdicts on the claims it checks.

The probe protocol (`probed`, floors) is in probed.py, the token-type loss table in token_losses.py;
what every kind shares in common.py.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Sequence

import fiddle as fdl
import pandas as pd

import experiments
from ablations.kinds.common import (Cell, Options, cell_configs, compiled_memory, execute_all, grid_cells,
                                    has_pretraining, print_commands, unique_runs)
from ablations.kinds.probed import Floor, Probed, as_probed, floors_note
from ablations.kinds.token_losses import token_losses_figure, token_losses_table
from lvmae import report, runs, verdicts
from lvmae.data.pipeline import SLCData
from lvmae.train.pretrain import TOKEN_TYPES
from lvmae.verdicts import Claim, Comparison, loss_ratio_of, mean_of


@dataclasses.dataclass(frozen=True)
class Measure:
  """What a column (GridTable.metrics) or a row's extra column (GridTable.row_metrics) reads: the
  result.json `key` of the run of the cell's stage at the dotted upstream path `stage` (e.g.
  "pretrained.tokens.tokenizer"; "" for the cell's own run), times `scale` (as shown)."""
  stage: str
  key: str
  scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class CostRow:
  """A row reported from XLA's compiled memory of its train step instead of being run (e.g. a
  decoder that does not fit): `experiment` at `profile` with `sets`, against `budget_gib`."""
  experiment: str
  profile: str
  sets: Sequence[str]
  budget_gib: float


@dataclasses.dataclass(frozen=True)
class MemoryColumn:
  """A column of each row's compiled train-step memory relative to the `reference` row, at a fixed
  setting: `experiment` at `profile` with the shared `base` overrides, then each row's `per_row`."""
  experiment: str
  profile: str
  base: Sequence[str]
  per_row: dict[str, Sequence[str]]
  reference: str


@dataclasses.dataclass(frozen=True)
class GridTable:
  """Rows x columns x seeds of one experiment; each cell reports `metric` of its result.json.

  `seeds` are pre-training seeds where the experiment pre-trains (every row's cell of a seed shares
  its pre-training data order and masks: comparisons are paired over them), each fine-tuned (or
  probed) with the one `downstream_seed`; without pre-training they are the runs' own seeds
  (`seed_sets`). `floors` add rows of other experiments' runs (Floor) below the rows."""
  id: str
  title: str
  experiment: str
  rows: dict[str, Sequence[str]]      # row label -> --set overrides
  columns: dict[str, Sequence[str]]   # column label -> --set overrides
  seeds: Sequence[int] = (0, 1, 2)
  downstream_seed: int = 0            # the fine-tuning (probing) runs' seed, the same in every cell
  # Optional: one pre-training seed for every cell; the grid's seeds are then the downstream runs'
  # own (fine-tuning seeds over one pre-training: what fine-tuning alone varies).
  pretraining_seed: int | None = None
  metric: str = "top1"
  metric_label: str = "top-1 (%)"
  scale: float = 100.0                # metric x scale is what the table shows
  claim: str = ""                     # the paper's claim in words
  # The claims the table checks (lvmae.verdicts): Comparisons of cells; Bounds on the memory column.
  claims: tuple[Claim, ...] = ()
  # Optional: several metrics as the table's columns instead of `metric` per column: label ->
  # Measure. A run without the key shows n/a. Needs exactly one column.
  metrics: dict[str, Measure] | None = None
  # Optional: one more column per row read from a stage of its cells: label -> Measure; mean ± std
  # over the row's runs of that stage that have the key (every column and seed; a run shared by
  # cells counted once), n/a where none has it.
  row_metrics: dict[str, Measure] | None = None
  # Optional: rows not built nor run at a profile (shown as not at this profile): profile -> labels.
  skip_rows: dict[str, Sequence[str]] | None = None
  # Optional: columns that replace `columns` at a profile: profile -> {column label: overrides}.
  profile_columns: dict[str, dict[str, Sequence[str]]] | None = None
  # Optional: settings reported from XLA's compiled memory instead of being run (e.g. a decoder
  # that does not fit): label -> CostRow.
  cost_rows: dict[str, CostRow] | None = None
  # Optional: overrides for one profile only, applied to every cell (e.g. the paper's dataset).
  profile_sets: dict[str, Sequence[str]] | None = None
  # Optional: a column of each row's compiled train-step memory relative to a reference row (MemoryColumn).
  memory_column: MemoryColumn | None = None
  # Optional: floor rows, drawn after the rows and marked as floors: label -> Floor. Claims may name them.
  floors: dict[str, Floor] | None = None
  # Optional: the stage path of the cells' pre-training (e.g. "pretrained") whose token-type losses
  # (SLC; result.json `token_losses`) a second table shows: per row, each token type's loss and
  # trivial level, mean over the row's runs of that stage. Bounds read the mean ratios (loss_ratio_of).
  token_losses: str | None = None
  # Optional: the table is a test of this name: its page opens with "<name>: PASS" when every claim
  # is reproduced, "<name>: FAIL" otherwise.
  pass_fail: str = ""
  note: str = ""                      # said below the table
  # Optional: said below the table at one profile only, after `note` (e.g. how that profile shrank
  # the recipe): profile -> text.
  profile_notes: dict[str, str] | None = None
  # Optional: the profiles at which the cells are linear probes of the pre-trainings, with floors
  # (Probed); `at(profile)` gives the table as run there.
  probed: Probed | None = None

  def at(self, profile: str) -> GridTable:
    """The table as built, run and collected at `profile`: itself (with the profile's note, if it
    has one), or at a Probed profile the same grid of probes: every override moved by `as_probe`
    (the profile's `profile_sets` after the columns'), row metrics read from the probe's
    pre-training stage, and the two floors as rows, seeing the clips through the Probed
    `floor_view` and the profile's own clip overrides."""
    table = self
    if profile in (self.profile_notes or {}):
      table = dataclasses.replace(self, note=" ".join(n for n in (self.note, self.profile_notes[profile]) if n),
                                  profile_notes=None)
    if table.probed is None or profile not in table.probed.profiles:
      return table
    return as_probed(table, profile)

  def memory_configs(self) -> tuple[dict[str, fdl.Config], str, str] | None:
    """(row -> config, profile, reference row) of the memory column, or None."""
    if self.memory_column is None:
      return None
    column = self.memory_column
    return ({row: experiments.get(column.experiment, column.profile, tuple(column.base) + tuple(sets))
             for row, sets in column.per_row.items()}, column.profile, column.reference)

  def cost_configs(self) -> dict[str, tuple[fdl.Config, str, float]]:
    """label -> (config, profile, budget GiB) of each cost row."""
    return {label: (experiments.get(row.experiment, row.profile, tuple(row.sets)), row.profile, row.budget_gib)
            for label, row in (self.cost_rows or {}).items()}

  def __post_init__(self):
    for name, kind in (("metrics", Measure), ("row_metrics", Measure), ("cost_rows", CostRow)):
      wrong = [label for label, value in (getattr(self, name) or {}).items() if not isinstance(value, kind)]
      if wrong:
        raise ValueError(f"table {self.id}: {name} {wrong} are not {kind.__name__}s")
    if self.memory_column is not None and not isinstance(self.memory_column, MemoryColumn):
      raise ValueError(f"table {self.id}: memory_column is not a MemoryColumn")
    column_sets = [self.columns, *(self.profile_columns or {}).values()]
    if self.metrics is not None and any(len(columns) != 1 for columns in column_sets):
      raise ValueError(f"table {self.id}: a table with `metrics` has exactly one column of overrides")
    unknown = {row for rows in (self.skip_rows or {}).values() for row in rows} - set(self.rows)
    if unknown:
      raise ValueError(f"table {self.id}: skip_rows names rows it does not have: {sorted(unknown)}")
    for label, floor in (self.floors or {}).items():
      if label in self.rows:
        raise ValueError(f"table {self.id}: floor {label!r} is also a row")
      if has_pretraining(floor.experiment):
        raise ValueError(f"table {self.id}: floor {label!r} ({floor.experiment}) pre-trains: make it a row")
    self._check_claims({c for columns in column_sets for c in columns} | set(self.metrics or {}))

  def labels(self) -> list[str]:
    """Every row label as drawn: the rows, then the floors."""
    return list(self.rows) + list(self.floors or {})

  def _check_claims(self, columns: set[str]) -> None:
    """Every check of a claim names rows (or floors) and columns of this table, and every Bound
    values it has: a row's memory, a cell's mean (mean_of) or a row's token-type loss ratio
    (loss_ratio_of)."""
    rows = self.labels()
    values = set(self.rows) | {mean_of(row, column) for row in rows for column in columns}
    if self.token_losses is not None:
      values |= {loss_ratio_of(row, kind) for row in self.rows for kind in TOKEN_TYPES}
    for claim in self.claims:
      for check in claim.checks:
        if isinstance(check, Comparison):
          unknown = [(row, column) for row, column in (check.left, check.right)
                     if row not in rows or (column is not None and column not in columns)]
        else:
          unknown = [name for name in (check.left, check.right) if isinstance(name, str) and name not in values]
        if unknown:
          raise ValueError(f"table {self.id}: claim {claim.text!r} names a cell it does not have: "
                           f"{', '.join(map(repr, unknown))}")

  def columns_at(self, profile: str) -> dict[str, Sequence[str]]:
    """The columns at `profile`: `profile_columns[profile]` where given, else `columns`."""
    return dict((self.profile_columns or {}).get(profile, self.columns))

  def skipped(self, profile: str) -> tuple[str, ...]:
    """The rows not built nor run at `profile`."""
    return tuple((self.skip_rows or {}).get(profile, ()))

  def measures(self, profile: str) -> dict[str, Measure]:
    """What each displayed column reads at `profile`."""
    if self.metrics is not None:
      return dict(self.metrics)
    return {column: Measure("", self.metric, self.scale) for column in self.columns_at(profile)}

  def cells(self, profile: str) -> list[Cell]:
    """The cells built and run at `profile` (its columns; skipped rows left out), then the floors'
    (those of the table `at` that profile)."""
    table = self.at(profile)  # built once: a probed profile's grid is a new table
    if table is not self:
      return table.cells(profile)
    by_profile = tuple((p, tuple(sets)) for p, sets in (self.profile_sets or {}).items())
    rows = {row: sets for row, sets in self.rows.items() if row not in self.skipped(profile)}
    return (grid_cells(self.experiment, rows, self.columns_at(profile), self.seeds, by_profile, self.downstream_seed,
                       self.pretraining_seed)
            + self._floor_cells(profile, by_profile))

  def _floor_cells(self, profile: str, by_profile: tuple) -> list[Cell]:
    """A floor's cells: one per column and seed (one per column for a deterministic floor, seed
    None), each column's the same run."""
    return [Cell(label, column, seed, floor.experiment,
                 tuple(floor.sets) + floor.seed_sets(seed, self.downstream_seed), by_profile, floor=True)
            for label, floor in (self.floors or {}).items()
            for column in self.columns_at(profile)
            for seed in (self.seeds if floor.seed_field is not None else (None,))]

  def configs(self, profile: str) -> list[fdl.Config]:
    """Every config the table builds at `profile`: its cells', then its cost rows' and memory
    column's (taken at their own profiles)."""
    memory = self.memory_configs()
    return ([cell.config(profile) for cell in self.cells(profile)]
            + [cfg for cfg, _, _ in self.cost_configs().values()] + (list(memory[0].values()) if memory else []))

  def reproduce(self, options: Options) -> list[Path]:
    """Builds every cell at `options.profile` (validating each before anything runs), then prints
    one command per run, or runs what has not finished (nothing with `finished_only`) and collects
    the table; returns the table written (none when printing commands)."""
    table = self.at(options.profile)  # e.g. probes with floors where the table is Probed
    cfgs = cell_configs(table, table.cells(options.profile), options.profile, options)
    for _, cfg in cfgs:
      runs.build(cfg)  # every cell validates before anything runs
    todo = unique_runs(cfgs)
    if options.print_commands:
      print_commands(todo, options.profile, options)
      return []
    runs.enable_compilation_cache(options.runs_dir)
    start, cells = time.perf_counter(), len(cfgs)
    skipped = [] if options.finished_only else execute_all(table, todo, options.runs_dir, not options.skip_claimed)
    if options.finished_only or skipped:  # collect the finished cells only (a partial table says so)
      cfgs = [(cell, cfg) for cell, cfg in cfgs if runs.is_finished(options.runs_dir / runs.run_id(cfg))]
      todo = [run for run in todo if runs.is_finished(options.runs_dir / run[0])]
    path = table.collect(options.profile, cfgs, options.runs_dir, options.results_dir, options.paper_dir,
                         [rid for rid, *_ in todo], cells=cells)
    print(f"table {table.id}: {len(cfgs)} of {cells} cells, {len(todo)} runs, {time.perf_counter() - start:.0f} s "
          f"this call{' (finished runs only: nothing run)' if options.finished_only else ''}")
    return [path]

  def collect(self, profile: str, cfgs, runs_dir: Path, results: Path, paper_dir: Path, run_ids,
              cells: int | None = None) -> Path:
    """The table's cells at `profile` (`cfgs`: (cell, config) of finished or running cells; mean ±
    std over seeds) beside the paper's numbers, its floor rows, row metrics, token-type losses, cost
    rows and memory column (from XLA's compiled memory, not run) and its claims' verdicts (each
    cell's values by seed go to lvmae.verdicts, which pairs them over the pre-training seeds);
    `run_ids`: the runs whose compute it reports; `cells`: how many cells the grid has when `cfgs`
    holds only some (a look at a grid still running), said in a note. Writes results/tables/."""
    return _collect(self, profile, cfgs, runs_dir, results, paper_dir, run_ids, cells)


def _collect(table: GridTable, profile, cfgs, runs_dir, results, paper_dir, run_ids, cells) -> Path:
  """The body of GridTable.collect (which see)."""
  records, measures, seen = [], table.measures(profile), set()
  for cell, cfg in cfgs:
    for label, measure in measures.items():
      stage = runs.stage_at(cfg, measure.stage)
      if (table.metrics is None and label != cell.column) or stage is None:
        continue
      run_dir = runs_dir / runs.run_id(stage)
      if (cell.row, label, run_dir.name) in seen:  # an upstream run shared by the seeds counts once
        continue
      seen.add((cell.row, label, run_dir.name))
      value = runs.read_result(run_dir).get(measure.key)
      records.append({"row": cell.row, "column": label, "seed": cell.seed,
                      "value": float("nan") if value is None else value * measure.scale, "run": run_dir.name})
  paper = report.read_paper(report.table_path(paper_dir, table.id, ".csv"))
  skipped, floors = table.skipped(profile), table.floors or {}
  df = report.grid_table(records, table.labels(), list(measures), paper)
  if floors:
    df["floor"] = df.row.isin(floors)
  extra, notes = {}, []
  metric_records = []
  for label, measure in (table.row_metrics or {}).items():
    column, found, note = _row_metric(table.rows, cfgs, runs_dir, measure)
    metric_records += [{**r, "column": label} for r in found]
    for stat in ("mean", "std", "n"):  # by row label: floor rows have no pre-training, so no value
      df[f"{label} {stat}"] = df.row.map(dict(zip(table.rows, column[stat].to_numpy())))
    extra[label] = {row: report.NOT_AT_PROFILE if row in skipped else "n/a" if n == 0 else report.mean_std(mean, std, n)
                    for row, mean, std, n in zip(table.rows, column["mean"], column["std"], column["n"])}
    notes.append(f"{label}: {note}")
  memory = {}
  memory_cfgs = table.memory_configs()
  if memory_cfgs is not None:
    row_cfgs, memory_profile, reference = memory_cfgs
    memory = {row: compiled_memory(cfg, runs_dir)["total_bytes"] for row, cfg in row_cfgs.items()}
    label = f"memory vs {reference} ({memory_profile} profile)"
    extra[label] = {row: f"{b / memory[reference]:.2f}x ({b / 2**30:.1f} GiB)" for row, b in memory.items()}
    df[label] = [memory[row] / memory[reference] if row in memory else float("nan") for row in df.row]
  body = report.grid_markdown(df, list(measures), "row", table.metric_label, extra, skipped, floors=list(floors))
  if floors:
    notes.append(floors_note(floors))
  judged = _predicted_one_class(records, runs_dir)
  by_cell = verdicts.one_class_by_cell(records, judged)
  if any(judged.values()):
    notes.append(verdicts.one_class_note(by_cell, judged))
  if skipped:
    notes.append(f"Not built at the {profile} profile: {', '.join(skipped)}.")
  if table.note:
    notes.append(table.note)
  if cells is not None and cells != len(cfgs):
    notes.append(f"Partial: {len(cfgs)} of the grid's {cells} cells have finished; the others are not counted.")
  body += "".join(f"\n{note}\n" for note in notes)
  costs = {}
  for label, (cfg, cost_profile, budget) in table.cost_configs().items():
    gib = compiled_memory(cfg, runs_dir)["total_bytes"] / 2**30
    costs[label] = {"memory_gib": gib, "budget_gib": budget, "profile": cost_profile}
    verdict = "over" if gib > budget else "within"
    body += (f"\n{label}: not run. XLA's compiled memory of its pre-training step at the {cost_profile} profile is "
             f"{gib:.1f} GiB, {verdict} the {budget:g} GiB budget.\n")
  at_chance = {cell for cell, by_seed in by_cell.items() if all(by_seed.values())}
  by_seed, seeds_are = _values_by_seed(records), _seed_kinds(cfgs, table.pretraining_seed)
  stats = {(r["row"], c): verdicts.Stat(r[f"{c} mean"], r[f"{c} std"], r[f"{c} n"], (r["row"], c) in at_chance,
                                        by_seed.get((r["row"], c), {}), seeds_are.get(r["row"], ""))
           for r in df.to_dict("records") for c in measures}
  values = {row: b / 2**30 for row, b in memory.items()}  # what the claims' Bounds read, by name
  values.update({verdicts.mean_of(row, column): stat.mean for (row, column), stat in stats.items()})
  token_losses = []
  if table.token_losses is not None:
    text, ratios, token_losses = token_losses_table(table.rows, cfgs, runs_dir, table.token_losses)
    body += text + token_losses_figure(table, token_losses, runs_dir, results)
    values.update(ratios)
  claims = verdicts.evaluate(table.claims, stats, list(measures), values, floors=list(floors))
  if not _on_slc(cfgs):  # what SLC can say about a claim is said only where the grid ran on SLC
    claims = [{**claim, "on_slc": ""} for claim in claims]
  body += verdicts.markdown(claims)
  archived = runs.archive(run_ids, runs_dir, results / report.AUDIT_DIR)  # every run the table uses
  body += report.audit_markdown(records)
  if table.pass_fail:
    body = verdicts.pass_fail_line(table.pass_fail, claims) + body
  by_stage = runs.compute_by_stage(runs_dir, run_ids)
  meta = {"profile": profile, "git_sha": runs.git_sha(), "compute_seconds": sum(by_stage.values()),
          "num_runs": len(run_ids), "compute_by_stage": by_stage,
          "claim": table.claim, "claims": claims, "cells": records, "row_metrics": metric_records,
          "token_losses": token_losses, "pass_fail": verdicts.passed(claims) if table.pass_fail else None,
          "cost_rows": costs, "memory_bytes": memory, "one_class_runs": sorted(r for r, one in judged.items() if one),
          "floors": _floor_values(df, floors, measures), "cells_collected": len(cfgs), "cells_in_grid": len(cfgs) if cells is None else cells,
          "archived_runs": archived}
  path = report.write_table(results / "tables", table.id, table.title, body, df, meta)
  runs.prune_archive(results / report.AUDIT_DIR, runs_dir, report.archived_runs(results / "tables"))
  return path


def _floor_values(df, floors, measures) -> dict[str, str]:
  """Each floor row's value as drawn (a floor's runs fill every column alike: the first column's)."""
  first = next(iter(measures))
  return {r["row"]: report.mean_std(r[f"{first} mean"], r[f"{first} std"], r[f"{first} n"])
          for r in df.to_dict("records") if r["row"] in floors}


def _on_slc(cfgs) -> bool:
  """Whether the grid's runs read SLC (the embedded benchmark), not real videos."""
  return any(fdl.get_callable(stage.data) is SLCData for _, cfg in cfgs for _, stage in runs.stage_chain(cfg)
             if isinstance(getattr(stage, "data", None), fdl.Buildable))


def _predicted_one_class(records, runs_dir) -> dict[str, bool]:
  """run -> did it predict one class for every evaluated clip, for each record's run with predictions."""
  judged = {}
  for record in records:
    if record["run"] not in judged:
      one = runs.predicted_one_class(runs_dir / record["run"])
      if one is not None:
        judged[record["run"]] = one
  return judged


def _values_by_seed(records) -> dict[tuple[str, str], dict[int, float]]:
  """(row, column) -> seed -> the cell's value for that seed: what the claims' comparisons pair."""
  cells = {}
  for r in records:
    cells.setdefault((r["row"], r["column"]), {})[r["seed"]] = r["value"]
  return cells


def _seed_kinds(cfgs, pretraining_seed: int | None = None) -> dict[str, str]:
  """row -> what its cells' seeds are: pre-training seeds where they pre-train (each fine-tuned
  or probed with the table's one downstream seed), else the runs' own seeds (also where one
  `pretraining_seed` fixes every pre-training); "" for a row with both and for a floor (its seeds
  pair with no row's). Cells whose seeds are of the same kind are compared paired by seed, others
  unpaired (lvmae.verdicts)."""
  kinds = {}
  for cell, cfg in cfgs:
    pretrains = runs.pretraining_path(cfg) is not None and pretraining_seed is None
    kind = verdicts.PRETRAINING_SEEDS if pretrains else verdicts.OWN_SEEDS
    kinds[cell.row] = kind if kinds.get(cell.row, kind) == kind and not cell.floor else ""
  return kinds


def _row_metric(rows, cfgs, runs_dir, measure: Measure) -> tuple[pd.DataFrame, list[dict], str]:
  """A per-row column read from the `measure.stage` stage of each row's cells: (mean, std, n per row
  over the runs with its key; those runs' records; a note saying how many runs had it). A run
  shared by cells of a row counts once."""
  path, key, scale = measure.stage, measure.key, measure.scale
  found, seen = [], set()
  for cell, cfg in cfgs:
    stage = runs.stage_at(cfg, path)
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
