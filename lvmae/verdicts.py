"""Verdicts on the paper's claims: does this run reproduce what a table or figure claims?

A claim is text plus checks. Two kinds of check, declared by the tables (ablations/):
- `Comparison`: two cells of a grid, `left op right`, op '>' or '>='. It is decided by the
  difference d = left - right and its two-sided 95% confidence interval (Student's t):
    paired (the usual case): both cells hold one value per pre-training seed, and the same seed
      fixes the same pre-training data order and masks in every row (seed_sets in
      ablations/kinds/common.py), so the values are paired by seed. Only the seeds present in both
      cells count; d is the mean of the per-seed differences, its interval
      d ± t(0.975, n-1) x sd / sqrt(n) over those n seeds.
    unpaired (Welch): where the two cells' seeds do not mean the same thing (a cell of an
      experiment without pre-training beside one with it, a floor given as mean ± std without
      per-seed values), the difference of the means with Welch's interval (its degrees of freedom
      rounded down, which widens the interval slightly).
  Rules on the interval [low, high]:
    '>'  reproduced if low > 0; not reproduced if high < 0; inconclusive otherwise.
    '>=' ("no worse", within the comparison's declared margin m >= 0): reproduced if low >= -m (the
         interval excludes a loss of more than m); not reproduced if high < -m; inconclusive
         otherwise. A wide interval is no evidence of "no worse": with m = 0 only [0, 0] or better is.
  Fewer than 2 paired seeds (or, unpaired, a cell with one run) give no interval: inconclusive.
  A cell with no finished run, or no value, is "not run". A cell whose runs all predicted one
  class for every evaluated clip is "at chance": it learned nothing, so a comparison with it on the
  left is never "reproduced" (two untrained models are "no worse" than each other, which says
  nothing): "inconclusive" where the rules above would say reproduced. Likewise, in a table with
  floor rows (runs without pre-training that every row should beat), a comparison whose left cell
  is not above every floor of its column (`above`) is never "reproduced": a row at the floors'
  level learned nothing the instrument can see, so its beating (or matching) another row says
  nothing about the claim's mechanism: "inconclusive" there too.
- `Bound`: one deterministic number per side (a compiled memory, a figure's recall, a grid cell's
  mean over seeds: `mean_of`), no seeds: `left op factor x right + offset` holds (reproduced) or
  not (not reproduced); the right side may be a constant; "not run" if a value is missing.
A claim is reproduced if all its checks are, not reproduced if any is not, "not run" if none of
them was run, and inconclusive otherwise.

An instrument claim (`Claim(instrument=True)`, not the paper's) checks that the table's recipe
detects an effect that must exist (on SLC: the oracle decoder mask beats random). Where it is not
reproduced, every "no worse" ('>=') check of the table's other claims that its interval would call
reproduced is inconclusive instead: an instrument that detects nothing finds everything no worse.
Checks that detected a difference (an interval clear of the claim's threshold) keep their verdict.

A test table's PASS / FAIL / INCOMPLETE (`passed`) is decided from its claims' verdicts; the cells
whose classifier runs predicted one class ("at chance") are named from the runs' judgement
(`one_class_by_cell`, `one_class_note`; runs.predicted_one_class reads it from a run).

Pure functions over what the table kinds' collections already have (ablations/kinds/): each cell's
`Stat` (mean, std, n and its per-seed values) and the deterministic values by name. No scipy: the t
quantile is computed here.
"""
from __future__ import annotations

import dataclasses
import math
import operator
from typing import Mapping, NamedTuple, Sequence

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
CONFIDENCE = 0.95  # two-sided level of a comparison's interval
# What a grid's seeds are (Stat.paired_over): pre-training seeds (a fine-tuning grid, ablations/kinds/common.py),
# or the runs' own seeds (an experiment without pre-training).
PRETRAINING_SEEDS, OWN_SEEDS = "pre-training seeds", "seeds"
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


class Stat(NamedTuple):
  """One cell: mean, sample std and number of runs over seeds (as shown: already scaled), whether
  every one of its runs is at chance (predicted one class for every clip), its value per seed
  (seed -> value; None where only the summary is known) and what those seeds are (e.g.
  PRETRAINING_SEEDS): two cells with per-seed values and the same `paired_over` are compared
  paired by seed, any other two unpaired (Welch)."""
  mean: float
  std: float
  n: int
  at_chance: bool = False
  values: Mapping[int, float] | None = None
  paired_over: str = ""

  @property
  def missing(self) -> bool:
    return self.n == 0 or math.isnan(self.mean)


