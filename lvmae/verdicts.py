"""Verdicts on the paper's claims: does this run reproduce what a table or figure claims?

A claim is text plus checks. Two kinds of check, declared by the tables (ablations/):
- `Comparison`: two cells of a grid, `left op right`, op '>' or '>='. A cell's interval is its
  mean ± std over seeds (sample std).
    '>'  reproduced if the intervals do not overlap with the left one above; not reproduced if
         they do not overlap with the left one below; inconclusive if they overlap (touching
         counts as overlap).
    '>=' not reproduced if the intervals do not overlap with the left one below; reproduced
         otherwise ("no worse within noise").
  A cell with no finished run, or no value, is "not run"; a cell with one run (n = 1) has no
  spread, so its comparison is "inconclusive". A cell whose runs all predicted one class for
  every evaluated clip is "at chance": it learned nothing, so a comparison with it on the left is
  never "reproduced" (two untrained models are "no worse" than each other, which says nothing):
  "inconclusive" where the rules above would say reproduced.
- `Bound`: one deterministic number per side (a compiled memory, a figure's recall), no seeds:
  `left op factor x right + offset` holds (reproduced) or not (not reproduced); "not run" if a
  value is missing.
A claim is reproduced if all its checks are, not reproduced if any is not, "not run" if none of
them was run, and inconclusive otherwise.

Pure functions over what the collectors already have: each cell's (mean, std, n) and the
deterministic values by name.
"""
from __future__ import annotations

import dataclasses
import math
import operator
from typing import Mapping, NamedTuple, Sequence

from lvmae.report import mean_std

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class Stat(NamedTuple):
  """One cell: mean, sample std and number of runs over seeds (as shown: already scaled), and
  whether every one of its runs is at chance (predicted one class for every clip)."""
  mean: float
  std: float
  n: int
  at_chance: bool = False

  @property
  def missing(self) -> bool:
    return self.n == 0 or math.isnan(self.mean)


@dataclasses.dataclass(frozen=True)
class Comparison:
  """`left op right` between two cells, each a row label or (row, column); a column of None
  stands for every column of the table (the same one on both sides)."""
  left: str | tuple[str, str | None]
  op: str
  right: str | tuple[str, str | None]

  def __post_init__(self):
    if self.op not in (">", ">="):
      raise ValueError(f"comparison operator {self.op!r}: use '>' or '>='")
    for side in ("left", "right"):
      value = getattr(self, side)
      object.__setattr__(self, side, (value, None) if isinstance(value, str) else tuple(value))

  def pairs(self, columns: Sequence[str]) -> list[tuple[tuple[str, str], tuple[str, str]]]:
    """((row, column), (row, column)) of each comparison this stands for."""
    (lrow, lcol), (rrow, rcol) = self.left, self.right
    if lcol is not None and rcol is not None:
      return [((lrow, lcol), (rrow, rcol))]
    return [((lrow, lcol or c), (rrow, rcol or c)) for c in columns]


@dataclasses.dataclass(frozen=True)
class Bound:
  """`value[left] op factor x value[right] + offset` on deterministic values (one per name)."""
  left: str
  op: str
  right: str
  factor: float = 1.0
  offset: float = 0.0
  quantity: str = ""    # what the values are, for the text ("memory (GiB)")

  def __post_init__(self):
    if self.op not in _OPS:
      raise ValueError(f"bound operator {self.op!r}: use one of {sorted(_OPS)}")


@dataclasses.dataclass(frozen=True)
class Claim:
  """A claim of the paper in words and the checks that decide it."""
  text: str
  checks: tuple[Comparison | Bound, ...]

  def __post_init__(self):
    if not self.checks:
      raise ValueError(f"claim {self.text!r} has no checks")


def compare(left: Stat, op: str, right: Stat) -> str:
  """The verdict on `left op right` (module docstring)."""
  if left.missing or right.missing:
    return NOT_RUN
  if left.n < 2 or right.n < 2:
    return INCONCLUSIVE
  above = left.mean - left.std > right.mean + right.std
  below = left.mean + left.std < right.mean - right.std
  if below:
    return NOT_REPRODUCED
  if (op == ">=" or above) and not left.at_chance:
    return REPRODUCED
  return INCONCLUSIVE


