"""What every table kind shares: the options of `lvmae reproduce` (Options), a cell of a grid (Cell,
grid_cells, seed_sets), and running a grid's cells: each run once, upstream first (unique_runs), as
printed commands (print_commands) or executed with a progress line (execute_all); and XLA's
compiled analyses of a config's step, memoised beside the runs (compiled_memory, compiled_analysis).

A cell is an experiment name plus `--set` overrides, so that every cell can be printed as one
self-contained `lvmae run` command.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import fiddle as fdl

import experiments
from lvmae import cost, run_lock, runs

# Upstream stages a cell may plug in (`pretrained.importance=@name`); absent (None) otherwise. An
# override into one is an error where the cell does not plug it in, unless written `<stage>?.<field>`
# ("where plugged in": e.g. clip_sets' frames for whatever token caches a row has).
OPTIONAL_STAGES = ("pretrained.tokens", "pretrained.importance", "features.pretrained.tokens",
                   "features.pretrained.importance")
WHERE_PLUGGED = "?."
ANALYSES = ".analyses"  # under a runs directory: memoised compiled analyses (lvmae.cost.memoised)


@dataclasses.dataclass(frozen=True)
class Options:
  """What `lvmae reproduce` asks of a table (the command line's options; README "Running things")."""
  profile: str = "smoke"
  runs_dir: Path = Path("results/runs")
  results_dir: Path = Path("results")      # where tables/, figures/ and REPORT.md are written
  paper_dir: Path = Path("results/paper")  # the paper's reported numbers, one CSV per table
  data_root: str | None = None             # the real datasets (paper profile)
  seeds: Sequence[int] | None = None       # only these of the table's seeds (None: all)
  rows: Sequence[str] | None = None        # only these rows (None: all)
  print_commands: bool = False             # print one `lvmae run` command per run instead of running
  finished_only: bool = False              # run nothing: collect the cells whose runs have finished
  skip_claimed: bool = False               # skip runs another process is computing (default: wait for them)


def trains_no_grid(table, options: Options) -> None:
  """Refuses --finished-only for a kind that trains no grid (a card, a cost figure, ...)."""
  if options.finished_only:
    raise ValueError(f"--finished-only collects the finished cells of a grid; {table.id} is a "
                     f"{type(table).__name__}, which trains no grid")


def compiled_memory(cfg: fdl.Buildable, runs_dir: Path | None) -> dict:
  """XLA's memory of `cfg`'s train step (lvmae.cost.compiled_memory), memoised under `runs_dir`."""
  return cost.memoised(runs_dir and Path(runs_dir) / ANALYSES, "memory", runs.run_id(cfg),
                       lambda: cost.compiled_memory(runs.build(cfg)))


def compiled_analysis(cfg: fdl.Buildable, runs_dir: Path | None) -> dict:
  """Analytic and XLA's compiled cost of `cfg`'s train step (lvmae.cost.analyse), memoised under
  `runs_dir`."""
  return cost.memoised(runs_dir and Path(runs_dir) / ANALYSES, "analysis", runs.run_id(cfg),
                       lambda: cost.analyse(runs.build(cfg)))


@dataclasses.dataclass(frozen=True)
class Cell:
  row: str
  column: str
  seed: int | None                    # the grid's seed: the pre-training's where there is one (seed_sets);
                                      # None: a deterministic floor's one run
  experiment: str
  sets: tuple[str, ...]
  profile_sets: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (profile, overrides applied last there)
  floor: bool = False                 # a floor row's cell (GridTable.floors)

  def sets_at(self, profile: str) -> tuple[str, ...]:
    """The cell's overrides at `profile`. One into an optional upstream stage (OPTIONAL_STAGES)
    written "where plugged in" (`pretrained.importance?.data.name=...`, as clip_sets, slc_sets and
    dataset_sets write them) applies where the cell plugs the stage in (`pretrained.importance=@...`)
    and is left out where it does not; any other into a stage the cell does not plug in is an error."""
    sets = self.sets + dict(self.profile_sets).get(profile, ())
    plugged = {s.partition("=")[0] for s in sets if s.partition("=")[2].strip().startswith("@")}
    out = []
    for s in sets:
      stage = next((stage for stage in OPTIONAL_STAGES if s.startswith((f"{stage}.", f"{stage}{WHERE_PLUGGED}"))),
                   None)
      if stage is None:
        out.append(s)
      elif stage in plugged:
        out.append(s.replace(f"{stage}{WHERE_PLUGGED}", f"{stage}.", 1))
      elif not s.startswith(f"{stage}{WHERE_PLUGGED}"):
        raise ValueError(f"table cell ({self.row} | {self.column}): {s!r} sets `{stage}`, which the cell does not "
                         f"plug in (`{stage}=@...`); write `{stage}{WHERE_PLUGGED}...` to set it only where plugged")
    return tuple(out)

  def config(self, profile: str) -> fdl.Config:
    return experiments.get(self.experiment, profile, self.sets_at(profile))

  def command(self, profile: str, stage: str | None = None) -> str:
    sets = " ".join(f"--set {s}" for s in self.sets_at(profile))
    suffix = f" --stage {stage}" if stage else ""
    return f"lvmae run {self.experiment} --profile {profile} {sets}{suffix}"


def seed_sets(seed: int, downstream_seed: int = 0, pretraining: str | None = "pretrained",
              pretraining_seed: int | None = None) -> tuple[str, ...]:
  """The seeds of one cell. With a pre-training stage (at the dotted path `pretraining`:
  `pretraining_path`), the grid's `seed` is the pre-training seed (it fixes the pre-training's data
  order and masks, so the same seed in every row makes the rows' cells paired) and the run itself
  (fine-tuning, probing) takes the table's fixed `downstream_seed`; with a fixed `pretraining_seed`
  every cell pre-trains with it and the grid's seed is the run's own (fine-tuning seeds over one
  pre-training); without a pre-training (`pretraining` None, e.g. `supervised`) the grid's seed is
  the run's own."""
  if pretraining is None:
    return (f"seed={seed}",)
  if pretraining_seed is not None:
    return (f"seed={seed}", f"{pretraining}.seed={pretraining_seed}")
  return (f"seed={downstream_seed}", f"{pretraining}.seed={seed}")


def pretraining_path(experiment: str) -> str | None:
  """Where an experiment's pre-training stage is (`pretrained`, `features.pretrained` in a probe),
  None if its runs do not start from one."""
  return runs.pretraining_path(experiments.get(experiment, "smoke"))


def has_pretraining(experiment: str) -> bool:
  """Whether an experiment's runs start from a pre-training stage (a `pretrained` upstream, at any depth)."""
  return pretraining_path(experiment) is not None


def grid_cells(experiment: str, rows: dict[str, Sequence[str]], columns: dict[str, Sequence[str]],
               seeds: Sequence[int], by_profile: tuple = (), downstream_seed: int = 0,
               pretraining_seed: int | None = None) -> list[Cell]:
  """One cell per row x column x seed: the row's, then the column's, then the seed's overrides
  (`seed_sets`: the seed is the pre-training's where the experiment has one, unless
  `pretraining_seed` fixes it)."""
  pretraining = pretraining_path(experiment)
  return [Cell(row, column, seed, experiment,
               tuple(row_sets) + tuple(col_sets) + seed_sets(seed, downstream_seed, pretraining, pretraining_seed),
               by_profile)
          for row, row_sets in rows.items()
          for column, col_sets in columns.items()
          for seed in seeds]


# Seeds a table runs at a profile when --seeds names none: the smoke profile proves the pipeline, so it
# runs each table's first seed only; elsewhere every seed.
PROFILE_SEED_COUNT = {"smoke": 1}


def chosen_seeds(table, options: Options, profile: str) -> Sequence[int] | None:
  """--seeds where given, else the first PROFILE_SEED_COUNT of the table's seeds at `profile`, the
  one its cells are built at (None: all of them)."""
  if options.seeds is not None:
    return options.seeds
  count = PROFILE_SEED_COUNT.get(profile)
  return None if count is None else tuple(table.seeds)[:count]


def selected(table, cells: list[Cell], options: Options, profile: str) -> list[Cell]:
  """The cells, built at `profile`, of the chosen seeds (`chosen_seeds`) and of `options.rows` when
  given (all rows otherwise); a deterministic floor's one run (seed None) is in whatever the seeds."""
  rows = list(table.rows) + list(getattr(table, "floors", None) or {})
  for option, chosen, known in (("--seeds", options.seeds, table.seeds), ("--rows", options.rows, rows)):
    unknown = [c for c in chosen or () if c not in known]
    if unknown:
      raise ValueError(f"{option} {unknown}: table {table.id} has {list(known)}")
  seeds = chosen_seeds(table, options, profile)
  return [cell for cell in cells if (seeds is None or cell.seed is None or cell.seed in seeds)
          and (options.rows is None or cell.row in options.rows)]


def cell_configs(table, cells: list[Cell], profile: str, options: Options) -> list[tuple[Cell, fdl.Config]]:
  """(cell, config) of the selected `cells` at `profile`, pointed at `options.data_root`."""
  cfgs = [(cell, cell.config(profile)) for cell in selected(table, cells, options, profile)]
  if options.data_root is not None:
    cfgs = [(cell, experiments.set_data_root(cfg, options.data_root)) for cell, cfg in cfgs]
  return cfgs


def unique_runs(cfgs) -> list[tuple[str, Cell, str, fdl.Config]]:
  """(run id, cell, stage path, config) of every stage of the cells' configs, upstream first, each
  run once: a scheduler that runs the printed commands in order never runs a shared stage twice."""
  seen, out = set(), []
  for cell, cfg in cfgs:
    for stage, stage_cfg in runs.stage_chain(cfg):
      rid = runs.run_id(stage_cfg)
      if rid not in seen:
        seen.add(rid)
        out.append((rid, cell, stage or None, stage_cfg))
  return out


def print_commands(todo, profile: str, options: Options) -> None:
  """One self-contained `lvmae run` command per run of `unique_runs`, upstream first."""
  root = f" --data-root {options.data_root}" if options.data_root is not None else ""
  for rid, cell, stage, _ in todo:
    print(f"{cell.command(profile, stage)}{root} --runs-dir {options.runs_dir}  # {rid}")


def _time_left(seconds: float | None) -> str:
  """' (grid: about 2.5 h left, ...)' for a progress line, or '' while the estimate is unknown."""
  if seconds is None:
    return ""
  amount = f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"
  return f" (grid: about {amount} left, from its finished runs' times)"


def execute_all(table, todo, runs_dir: Path, wait: bool = True) -> list[str]:
  """Runs every run of `unique_runs` not finished yet, in order, with a progress line each. A run
  another process is computing (lvmae.run_lock) is waited for, or (wait=False) skipped, with every
  run that needs it; returns the run ids skipped."""
  run_dirs, skipped = [runs_dir / rid for rid, *_ in todo], []
  for i, (rid, cell, _, cfg) in enumerate(todo, 1):
    state = "reused"
    if not runs.is_finished(runs_dir / rid):
      state = "running" + _time_left(runs.seconds_left(run_dirs))
    seed = "-" if cell.seed is None else cell.seed  # None: a deterministic floor's one run
    print(f"[table {table.id}: run {i}/{len(todo)}] {rid} ({cell.row} | {cell.column} | seed {seed}) {state}",
          flush=True)
    try:
      runs.execute(cfg, runs_dir, wait=wait)
    except run_lock.RunClaimed as claimed:
      print(f"[table {table.id}: run {i}/{len(todo)}] {claimed}: skipped", flush=True)
      skipped.append(rid)
  return skipped