_NOT_RUN_CELL = Stat(float("nan"), 0.0, 0)


class Difference(NamedTuple):
  """left - right: the difference of the two cells, its confidence interval [low, high] (NaN when
  there is none), over how many seeds (paired: the seeds both cells have; unpaired: the smaller
  cell's runs), and whether it is paired."""
  mean: float
  low: float
  high: float
  n: int
  paired: bool

  @property
  def has_interval(self) -> bool:
    return not (math.isnan(self.low) or math.isnan(self.high))


@dataclasses.dataclass(frozen=True)
class Comparison:
  """`left op right` between two cells, each a row label or (row, column); a column of None
  stands for every column of the table (the same one on both sides)."""
  left: str | tuple[str, str | None]
  op: str
  right: str | tuple[str, str | None]
  margin: float = 0.0  # '>=' only: how much worse, in the metric's shown units, still counts as no worse

  def __post_init__(self):
    if self.op not in (">", ">="):
      raise ValueError(f"comparison operator {self.op!r}: use '>' or '>='")
    if self.margin < 0 or (self.margin and self.op != ">="):
      raise ValueError(f"comparison margin {self.margin}: a '>=' comparison's margin is >= 0; '>' has none")
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
  """`value[left] op factor x value[right] + offset` on deterministic values (one per name); a
  number on the right is that constant itself (`Bound("x", "<=", 0.9)`)."""
  left: str
  op: str
  right: str | float
  factor: float = 1.0
  offset: float = 0.0
  quantity: str = ""    # what the values are, for the text ("memory (GiB)")

  def __post_init__(self):
    if self.op not in _OPS:
      raise ValueError(f"bound operator {self.op!r}: use one of {sorted(_OPS)}")


@dataclasses.dataclass(frozen=True)
class Claim:
  """A claim of the paper in words and the checks that decide it; `on_slc`, in plain words, what
  the embedded benchmark can and cannot say about it (the report's summary, at the SLC profiles);
  `instrument`: not the paper's claim but the table's check that its recipe detects an effect that
  must exist (module docstring)."""
  text: str
  checks: tuple[Comparison | Bound, ...]
  on_slc: str = ""
  instrument: bool = False

  def __post_init__(self):
    if not self.checks:
      raise ValueError(f"claim {self.text!r} has no checks")