def bound(left: float | None, op: str, right: float | None, factor: float = 1.0, offset: float = 0.0) -> str:
  """The verdict on `left op factor x right + offset`."""
  if left is None or right is None or math.isnan(left) or math.isnan(right):
    return NOT_RUN
  return REPRODUCED if _OPS[op](left, factor * right + offset) else NOT_REPRODUCED


def combine(verdicts: Sequence[str]) -> str:
  """A claim's verdict from its checks'."""
  if NOT_REPRODUCED in verdicts:
    return NOT_REPRODUCED
  if all(v == REPRODUCED for v in verdicts):
    return REPRODUCED
  if all(v == NOT_RUN for v in verdicts):
    return NOT_RUN
  return INCONCLUSIVE


def evaluate(claims: Sequence[Claim], stats: Mapping[tuple[str, str], Stat], columns: Sequence[str],
             values: Mapping[str, float] | None = None) -> list[dict]:
  """Each claim's verdict and its checks' numbers (JSON-ready). stats: (row, column) -> Stat, a
  missing key is a cell not run; columns: the table's columns (what a None column stands for);
  values: name -> the deterministic value a Bound reads."""
  out = []
  for claim in claims:
    checks = []
    for check in claim.checks:
      checks += _comparisons(check, stats, columns) if isinstance(check, Comparison) else [_bound(check, values or {})]
    out.append({"claim": claim.text, "verdict": combine([c["verdict"] for c in checks]), "checks": checks})
  return out


def _comparisons(check: Comparison, stats, columns) -> list[dict]:
  out = []
  for (lrow, lcol), (rrow, rcol) in check.pairs(columns):
    left, right = (stats.get(key, Stat(float("nan"), 0.0, 0)) for key in ((lrow, lcol), (rrow, rcol)))
    verdict = compare(left, check.op, right)
    where = (f"{lrow} {_shown(left)} vs {rrow} {_shown(right)} [{lcol}]" if lcol == rcol else
             f"{lrow} [{lcol}] {_shown(left)} vs {rrow} [{rcol}] {_shown(right)}")
    out.append({"text": f"{where}, claimed {check.op}: {verdict}", "verdict": verdict, "op": check.op,
                "left": {"row": lrow, "column": lcol, **left._asdict()},
                "right": {"row": rrow, "column": rcol, **right._asdict()}})
  return out


def _shown(stat: Stat) -> str:
  if stat.missing:
    return "not run"
  return mean_std(stat.mean, stat.std, stat.n) + (" (at chance)" if stat.at_chance else "")


def _bound(check: Bound, values: Mapping[str, float]) -> dict:
  left, right = values.get(check.left), values.get(check.right)
  verdict = bound(left, check.op, right, check.factor, check.offset)
  fmt = lambda v: "not run" if v is None or math.isnan(v) else f"{v:.3g}"  # noqa: E731
  scaled = f"{check.factor:g} x " if check.factor != 1.0 else ""
  offset = f" {'+' if check.offset >= 0 else '-'} {abs(check.offset):g}" if check.offset else ""
  quantity = f"{check.quantity}: " if check.quantity else ""
  text = f"{quantity}{check.left} {fmt(left)} {check.op} {scaled}{check.right} {fmt(right)}{offset}: {verdict}"
  return {"text": text,
          "verdict": verdict, "op": check.op, "left": {"name": check.left, "value": left},
          "right": {"name": check.right, "value": right}, "factor": check.factor, "offset": check.offset}


def markdown(results: Sequence[dict]) -> str:
  """The claims of a table or figure, each check's numbers under its claim."""
  if not results:
    return ""
  lines = ["", "Claims (rules: lvmae/verdicts.py):"]
  for result in results:
    lines.append(f"- {result['claim']}: **{result['verdict']}**")
    lines += [f"  - {check['text']}" for check in result["checks"]]
  return "\n".join(lines) + "\n"
