"""The card kind (CardTable): selected fields of one experiment's config at one profile, written as
a table (Tables 10 and 11: model cards); nothing runs.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import fiddle as fdl

import experiments
from ablations.kinds.common import Options, trains_no_grid
from lvmae import report, runs


@dataclasses.dataclass(frozen=True)
class CardTable:
  """A model card: selected fields of one experiment's config at one profile; nothing runs."""
  id: str
  title: str
  experiment: str
  profile: str
  fields: dict[str, str]              # row label -> dotted config path

  def configs(self, profile: str) -> list[fdl.Config]:
    """Every config the table builds (at its own profile, whatever `profile`)."""
    del profile
    return [experiments.get(self.experiment, self.profile)]

  def reproduce(self, options: Options) -> list[Path]:
    """Writes the card (at the table's own profile, whatever `options.profile`); runs nothing."""
    trains_no_grid(self, options)
    cfg = experiments.get(self.experiment, self.profile)
    runs.build(cfg)
    values = dict(runs.flatten(cfg))
    lines = ["| setting | value |", "|---|---|"]
    for label, paths in self.fields.items():
      shown = [str(values[p]) if values[p] not in ("", None) else "(not set)" for p in paths.split()]
      lines.append(f"| {label} | {' / '.join(shown)} |")
    body = "\n".join(lines) + f"\n\nGenerated from `lvmae show {self.experiment} --profile {self.profile}`.\n"
    return [report.write_table(options.results_dir / "tables", self.id, self.title, body, None,
                               {"profile": self.profile, "git_sha": runs.git_sha(), "compute_seconds": None})]