def _t_central(t: float, df: int) -> float:
  """P(-t < T < t) for Student's T with integer `df` >= 1, t >= 0: the finite series of
  Abramowitz & Stegun 26.7.3 (odd df) and 26.7.4 (even df) in theta = atan(t / sqrt(df))."""
  theta = math.atan(t / math.sqrt(df))
  cos2 = math.cos(theta) ** 2
  if df % 2 == 1:  # 2/pi [theta + sin cos (1 + 2/3 cos^2 + 2.4/(3.5) cos^4 + ... up to cos^(df-3))]
    term, total = 1.0, 1.0
    for k in range(1, (df - 1) // 2):
      term *= cos2 * (2 * k) / (2 * k + 1)
      total += term
    series = math.sin(theta) * math.cos(theta) * total if df > 1 else 0.0
    return 2 / math.pi * (theta + series)
  term, total = 1.0, 1.0  # sin (1 + 1/2 cos^2 + 1.3/(2.4) cos^4 + ... up to cos^(df-2))
  for k in range(1, df // 2):
    term *= cos2 * (2 * k - 1) / (2 * k)
    total += term
  return math.sin(theta) * total


def t_quantile(p: float, df: int) -> float:
  """The p-quantile of Student's t with integer `df` >= 1 degrees of freedom (e.g.
  t_quantile(0.975, 2) = 4.303), by bisection on its distribution function."""
  if not 0 < p < 1:
    raise ValueError(f"t quantile: p = {p} is not in (0, 1)")
  if int(df) != df or df < 1:
    raise ValueError(f"t quantile: df = {df} is not a positive integer")
  df = int(df)
  if p == 0.5:
    return 0.0
  if p < 0.5:
    return -t_quantile(1 - p, df)
  target = 2 * p - 1  # P(-t < T < t) at the quantile t
  low, high = 0.0, 1.0
  while _t_central(high, df) < target:
    low, high = high, 2 * high
  for _ in range(200):
    middle = (low + high) / 2
    if middle in (low, high):  # as close as floats get
      break
    low, high = (middle, high) if _t_central(middle, df) < target else (low, middle)
  return (low + high) / 2


def paired(left: Stat, right: Stat) -> bool:
  """Whether two cells are compared seed by seed: both have per-seed values of the same kind of seed."""
  return left.values is not None and right.values is not None and bool(left.paired_over) and \
      left.paired_over == right.paired_over


def difference(left: Stat, right: Stat, confidence: float = CONFIDENCE) -> Difference:
  """left - right with its two-sided t interval: paired by seed where `paired`, else Welch's."""
  quantile = (1 + confidence) / 2
  nan = float("nan")
  if paired(left, right):
    seeds = sorted(s for s in set(left.values) & set(right.values)
                   if not (math.isnan(left.values[s]) or math.isnan(right.values[s])))
    deltas = [left.values[s] - right.values[s] for s in seeds]
    n = len(deltas)
    if n == 0:
      return Difference(nan, nan, nan, 0, True)
    mean = sum(deltas) / n
    if n < 2:
      return Difference(mean, nan, nan, n, True)
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (n - 1))
    half = t_quantile(quantile, n - 1) * sd / math.sqrt(n)
    return Difference(mean, mean - half, mean + half, n, True)
  mean, n = left.mean - right.mean, min(left.n, right.n)
  if n < 2:
    return Difference(mean, nan, nan, n, False)
  left_var, right_var = left.std ** 2 / left.n, right.std ** 2 / right.n
  se = math.sqrt(left_var + right_var)
  if se == 0:
    return Difference(mean, mean, mean, n, False)
  # Welch-Satterthwaite degrees of freedom, rounded down (conservative) to an integer.
  df = se ** 4 / (left_var ** 2 / (left.n - 1) + right_var ** 2 / (right.n - 1))
  half = t_quantile(quantile, max(1, math.floor(df))) * se
  return Difference(mean, mean - half, mean + half, n, False)


def compare(left: Stat, op: str, right: Stat, margin: float = 0.0) -> str:
  """The verdict on `left op right`, '>=' within `margin` (module docstring)."""
  if left.missing or right.missing:
    return NOT_RUN
  diff = difference(left, right)
  if not diff.has_interval:
    return INCONCLUSIVE
  if diff.high < -margin:
    return NOT_REPRODUCED
  shown = diff.low >= -margin if op == ">=" else diff.low > 0
  if shown and not left.at_chance:
    return REPRODUCED
  return INCONCLUSIVE


def above(cell: Stat, floor: Stat, confidence: float = CONFIDENCE) -> bool:
  """Whether a cell is above a floor: the lower end of the two-sided interval on cell - floor is
  above 0 (Welch's; a floor of one run, e.g. a deterministic one, is a constant: the interval is
  the cell's own one-sample t interval minus it). A cell of one run has no interval, and a cell or
  floor not run no value: False."""
  if cell.missing or floor.missing or cell.n < 2:
    return False
  if floor.n == 1:
    half = t_quantile((1 + confidence) / 2, cell.n - 1) * cell.std / math.sqrt(cell.n)
    return cell.mean - half > floor.mean
  diff = difference(Stat(cell.mean, cell.std, cell.n), Stat(floor.mean, floor.std, floor.n), confidence)
  return diff.has_interval and diff.low > 0


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
             values: Mapping[str, float] | None = None, floors: Sequence[str] = ()) -> list[dict]:
  """Each claim's verdict and its checks' numbers (JSON-ready). stats: (row, column) -> Stat, a
  missing key is a cell not run; columns: the table's columns (what a None column stands for);
  values: name -> the deterministic value a Bound reads; floors: the rows that are floors (a
  comparison whose left cell is not above them is never reproduced: module docstring)."""
  out = []
  for claim in claims:
    checks = []
    for check in claim.checks:
      checks += (_comparisons(check, stats, columns, floors) if isinstance(check, Comparison)
                 else [_bound(check, values or {})])
    out.append({"claim": claim.text, "verdict": combine([c["verdict"] for c in checks]), "checks": checks,
                "on_slc": claim.on_slc, "instrument": claim.instrument})
  if any(r["instrument"] and r["verdict"] != REPRODUCED for r in out):
    for result in out:
      if not result["instrument"]:
        _instrument_failed(result)
  return out


