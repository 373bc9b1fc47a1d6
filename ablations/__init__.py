"""One module per paper table or figure: what to run (rows x columns x seeds) and what to report.
The kinds of table live in `ablations.kinds` (one module each), the paper's vocabulary in `spec`."""
from __future__ import annotations

import importlib
import pkgutil

from ablations.kinds import Table
from lvmae.report import id_order

NOT_TABLES = ("kinds", "spec")  # the modules of this package that declare no table


def tables() -> dict[str, Table]:
  """Every registered table, by id ("acceptance", "1", "11", ...): the TABLE of each module of this
  package (every module but NOT_TABLES)."""
  out = {}
  for info in pkgutil.iter_modules(__path__):
    if info.name not in NOT_TABLES:
      table = importlib.import_module(f"{__name__}.{info.name}").TABLE
      out[table.id] = table
  return dict(sorted(out.items(), key=lambda kv: id_order(kv[0])))


def get(table_id: str) -> Table:
  table_id = table_id.removeprefix("table")
  registered = tables()
  if table_id not in registered:
    raise ValueError(f"unknown table {table_id!r}; registered: {', '.join(registered)}")
  return registered[table_id]
