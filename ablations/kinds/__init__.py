"""The table kinds: one module per kind owns its declaration, its cells, its printed commands and
its collection into results/ (grid.py, real_data.py, card.py, cost_figure.py, frames_fit.py,
selection_figure.py; probed.py: a grid's linear-probe protocol and floors; token_losses.py: a
grid's token-type loss table; common.py: what they share). Every kind answers `reproduce(options) -> list[Path]` (the tables or figures it wrote; none
when it only printed commands), which is all `lvmae reproduce` asks of a table.
"""
from ablations.kinds.card import CardTable
from ablations.kinds.common import Cell, Options
from ablations.kinds.cost_figure import CostFigure
from ablations.kinds.frames_fit import FramesFitTable
from ablations.kinds.grid import CostRow, GridTable, Measure, MemoryColumn
from ablations.kinds.probed import Floor, Probed
from ablations.kinds.real_data import RealDataTable
from ablations.kinds.selection_figure import EVENTS, Panel, SelectionFigure

Table = CardTable | CostFigure | FramesFitTable | GridTable | RealDataTable | SelectionFigure

__all__ = ["CardTable", "Cell", "CostFigure", "CostRow", "EVENTS", "Floor", "FramesFitTable", "GridTable", "Measure",
           "MemoryColumn", "Options", "Panel", "Probed", "RealDataTable", "SelectionFigure", "Table"]