INSTRUMENT_FAILED = ("the instrument claim is not reproduced, and an instrument that detects nothing finds everything "
                     "no worse")


def _instrument_failed(result: dict) -> None:
  """A claim of a table whose instrument failed: its 'no worse' checks' reproduced -> inconclusive."""
  for check in result["checks"]:
    if check["op"] == ">=" and check["verdict"] == REPRODUCED and "difference" in check:
      check["verdict"] = INCONCLUSIVE
      check["text"] = check["text"].removesuffix(REPRODUCED) + f"{INCONCLUSIVE} ({INSTRUMENT_FAILED})"
  result["verdict"] = combine([c["verdict"] for c in result["checks"]])


NOT_ABOVE_FLOORS = "a row at its floors' level learned nothing the instrument can see"


def _comparisons(check: Comparison, stats, columns, floors: Sequence[str] = ()) -> list[dict]:
  out = []
  for (lrow, lcol), (rrow, rcol) in check.pairs(columns):
    left, right = (stats.get(key, _NOT_RUN_CELL) for key in ((lrow, lcol), (rrow, rcol)))
    held_to = [] if lrow in floors else [f for f in floors if not stats.get((f, lcol), _NOT_RUN_CELL).missing]
    below = [f for f in held_to if not above(left, stats[(f, lcol)])]  # a floor not run holds nothing
    verdict = compare(left, check.op, right, check.margin)
    demoted = verdict == REPRODUCED and bool(below)
    verdict = INCONCLUSIVE if demoted else verdict
    diff = None if left.missing or right.missing else difference(left, right)
    chance = lambda stat: " (at chance)" if stat.at_chance else ""  # noqa: E731
    where = (f"{lrow}{chance(left)} − {rrow}{chance(right)} [{lcol}]" if lcol == rcol else
             f"{lrow} [{lcol}]{chance(left)} − {rrow} [{rcol}]{chance(right)}")
    claimed = f"{check.op} (within {check.margin:g})" if check.margin else check.op
    why = f" ({lrow} is not above {' and '.join(below)}; {NOT_ABOVE_FLOORS})" if demoted else ""
    numbers = _difference_text(diff, left, right, lrow, rrow)
    out.append({"text": f"{where}: {numbers}, claimed {claimed}: {verdict}{why}",
                "verdict": verdict, "op": check.op, "margin": check.margin, "not_above_floors": below,
                "difference": None if diff is None else diff._asdict(),
                "left": {"row": lrow, "column": lcol, **_stat_json(left)},
                "right": {"row": rrow, "column": rcol, **_stat_json(right)}})
  return out


def _difference_text(diff: Difference | None, left: Stat, right: Stat, lrow: str, rrow: str) -> str:
  """"+6.1 [+2.0, +10.2] (paired over 3 pre-training seeds)", or why there is no interval."""
  if diff is None:
    return " and ".join(f"{row} not run" for row, stat in ((lrow, left), (rrow, right)) if stat.missing)
  if diff.n == 0:
    return "no seed in common"
  shown = f"{diff.mean:+.1f}"
  if diff.paired:
    seeds = left.paired_over.removesuffix("s") if diff.n == 1 else left.paired_over
    how = f"paired over {diff.n} {seeds}"
  else:
    how = f"unpaired, Welch: {left.n} and {right.n} runs"
  if not diff.has_interval:
    return f"{shown}, no interval ({how})"
  return f"{shown} [{diff.low:+.1f}, {diff.high:+.1f}] ({how})"


def _stat_json(stat: Stat) -> dict:
  """A cell's numbers for the table's .json (seeds as string keys, as JSON has them)."""
  values = None if stat.values is None else {str(seed): value for seed, value in sorted(stat.values.items())}
  return {"mean": stat.mean, "std": stat.std, "n": stat.n, "at_chance": stat.at_chance, "values": values,
          "paired_over": stat.paired_over}


