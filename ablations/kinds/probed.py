"""The linear-probe protocol of a fine-tuning grid (GridTable.probed, GridTable.at): at the Probed
profiles each cell is the probe of the same pre-training (`as_probed`; `as_probe` moves a cell's
overrides), with floor rows (Floor, `probe_floors`): runs without pre-training that every row
should beat (any GridTable may declare floors of its own).
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

from ablations.kinds.common import pretraining_path

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
    if field.startswith("pretrained.") or s.startswith(FEATURE_FIELDS):  # the features stage holds both
      out.append(f"features.{s}")
    elif field == "seed":
      out.append(s)
    elif field not in FINETUNE_ONLY:
      raise ValueError(f"override {s!r} is a fine-tuning's with no counterpart in a probe (FINETUNE_ONLY lists "
                       f"those left out)")
  return tuple(out)


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


def floors_note(floors: dict[str, Floor]) -> str:
  """The note on a table's floor rows: what each is and what its seeds are."""
  described = []
  for label, floor in floors.items():
    seeds = "deterministic, one run" if floor.seed_field is None else f"the table's seeds as `{floor.seed_field}`"
    described.append(f"{label} (`{floor.experiment}`: {seeds})")
  return (f"Floors (in italics; runs that every row should beat, with none of the rows' or columns' overrides): "
          f"{'; '.join(described)}. Comparisons with a floor are unpaired (Welch).")


@dataclasses.dataclass(frozen=True)
class Probed:
  """A fine-tuning GridTable measured by the linear probe at some profiles (SLC.md: the cpu
  profile's primary metric): there each cell is the probe (`probe`) of the same pre-training
  (overrides moved by `as_probe`), and the two floors (`probe_floors`, seeing the clips through
  `floor_view`) are rows. At the other profiles the cells fine-tune, the paper's protocol.
  `token_losses`: there also show each row's pre-training token-type losses (GridTable.token_losses),
  which say whether the MAE learned SLC's events at all."""
  profiles: Sequence[str] = ("cpu",)
  floor_view: Sequence[str] = ()      # the floors' clips, as a fine-tuning's overrides (e.g. 128 frames)
  token_losses: bool = False


def as_probed(table, profile: str):
  """A fine-tuning GridTable (`table`, Probed at `profile`) as the same grid of probes: every
  override moved by `as_probe` (the profile's `profile_sets` after the columns'), row metrics read
  from the probe's pre-training stage, and the two floors as rows, seeing the clips through the
  Probed `floor_view` and the profile's own clip overrides (GridTable.at)."""
  if table.experiment != "finetune":
    raise ValueError(f"table {table.id}: only a fine-tuning table can be probed (it runs {table.experiment!r})")
  last = tuple((table.profile_sets or {}).get(profile, ()))
  view = tuple(table.probed.floor_view) + tuple(s for s in last if s.startswith(FEATURE_FIELDS))
  stage = pretraining_path("probe")
  moved = {label: dataclasses.replace(m, stage=stage + m.stage.removeprefix("pretrained"))
           if m.stage.startswith("pretrained") else m for label, m in (table.row_metrics or {}).items()}
  dropped = sorted({s for sets in (*table.rows.values(), *table.columns_at(profile).values()) for s in sets
                    if s.partition("=")[0].strip() in FINETUNE_ONLY})
  left_out = f"; fine-tuning-only overrides left out: {', '.join(f'`{s}`' for s in dropped)}" if dropped else ""
  note = (f"At the {profile} profile each cell is a linear probe (`probe`) of the frozen encoder the paper's "
          f"fine-tuning would start from (the same pre-training){left_out}.")
  return dataclasses.replace(
      table, experiment="probe", probed=None, metric_label=f"linear-probe {table.metric_label}",
      note=" ".join(n for n in (table.note, note) if n),
      rows={row: as_probe(sets) for row, sets in table.rows.items()},
      columns={column: as_probe(tuple(sets) + last) for column, sets in table.columns_at(profile).items()},
      profile_columns=None, profile_sets=None, row_metrics=moved or None,
      token_losses=stage if table.probed.token_losses else table.token_losses,
      floors={**probe_floors(as_probe(view)), **(table.floors or {})})
