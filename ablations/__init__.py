"""One module per paper table or figure: what to run (rows x columns x seeds) and what to report."""
from __future__ import annotations

import importlib
import pkgutil

from ablations.spec import CardTable, CostFigure, FramesFitTable, GridTable, SelectionFigure
from lvmae.report import id_order


def tables() -> dict[str, GridTable | CardTable | SelectionFigure | CostFigure | FramesFitTable]:
  """Every registered table, by id ("acceptance", "1", "11", ...): the TABLE of each module of this
  package (every module but `spec`)."""
  out = {}
  for info in pkgutil.iter_modules(__path__):
    if info.name != "spec":
      table = importlib.import_module(f"{__name__}.{info.name}").TABLE
      out[table.id] = table
  return dict(sorted(out.items(), key=lambda kv: id_order(kv[0])))


def get(table_id: str) -> GridTable | CardTable | SelectionFigure | CostFigure | FramesFitTable:
  table_id = table_id.removeprefix("table")
  registered = tables()
  if table_id not in registered:
    raise ValueError(f"unknown table {table_id!r}; registered: {', '.join(registered)}")
  return registered[table_id]