def _bound(check: Bound, values: Mapping[str, float]) -> dict:
  constant = not isinstance(check.right, str)
  left, right = values.get(check.left), float(check.right) if constant else values.get(check.right)
  verdict = bound(left, check.op, right, check.factor, check.offset)
  fmt = lambda v: "not run" if v is None or math.isnan(v) else f"{v:.3g}"  # noqa: E731
  scaled = f"{check.factor:g} x " if check.factor != 1.0 else ""
  offset = f" {'+' if check.offset >= 0 else '-'} {abs(check.offset):g}" if check.offset else ""
  quantity = f"{check.quantity}: " if check.quantity else ""
  right_text = fmt(right) if constant else f"{check.right} {fmt(right)}"
  text = f"{quantity}{check.left} {fmt(left)} {check.op} {scaled}{right_text}{offset}: {verdict}"
  return {"text": text,
          "verdict": verdict, "op": check.op, "left": {"name": check.left, "value": left},
          "right": {"name": None if constant else check.right, "value": right}, "factor": check.factor,
          "offset": check.offset}


# The names under which a grid table's Bounds read its values (ablations/kinds/grid.py), beside each
# row's compiled memory (named by the row) in a table with a memory column.
def mean_of(row: str, column: str) -> str:
  """A cell's mean over its seeds, as shown (scaled)."""
  return f"{row} [{column}] mean"


def loss_ratio_of(row: str, token_type: str) -> str:
  """A row's mean over its pre-training runs of the loss on one token type divided by that type's
  trivial level (lvmae.train.pretrain.TOKEN_TYPES; a table's `token_losses`)."""
  return f"{row}: {token_type} loss / trivial"


def markdown(results: Sequence[dict]) -> str:
  """The claims of a table or figure, each check's numbers under its claim."""
  if not results:
    return ""
  lines = ["", f"Claims (left − right: the mean difference and its {CONFIDENCE:.0%} t interval; "
                "rules: lvmae/verdicts.py):"]
  for result in results:
    lines.append(f"- {result['claim']}: **{result['verdict']}**")
    lines += [f"  - {check['text']}" for check in result["checks"]]
  return "\n".join(lines) + "\n"


def passed(claims: Sequence[dict]) -> str:
  """PASS when the table checks claims and every one is reproduced; INCOMPLETE while a check has
  no finished run (and none has failed outright); FAIL otherwise."""
  if claims and all(c["verdict"] == REPRODUCED for c in claims):
    return "PASS"
  if any(c["verdict"] == NOT_RUN for c in claims) and not any(c["verdict"] == NOT_REPRODUCED for c in claims):
    return "INCOMPLETE"
  return "FAIL"


def pass_fail_line(name: str, claims: Sequence[dict]) -> str:
  """A test table's first line: "**<name>: PASS**" (or FAIL, INCOMPLETE), with each claim's verdict
  (its numbers follow in the claims)."""
  each = "; ".join(f"{c['claim']}: {c['verdict']}" for c in claims)
  return f"**{name}: {passed(claims)}** (PASS needs every claim reproduced): {each}.\n\n"


def one_class_by_cell(records: Sequence[dict], judged: Mapping[str, bool]) -> dict[tuple[str, str], dict[int, bool]]:
  """(row, column) -> seed -> did that seed's run predict one class for every clip. `records`:
  {row, column, seed, run}; `judged`: run -> predicted one class (a run not judged did not)."""
  cells = {}
  for r in records:
    cells.setdefault((r["row"], r["column"]), {})[r["seed"]] = judged.get(r["run"], False)
  return cells


def one_class_note(by_cell: Mapping[tuple[str, str], Mapping[int, bool]], judged: Mapping[str, bool]) -> str:
  """The table note naming the cells whose runs predicted one class."""
  seeds = {cell: sorted(s for s, one in by_seed.items() if one) for cell, by_seed in by_cell.items()}
  listed = "; ".join(f"{row} [{column}] seed{'s' if len(ss) > 1 else ''} {', '.join(map(str, ss))}"
                     for (row, column), ss in seeds.items() if ss)
  return (f"At chance: {sum(judged.values())} of {len(judged)} classifier runs (fine-tunings or probes) predicted "
          f"one class for every evaluated clip (they never left chance; their top-1 is that class's share): {listed}.")
