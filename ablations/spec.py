"""Table declarations: a grid of runs (rows x columns x seeds), a card generated from a config,
selection figures, cost figures (compiled cost across settings; nothing trains) and tables of
real-dataset runs beside the paper's state of the art.

A cell is an experiment name plus `--set` overrides, so that every cell can be printed as one
self-contained `lvmae run` command.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import fiddle as fdl

import experiments
from lvmae.data.videos import NO_FLIP


@dataclasses.dataclass(frozen=True)
class Cell:
  row: str
  column: str
  seed: int
  experiment: str
  sets: tuple[str, ...]
  profile_sets: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (profile, overrides applied last there)

  def sets_at(self, profile: str) -> tuple[str, ...]:
    return self.sets + dict(self.profile_sets).get(profile, ())

  def config(self, profile: str) -> fdl.Config:
    return experiments.get(self.experiment, profile, self.sets_at(profile))

  def command(self, profile: str, stage: str | None = None) -> str:
    sets = " ".join(f"--set {s}" for s in self.sets_at(profile))
    suffix = f" --stage {stage}" if stage else ""
    return f"lvmae run {self.experiment} --profile {profile} {sets}{suffix}"


# The paper's method as fine-tuning overrides: adaptive FSQ-MagViT targets, adaptive decoder mask at 15%.
LVMAE_SETS = ("pretrained.targets.kind='adaptive_fsq_magvit'", "pretrained.tokens=@tokens_adaptive_fsq_magvit",
              "pretrained.masking.decoder_strategy='adaptive'", "pretrained.masking.decoder_budget=0.15",
              "pretrained.importance=@tokens_adaptive_fsq_magvit")


def clip_sets(num_frames: int, stride: int, stages: Sequence[str] = ("", "pretrained.", "pretrained.tokens.",
                                                                      "pretrained.importance.")) -> tuple[str, ...]:
  """Frames and stride for a fine-tuning run, its pre-training and its token caches (which must
  read the pre-training's frames). Put them after the overrides that plug the caches in."""
  return tuple(f"{stage}sampling.{field}={value}" for stage in stages
               for field, value in (("num_frames", num_frames), ("stride", stride)))


def seed_sets(seed: int) -> tuple[str, ...]:
  """The same seed for the run and its pre-training stage."""
  return (f"seed={seed}", f"pretrained.seed={seed}")


# The full method with ViT-L at 128 frames (25% token drop when fine-tuning): the paper's SOTA rows.
LVMAE_VIT_L_128_SETS = (LVMAE_SETS + clip_sets(128, 2) + ("encoder.width=1024", "encoder.depth=24", "encoder.heads=16")
                        + ("token_drop=0.25",))


def grid_cells(experiment: str, rows: dict[str, Sequence[str]], columns: dict[str, Sequence[str]],
               seeds: Sequence[int], by_profile: tuple = ()) -> list[Cell]:
  """One cell per row x column x seed: the row's, then the column's, then the seed's overrides."""
  return [Cell(row, column, seed, experiment, tuple(row_sets) + tuple(col_sets) + seed_sets(seed), by_profile)
          for row, row_sets in rows.items()
          for column, col_sets in columns.items()
          for seed in seeds]


@dataclasses.dataclass(frozen=True)
class GridTable:
  """Rows x columns x seeds of one experiment; each cell reports `metric` of its result.json."""
  id: str
  title: str
  experiment: str
  rows: dict[str, Sequence[str]]      # row label -> --set overrides
  columns: dict[str, Sequence[str]]   # column label -> --set overrides
  seeds: Sequence[int] = (0, 1, 2)
  metric: str = "top1"
  metric_label: str = "top-1 (%)"
  scale: float = 100.0                # metric x scale is what the table shows
  claim: str = ""
  # Optional: several metrics as the table's columns instead of `metric` per column: label ->
  # (stage path in the cell's config, e.g. "pretrained.tokens.tokenizer" or "" for the cell's own
  # run; result.json key; scale). A run without the key shows n/a. Needs exactly one column.
  metrics: dict[str, tuple[str, str, float]] | None = None
  # Optional: settings reported from XLA's compiled memory instead of being run (e.g. a decoder
  # that does not fit): label -> (experiment, profile, --set overrides, memory budget in GiB).
  cost_rows: dict[str, tuple[str, str, Sequence[str], float]] | None = None
  # Optional: overrides for one profile only, applied to every cell (e.g. the paper's dataset).
  profile_sets: dict[str, Sequence[str]] | None = None
  # Optional: a column of each row's compiled train-step memory relative to a reference row,
  # at a fixed setting: (experiment, profile, shared --set overrides, row -> overrides, reference row).
  memory_column: tuple[str, str, Sequence[str], dict[str, Sequence[str]], str] | None = None

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
    if self.metrics is not None and len(self.columns) != 1:
      raise ValueError(f"table {self.id}: a table with `metrics` has exactly one column of overrides")

  def measures(self) -> dict[str, tuple[str, str, float]]:
    """What each displayed column reads: label -> (stage path, result key, scale)."""
    if self.metrics is not None:
      return dict(self.metrics)
    return {column: ("", self.metric, self.scale) for column in self.columns}

  def cells(self) -> list[Cell]:
    by_profile = tuple((profile, tuple(sets)) for profile, sets in (self.profile_sets or {}).items())
    return grid_cells(self.experiment, self.rows, self.columns, self.seeds, by_profile)


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
  seeds: Sequence[int] = (0, 1, 2)
  scale: float = 100.0
  metric_label: str = "top-1 (%)"
  claim: str = ""
  note: str = ""
  profile: str = "paper"

  def cells(self) -> list[Cell]:
    return grid_cells(self.experiment, self.rows, {c: sets for c, (sets, _) in self.columns.items()}, self.seeds)


@dataclasses.dataclass(frozen=True)
class CardTable:
  """A model card: selected fields of one experiment's config at one profile; nothing runs."""
  id: str
  title: str
  experiment: str
  profile: str
  fields: dict[str, str]              # row label -> dotted config path


@dataclasses.dataclass(frozen=True)
class SelectionFigure:
  """Token selections drawn over the first clips of a precompute stage's data (Figures 3, 4).

  panels: label -> (decoder strategy, budget, top_share); scores come from `experiment`'s cache.
  """
  id: str                              # "figure3"
  title: str
  experiment: str                      # a precompute experiment with importance scores
  panels: dict[str, tuple[str, float, float]]
  num_clips: int = 3
  frames_shown: int = 8
  claim: str = ""


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
