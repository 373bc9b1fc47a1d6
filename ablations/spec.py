"""Table declarations: a grid of runs (rows x columns x seeds), a card generated from a config,
selection figures, cost figures (compiled cost across settings; nothing trains) and tables of
real-dataset runs beside the paper's state of the art; the claims a grid or figure checks.

A cell is an experiment name plus `--set` overrides, so that every cell can be printed as one
self-contained `lvmae run` command.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import fiddle as fdl

import experiments
from lvmae import runs
from lvmae.data.videos import NO_FLIP
from lvmae.train.pretrain import TOKEN_TYPES
# The tables declare their claims with these (mean_of, loss_ratio_of: the values a Bound reads).
from lvmae.verdicts import Bound, Claim, Comparison, loss_ratio_of, mean_of

# Upstream stages a cell may plug in (`pretrained.importance=@name`); absent (None) otherwise.
OPTIONAL_STAGES = ("pretrained.tokens", "pretrained.importance", "features.pretrained.tokens",
                   "features.pretrained.importance")


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
    """The cell's overrides at `profile`, less those into an optional upstream stage that the cell
    does not plug in (nothing is there to set: e.g. a column's dataset for `pretrained.importance`
    in a row whose decoder strategy reads no importance scores)."""
    sets = self.sets + dict(self.profile_sets).get(profile, ())
    plugged = {s.partition("=")[0] for s in sets if s.partition("=")[2].strip().startswith("@")}
    return tuple(s for s in sets if not any(s.startswith(f"{stage}.") and stage not in plugged
                                            for stage in OPTIONAL_STAGES))

  def config(self, profile: str) -> fdl.Config:
    return experiments.get(self.experiment, profile, self.sets_at(profile))

  def command(self, profile: str, stage: str | None = None) -> str:
    sets = " ".join(f"--set {s}" for s in self.sets_at(profile))
    suffix = f" --stage {stage}" if stage else ""
    return f"lvmae run {self.experiment} --profile {profile} {sets}{suffix}"


# The decoder masking strategies as fine-tuning overrides, by row label (Tables 1 and 4d). Score-based
# ones take the top `masking.top_share` (2/3) of the budget by score plus random tokens; EVEREST keeps
# only the largest changes (top_share 1); running cell expresses 25/50/75% only (25% here); the
# oracle's scores are SLC's event tokens (it exists on SLC only).
DECODER_STRATEGIES = {
    "none (100%)": ("pretrained.masking.decoder_strategy='none'",),
    "uniform (15%)": ("pretrained.masking.decoder_strategy='uniform'", "pretrained.masking.decoder_budget=0.15"),
    "random (15%)": ("pretrained.masking.decoder_strategy='random'", "pretrained.masking.decoder_budget=0.15"),
    "running cell (25%)": ("pretrained.masking.decoder_strategy='running_cell'",
                           "pretrained.masking.decoder_budget=0.25"),
    "flow (15%)": ("pretrained.masking.decoder_strategy='flow'", "pretrained.masking.decoder_budget=0.15",
                   "pretrained.importance=@flow_scores"),
    "EVEREST (15%)": ("pretrained.masking.decoder_strategy='everest'", "pretrained.masking.decoder_budget=0.15",
                      "pretrained.masking.top_share=1.0"),
    "adaptive (15%)": ("pretrained.masking.decoder_strategy='adaptive'", "pretrained.masking.decoder_budget=0.15",
                       "pretrained.importance=@tokens_adaptive_fsq_magvit"),
    "oracle (15%)": ("pretrained.masking.decoder_strategy='oracle'", "pretrained.masking.decoder_budget=0.15"),
}

# The strategies the adaptive one is claimed to beat (Tables 1 and 4d): the paper's, at their budgets.
COMPARED_STRATEGIES = ("uniform (15%)", "random (15%)", "running cell (25%)", "flow (15%)", "EVEREST (15%)")

# The reconstruction targets as fine-tuning overrides, by row label (Table 4b; Tables 1 and 5 take some):
# pixels, or a precompute stage's latents of the tokenizer each kind needs.
RECONSTRUCTION_TARGETS = {
    "RGB pixels": ("pretrained.targets.kind='rgb'",),
    "MAGVIT (LFQ)": ("pretrained.targets.kind='magvit'", "pretrained.tokens=@tokens_magvit"),
    "FSQ-MagViT": ("pretrained.targets.kind='fsq_magvit'", "pretrained.tokens=@tokens_fsq_magvit"),
    "adaptive FSQ-MagViT": ("pretrained.targets.kind='adaptive_fsq_magvit'",
                            "pretrained.tokens=@tokens_adaptive_fsq_magvit"),
}

# The paper's targets (adaptive FSQ-MagViT latents) and its method: those targets, adaptive decoder mask at 15%.
LVMAE_TARGET_SETS = RECONSTRUCTION_TARGETS["adaptive FSQ-MagViT"]
LVMAE_SETS = LVMAE_TARGET_SETS + DECODER_STRATEGIES["adaptive (15%)"]


def clip_sets(num_frames: int, stride: int, stages: Sequence[str] = ("", "pretrained.", "pretrained.tokens.",
                                                                      "pretrained.importance.")) -> tuple[str, ...]:
  """Frames and stride for a fine-tuning run, its pre-training and its token caches (which must
  read the pre-training's frames). Put them after the overrides that plug the caches in."""
  return tuple(f"{stage}sampling.{field}={value}" for stage in stages
               for field, value in (("num_frames", num_frames), ("stride", stride)))


def seed_sets(seed: int, downstream_seed: int = 0, pretraining: str | None = "pretrained") -> tuple[str, ...]:
  """The seeds of one cell. With a pre-training stage (at the dotted path `pretraining`:
  `pretraining_path`), the grid's `seed` is the pre-training seed (it fixes the pre-training's data
  order and masks, so the same seed in every row makes the rows' cells paired) and the run itself
  (fine-tuning, probing) takes the table's fixed `downstream_seed`; without one (`pretraining`
  None, e.g. `supervised`) the grid's seed is the run's own."""
  if pretraining is None:
    return (f"seed={seed}",)
  return (f"seed={downstream_seed}", f"{pretraining}.seed={seed}")


def pretraining_path(experiment: str) -> str | None:
  """Where an experiment's pre-training stage is (`pretrained`, `features.pretrained` in a probe),
  None if its runs do not start from one."""
  return runs.pretraining_path(experiments.get(experiment, "smoke"))


def has_pretraining(experiment: str) -> bool:
  """Whether an experiment's runs start from a pre-training stage (a `pretrained` upstream, at any depth)."""
  return pretraining_path(experiment) is not None


def restaged(sets: Sequence[str], stage: str) -> tuple[str, ...]:
  """Overrides written for a fine-tuning's pre-training (`pretrained.` ..., e.g. DECODER_STRATEGIES)
  moved to the pre-training stage at another path, e.g. a probe's `features.pretrained`."""
  wrong = [s for s in sets if not s.startswith("pretrained.")]
  if wrong:
    raise ValueError(f"overrides {wrong} are not into the `pretrained` stage, so they cannot move to `{stage}`")
  return tuple(f"{stage}.{s.removeprefix('pretrained.')}" for s in sets)


# Fine-tuning fields a probe has no counterpart for (it reads frozen features, one centred view):
# at a probe profile, a table's overrides of them do not apply (said in the table's note).
FINETUNE_ONLY = ("token_drop",)
# The fine-tuning's fields that its probe's features stage has too: the clips it sees and the encoder.
FEATURE_FIELDS = ("data.", "sampling.", "encoder.", "tubelet=")


def as_probe(sets: Sequence[str]) -> tuple[str, ...]:
  """A fine-tuning cell's overrides as the same cell's linear probe's (experiment `probe`): the
  pre-training's (`pretrained.`) move to `features.pretrained.`, the clips and encoder
  (FEATURE_FIELDS) to `features.`, the run's `seed` stays, fine-tuning-only ones (FINETUNE_ONLY)
  are left out; any other has no place in a probe and is an error."""
  out = []
  for s in sets:
    field = s.partition("=")[0].strip()
    if field.startswith("pretrained."):
      out.append(f"features.{s}")
    elif s.startswith(FEATURE_FIELDS):
      out.append(f"features.{s}")
    elif field == "seed":
      out.append(s)
    elif field not in FINETUNE_ONLY:
      raise ValueError(f"override {s!r} is a fine-tuning's with no counterpart in a probe (FINETUNE_ONLY lists "
                       f"those left out)")
  return tuple(out)


# The full method with ViT-L at 128 frames (25% token drop when fine-tuning): the paper's SOTA rows.
LVMAE_VIT_L_128_SETS = (LVMAE_SETS + clip_sets(128, 2) + ("encoder.width=1024", "encoder.depth=24", "encoder.heads=16")
                        + ("token_drop=0.25",))


def grid_cells(experiment: str, rows: dict[str, Sequence[str]], columns: dict[str, Sequence[str]],
               seeds: Sequence[int], by_profile: tuple = (), downstream_seed: int = 0) -> list[Cell]:
  """One cell per row x column x seed: the row's, then the column's, then the seed's overrides
  (`seed_sets`: the seed is the pre-training's where the experiment has one)."""
  pretraining = pretraining_path(experiment)
  return [Cell(row, column, seed, experiment,
               tuple(row_sets) + tuple(col_sets) + seed_sets(seed, downstream_seed, pretraining), by_profile)
          for row, row_sets in rows.items()
          for column, col_sets in columns.items()
          for seed in seeds]


@dataclasses.dataclass(frozen=True)
class Floor:
  """A floor row of a GridTable: runs of another experiment, without pre-training, that every row
  should beat (a probe on an untrained encoder, a probe on raw pixels). It takes none of the
  table's row or column overrides (only its own `sets` and the table's `profile_sets`): its runs
  fill every column of its row. Its seeds pair with no row's (comparisons with it are unpaired).

  seed_field: the field the grid's seed sets: the run's own `seed` (the default), or another, e.g.
  an untrained encoder's initialisation seed `features.seed` (the run's own `seed` is then the
  table's `downstream_seed`, as in the other rows); None for a deterministic floor: one run
  (seed `downstream_seed`) whatever the table's seeds.
  """
  experiment: str
  sets: Sequence[str] = ()
  seed_field: str | None = "seed"

  def seed_sets(self, seed: int | None, downstream_seed: int) -> tuple[str, ...]:
    """The overrides of the floor's run for the grid's `seed` (None for a deterministic floor)."""
    if self.seed_field is None:
      return (f"seed={downstream_seed}",)
    if self.seed_field == "seed":
      return (f"seed={seed}",)
    return (f"seed={downstream_seed}", f"{self.seed_field}={seed}")


PIXELS_FLOOR, RANDOM_INIT_FLOOR = "floor: raw pixels", "floor: random-init encoder"


def probe_floors(view: Sequence[str] = ()) -> dict[str, Floor]:
  """The two floors of a probed table: the linear probe on an untrained encoder (the grid's seeds
  as its initialisation seeds) and on mean-pooled raw pixels (deterministic: one run), both seeing
  the clips through `view` (overrides of the probe's `features`, e.g. its frames)."""
  return {RANDOM_INIT_FLOOR: Floor("probe_random_init", tuple(view), seed_field="features.seed"),
          PIXELS_FLOOR: Floor("probe_pixels", tuple(view), seed_field=None)}


@dataclasses.dataclass(frozen=True)
class Probed:
  """A fine-tuning GridTable measured by the linear probe at some profiles (SLC.md: the cpu
  profile's primary metric): there each cell is the probe (`probe`) of the same pre-training
  (overrides moved by `as_probe`), and the two floors (`probe_floors`, seeing the clips through
  `floor_view`) are rows. At the other profiles the cells fine-tune, the paper's protocol."""
  profiles: Sequence[str] = ("cpu",)
  floor_view: Sequence[str] = ()      # the floors' clips, as a fine-tuning's overrides (e.g. 128 frames)


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
  metric: str = "top1"
  metric_label: str = "top-1 (%)"
  scale: float = 100.0                # metric x scale is what the table shows
  claim: str = ""                     # the paper's claim in words
  # The claims the table checks (lvmae.verdicts): Comparisons of cells; Bounds on the memory column.
  claims: tuple[Claim, ...] = ()
  # Optional: several metrics as the table's columns instead of `metric` per column: label ->
  # (stage path in the cell's config, e.g. "pretrained.tokens.tokenizer" or "" for the cell's own
  # run; result.json key; scale). A run without the key shows n/a. Needs exactly one column.
  metrics: dict[str, tuple[str, str, float]] | None = None
  # Optional: one more column per row read from a stage of its cells: label -> (stage path, result
  # key, scale); mean ± std over the row's runs of that stage that have the key (every column and
  # seed; a run shared by cells counted once), n/a where none has it.
  row_metrics: dict[str, tuple[str, str, float]] | None = None
  # Optional: rows not built nor run at a profile (shown as not at this profile): profile -> labels.
  skip_rows: dict[str, Sequence[str]] | None = None
  # Optional: columns that replace `columns` at a profile: profile -> {column label: overrides}.
  profile_columns: dict[str, dict[str, Sequence[str]]] | None = None
  # Optional: settings reported from XLA's compiled memory instead of being run (e.g. a decoder
  # that does not fit): label -> (experiment, profile, --set overrides, memory budget in GiB).
  cost_rows: dict[str, tuple[str, str, Sequence[str], float]] | None = None
  # Optional: overrides for one profile only, applied to every cell (e.g. the paper's dataset).
  profile_sets: dict[str, Sequence[str]] | None = None
  # Optional: a column of each row's compiled train-step memory relative to a reference row,
  # at a fixed setting: (experiment, profile, shared --set overrides, row -> overrides, reference row).
  memory_column: tuple[str, str, Sequence[str], dict[str, Sequence[str]], str] | None = None
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
  # Optional: the profiles at which the cells are linear probes of the pre-trainings, with floors
  # (Probed); `at(profile)` gives the table as run there.
  probed: Probed | None = None

  def at(self, profile: str) -> GridTable:
    """The table as built, run and collected at `profile`: itself, or at a Probed profile the same
    grid of probes: every override moved by `as_probe` (the profile's `profile_sets` after the
    columns'), row metrics read from the probe's pre-training stage, and the two floors as rows,
    seeing the clips through the Probed `floor_view` and the profile's own clip overrides."""
    if self.probed is None or profile not in self.probed.profiles:
      return self
    if self.experiment != "finetune":
      raise ValueError(f"table {self.id}: only a fine-tuning table can be probed (it runs {self.experiment!r})")
    last = tuple((self.profile_sets or {}).get(profile, ()))
    view = tuple(self.probed.floor_view) + tuple(s for s in last if s.startswith(FEATURE_FIELDS))
    stage = pretraining_path("probe")
    moved = {label: (stage + path.removeprefix("pretrained") if path.startswith("pretrained") else path, key, scale)
             for label, (path, key, scale) in (self.row_metrics or {}).items()}
    dropped = sorted({s for sets in (*self.rows.values(), *self.columns_at(profile).values()) for s in sets
                      if s.partition("=")[0].strip() in FINETUNE_ONLY})
    left_out = f"; fine-tuning-only overrides left out: {', '.join(f'`{s}`' for s in dropped)}" if dropped else ""
    note = (f"At the {profile} profile each cell is a linear probe (`probe`) of the frozen encoder the paper's "
            f"fine-tuning would start from (the same pre-training){left_out}.")
    return dataclasses.replace(
        self, experiment="probe", probed=None, metric_label=f"linear-probe {self.metric_label}",
        note=" ".join(n for n in (self.note, note) if n),
        rows={row: as_probe(sets) for row, sets in self.rows.items()},
        columns={column: as_probe(tuple(sets) + last) for column, sets in self.columns_at(profile).items()},
        profile_columns=None, profile_sets=None, row_metrics=moved or None,
        floors={**probe_floors(as_probe(view)), **(self.floors or {})})

  def memory_configs(self) -> tuple[dict[str, fdl.Config], str, str] | None:
    """(row -> config, profile, reference row) of the memory column, or None."""
    if self.memory_column is None:
      return None
    name, profile, base, per_row, reference = self.memory_column
    return ({row: experiments.get(name, profile, tuple(base) + tuple(sets)) for row, sets in per_row.items()},
            profile, reference)

  def cost_configs(self) -> dict[str, tuple[fdl.Config, str, float]]:
    """label -> (config, profile, budget GiB) of each cost row."""
    return {label: (experiments.get(name, profile, tuple(sets)), profile, budget)
            for label, (name, profile, sets, budget) in (self.cost_rows or {}).items()}

  def __post_init__(self):
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

  def measures(self, profile: str) -> dict[str, tuple[str, str, float]]:
    """What each displayed column reads at `profile`: label -> (stage path, result key, scale)."""
    if self.metrics is not None:
      return dict(self.metrics)
    return {column: ("", self.metric, self.scale) for column in self.columns_at(profile)}

  def cells(self, profile: str) -> list[Cell]:
    """The cells built and run at `profile` (its columns; skipped rows left out), then the floors'
    (those of the table `at` that profile)."""
    if self.at(profile) is not self:
      return self.at(profile).cells(profile)
    by_profile = tuple((p, tuple(sets)) for p, sets in (self.profile_sets or {}).items())
    rows = {row: sets for row, sets in self.rows.items() if row not in self.skipped(profile)}
    return (grid_cells(self.experiment, rows, self.columns_at(profile), self.seeds, by_profile, self.downstream_seed)
            + self._floor_cells(profile, by_profile))

  def _floor_cells(self, profile: str, by_profile: tuple) -> list[Cell]:
    """A floor's cells: one per column and seed (one per column for a deterministic floor, seed
    None), each column's the same run."""
    return [Cell(label, column, seed, floor.experiment,
                 tuple(floor.sets) + floor.seed_sets(seed, self.downstream_seed), by_profile, floor=True)
            for label, floor in (self.floors or {}).items()
            for column in self.columns_at(profile)
            for seed in (self.seeds if floor.seed_field is not None else (None,))]


def slc_sets(preset: str, stages: Sequence[str] = ("", "pretrained.", "pretrained.tokens.",
                                                 "pretrained.importance.")) -> tuple[str, ...]:
  """One of SLC's presets (lvmae.data.slc, e.g. v2's long-range `long`) for a fine-tuning run, its
  pre-training and its token caches (the tokenizers keep theirs)."""
  return tuple(f"{stage}data.preset='{preset}'" for stage in stages)


def dataset_sets(name: str, stages: Sequence[str] = ("", "pretrained.", "pretrained.tokens.",
                                                    "pretrained.importance.")) -> tuple[str, ...]:
  """One of the paper's real datasets (lvmae.data.videos) for a fine-tuning run, its pre-training
  and its token caches (no flips where a mirror changes the class). Only meaningful at the paper
  profile (the others read SLC)."""
  flip = ("data.augment.flip=False",) if name in NO_FLIP else ()
  return tuple(f"{stage}{setting}" for stage in stages for setting in (f"data.name='{name}'",) + flip)


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


@dataclasses.dataclass(frozen=True)
class CardTable:
  """A model card: selected fields of one experiment's config at one profile; nothing runs."""
  id: str
  title: str
  experiment: str
  profile: str
  fields: dict[str, str]              # row label -> dotted config path


EVENTS = "events"  # a Panel source: SLC's event tokens of the figure's clips


class Panel(NamedTuple):
  """One row of a selection figure: a decoder strategy at a budget, and where its scores come from:
  a precompute-like experiment whose run holds scores.npy (e.g. 'tokens_adaptive_fsq_magvit',
  'flow_scores'), EVENTS (SLC's event tokens, the oracle) or None (a strategy without scores)."""
  strategy: str
  budget: float
  top_share: float | None = None      # score-based strategies: share of the budget from the top
  source: str | None = None

  @property
  def from_events(self) -> bool:
    return self.source == EVENTS


@dataclasses.dataclass(frozen=True)
class SelectionFigure:
  """Token selections drawn over the same first clips of the pre-training data (Figures 3, 4).

  Each source experiment runs at the figure's profile (reused when finished); the frames come from
  the first source's data and sampling, and every source must read the same clips. `claims` are
  Bounds on the panels' event-token recalls (SLC), by panel label.
  """
  id: str                              # "figure3"
  title: str
  panels: dict[str, Panel]
  num_clips: int = 3                   # clips drawn
  recall_clips: int = 256              # clips the event-token recalls pool over (at most the cache's)
  frames_shown: int = 8
  claim: str = ""
  claims: tuple[Claim, ...] = ()

  def __post_init__(self):
    if not self.sources():
      raise ValueError(f"{self.id}: no panel reads scores from an experiment, so there are no clips to draw")
    if any(not isinstance(check, Bound) for claim in self.claims for check in claim.checks):
      raise ValueError(f"{self.id}: a figure's claims are Bounds on its panels' recalls")
    names = {name for claim in self.claims for check in claim.checks for name in (check.left, check.right)
             if isinstance(name, str)}  # a number on a Bound's right is a constant
    if names - set(self.panels):
      raise ValueError(f"{self.id}: claims name panels it does not have: {sorted(names - set(self.panels))}")

  def sources(self) -> list[str]:
    """The experiments whose runs give scores, in panel order, each once."""
    return list(dict.fromkeys(p.source for p in self.panels.values() if p.source is not None and not p.from_events))


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
