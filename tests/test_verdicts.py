"""Verdicts on claims (lvmae.verdicts) on hand-made numbers, and the report's Claims summary."""
import json
import math

import pytest

from lvmae import report, verdicts
from lvmae.verdicts import Bound, Claim, Comparison, Stat

NAN = float("nan")


def cell(*values: float, at_chance: bool = False, seeds=None) -> Stat:
  """A cell of a fine-tuning grid: its value per pre-training seed (seeds 0, 1, ... unless given)."""
  seeds = range(len(values)) if seeds is None else seeds
  n = len(values)
  mean = sum(values) / n if n else NAN
  std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
  return Stat(mean, std, n, at_chance, dict(zip(seeds, values)), verdicts.PRETRAINING_SEEDS)


NOT_RUN = Stat(NAN, 0.0, 0)


@pytest.mark.parametrize("p,df,expected", [
    (0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 3, 3.182), (0.975, 4, 2.776), (0.975, 5, 2.571),
    (0.975, 10, 2.228), (0.975, 30, 2.042), (0.975, 120, 1.980), (0.95, 5, 2.015), (0.995, 2, 9.925),
    (0.9, 1, 3.078), (0.025, 4, -2.776), (0.5, 7, 0.0),
])
def test_t_quantiles_match_the_tables(p, df, expected):
  assert verdicts.t_quantile(p, df) == pytest.approx(expected, abs=5e-4)


def test_t_quantile_refuses_what_it_cannot_compute():
  for p, df in ((1.0, 3), (0.0, 3), (0.975, 0), (0.975, 2.5)):
    with pytest.raises(ValueError, match="t quantile"):
      verdicts.t_quantile(p, df)


def test_paired_difference_and_its_interval_by_hand():
  """Differences 2, 3, 1 over three seeds: mean 2, sd 1, half-width t(0.975, 2) / sqrt(3) = 2.484."""
  diff = verdicts.difference(cell(12.0, 15.0, 11.0), cell(10.0, 12.0, 10.0))
  assert diff.paired and diff.n == 3 and diff.mean == pytest.approx(2.0)
  assert (diff.low, diff.high) == pytest.approx((2.0 - 4.3027 / math.sqrt(3), 2.0 + 4.3027 / math.sqrt(3)), abs=1e-3)


def test_pairing_resolves_what_the_overlap_of_intervals_cannot():
  """Left is right + 1 on every pre-training seed (tiny noise) while the seeds themselves spread by
  20 points: mean ± std intervals overlap widely, yet the paired interval lies well above 0."""
  right = cell(10.0, 30.0, 50.0)
  left = cell(11.02, 30.98, 51.01)
  assert left.mean - left.std < right.mean + right.std  # the old rule: overlap, inconclusive
  diff = verdicts.difference(left, right)
  assert 0.9 < diff.low < diff.mean < diff.high < 1.1
  assert verdicts.compare(left, ">", right) == "reproduced"
  assert verdicts.compare(right, ">", left) == "not reproduced"
  assert verdicts.compare(right, ">=", left) == "not reproduced"
  # The same numbers without seeds (unpaired, Welch) cannot tell.
  unpaired = [Stat(s.mean, s.std, s.n) for s in (left, right)]
  assert verdicts.compare(*unpaired[:1], ">", *unpaired[1:]) == "inconclusive"


def test_only_seeds_present_in_both_cells_are_paired():
  left = cell(11.0, 21.0, 31.0, -500.0, seeds=(0, 1, 2, 7))   # seed 7 has no partner: ignored
  right = cell(10.0, 20.0, 30.0, 900.0, seeds=(0, 1, 2, 5))   # nor has seed 5
  diff = verdicts.difference(left, right)
  assert diff.n == 3 and diff.mean == pytest.approx(1.0) and diff.low == pytest.approx(1.0)
  assert verdicts.compare(left, ">", right) == "reproduced"
  # One seed in common: no interval, whatever the difference.
  one = verdicts.difference(cell(90.0, 95.0, seeds=(0, 1)), cell(10.0, 12.0, seeds=(1, 2)))
  assert one.n == 1 and one.mean == pytest.approx(85.0)  # seed 1: 95 - 10 and not one.has_interval
  assert verdicts.compare(cell(90.0, 95.0, seeds=(0, 1)), ">", cell(10.0, 12.0, seeds=(1, 2))) == "inconclusive"
  assert verdicts.compare(cell(90.0, 95.0, seeds=(0, 1)), ">", cell(10.0, 12.0, seeds=(2, 3))) == "inconclusive"


@pytest.mark.parametrize("left,op,right,expected", [
    (cell(20.0, 21.0, 19.0), ">", cell(15.0, 16.0, 14.0), "reproduced"),        # +5 on every seed
    (cell(15.0, 16.0, 14.0), ">", cell(20.0, 21.0, 19.0), "not reproduced"),
    (cell(12.0, 15.0, 11.0), ">", cell(10.0, 12.0, 10.0), "inconclusive"),      # +2 [-0.5, +4.5]
    (cell(12.0, 15.0, 11.0), ">=", cell(10.0, 12.0, 10.0), "inconclusive"),     # +2 [-0.5, +4.5]: a loss not excluded
    (cell(10.0, 12.0, 10.0), ">=", cell(12.0, 15.0, 11.0), "inconclusive"),     # -2 [-4.5, +0.5]: nor shown worse
    (cell(12.0, 13.0, 14.0), ">=", cell(10.0, 11.0, 12.0), "reproduced"),       # +2 on every seed
    (cell(10.0, 12.0, 9.0), ">=", cell(15.0, 16.0, 14.0), "not reproduced"),    # interval below 0
    (cell(15.0, 15.0), ">=", cell(15.0, 15.0), "reproduced"),                   # equal: [0, 0]
    (cell(15.0, 15.0), ">", cell(15.0, 15.0), "inconclusive"),
    (cell(15.0, 16.0), ">", cell(14.0, 15.0), "reproduced"),                    # +1 on both seeds: [1, 1]
    (NOT_RUN, ">", cell(15.0, 14.0, 16.0), "not run"),                         # no finished run
    (cell(20.0, 21.0, 19.0), ">=", NOT_RUN, "not run"),
    (cell(NAN, NAN), ">", cell(15.0, 14.0, 16.0), "not run"),                   # runs without the metric
    (cell(90.0), ">", cell(10.0, 11.0, 9.0), "inconclusive"),                   # one paired seed: no interval
    (cell(90.0, 91.0, 89.0), ">=", cell(10.0), "inconclusive"),
    (NOT_RUN, ">", cell(10.0), "not run"),                                      # not run wins over one seed
    # A left cell whose runs all predicted one class learned nothing: never reproduced.
    (cell(12.8, 12.9, 12.7, at_chance=True), ">=", cell(12.8, 12.9, 12.7, at_chance=True), "inconclusive"),
    (cell(12.8, 12.9, 12.7, at_chance=True), ">=", cell(14.0, 11.0, 17.0), "inconclusive"),
    (cell(30.0, 31.0, 29.0, at_chance=True), ">", cell(15.0, 16.0, 14.0), "inconclusive"),
    (cell(12.8, 12.9, 12.7, at_chance=True), ">=", cell(25.0, 26.0, 24.0), "not reproduced"),
    (cell(25.0, 26.0, 24.0), ">", cell(12.8, 12.9, 12.7, at_chance=True), "reproduced"),  # right at chance: fine
])
def test_comparison_rules(left, op, right, expected):
  assert verdicts.compare(left, op, right) == expected


@pytest.mark.parametrize("left,op,right,expected", [
    (Stat(20.0, 1.0, 3), ">", Stat(15.0, 1.0, 3), "reproduced"),       # +5, Welch df 4: [+2.7, +7.3]
    (Stat(15.0, 1.0, 3), ">", Stat(20.0, 1.0, 3), "not reproduced"),
    (Stat(20.0, 6.5, 3), ">", Stat(15.4, 4.7, 3), "inconclusive"),
    (Stat(20.0, 6.5, 3), ">=", Stat(15.4, 4.7, 3), "inconclusive"),    # +4.6, but the interval reaches -9
    (Stat(90.0, 0.0, 1), ">", Stat(10.0, 1.0, 3), "inconclusive"),     # one run: no spread to judge
    (Stat(12.8, 0.1, 3, True), ">=", Stat(12.8, 0.1, 3), "inconclusive"),
])
def test_cells_of_different_designs_fall_back_to_welch(left, op, right, expected):
  """Without per-seed values, or with seeds of different kinds (a supervised cell, own seeds,
  beside a pre-trained one), the comparison is unpaired: Welch's interval from mean, std and n."""
  assert verdicts.compare(left, op, right) == expected
  diff = verdicts.difference(Stat(20.0, 1.0, 3), Stat(15.0, 1.0, 3))
  assert not diff.paired and (diff.low, diff.high) == pytest.approx((5 - 2.7764 * math.sqrt(2 / 3),
                                                                     5 + 2.7764 * math.sqrt(2 / 3)), abs=1e-3)
  supervised = Stat(*cell(10.0, 30.0, 50.0)[:5], paired_over=verdicts.OWN_SEEDS)
  assert not verdicts.paired(cell(11.0, 31.0, 51.0), supervised)
  assert verdicts.compare(cell(11.0, 31.0, 51.0), ">", supervised) == "inconclusive"  # paired, it would be +1 [1, 1]


@pytest.mark.parametrize("margin,expected", [
    (0.0, "inconclusive"),    # +2 [-0.48, +4.48]: a loss of 0.48 is not excluded
    (0.4, "inconclusive"),
    (0.5, "reproduced"),      # within 0.5: the interval excludes a loss of more than 0.5
    (5.0, "reproduced"),
])
def test_no_worse_is_shown_within_a_margin(margin, expected):
  left, right = cell(12.0, 15.0, 11.0), cell(10.0, 12.0, 10.0)  # differences 2, 3, 1: +2 [-0.484, +4.484]
  assert verdicts.compare(left, ">=", right, margin) == expected
  # Worse for sure but by less than the margin: still no worse within it; worse beyond it: not reproduced.
  assert verdicts.compare(cell(9.0, 9.1, 8.9), ">=", cell(10.0, 10.0, 10.0), 1.5) == "reproduced"
  assert verdicts.compare(cell(9.0, 9.1, 8.9), ">=", cell(10.0, 10.0, 10.0), 0.5) == "not reproduced"
  with pytest.raises(ValueError, match="margin"):
    Comparison("a", ">", "b", margin=1.0)
  with pytest.raises(ValueError, match="margin"):
    Comparison("a", ">=", "b", margin=-1.0)


def test_a_failed_instrument_makes_every_no_worse_inconclusive_and_keeps_detected_differences():
  """Untrained encoders all probe alike: 'no worse' holds for each pair, and says nothing. Where
  the table's instrument claim (oracle > random) is not reproduced, such verdicts are inconclusive;
  a difference the interval does detect keeps its verdict."""
  flat = {("oracle", "x"): cell(16.0, 17.0, 16.5), ("random", "x"): cell(16.2, 16.4, 16.6),
          ("adaptive", "x"): cell(16.1, 16.3, 16.4), ("none", "x"): cell(16.1, 16.3, 16.5),
          ("flow", "x"): cell(20.0, 20.5, 21.0)}
  claims = [Claim("instrument: oracle beats random", (Comparison("oracle", ">", "random"),), instrument=True),
            Claim("adaptive no worse than none", (Comparison("adaptive", ">=", "none", margin=1.0),)),
            Claim("flow beats none", (Comparison("flow", ">", "none"),)),
            Claim("adaptive beats flow", (Comparison("adaptive", ">", "flow"),))]
  ungated = verdicts.evaluate([c for c in claims if not c.instrument], flat, ["x"])
  assert [r["verdict"] for r in ungated] == ["reproduced", "reproduced", "not reproduced"]
  instrument, no_worse, detected, worse = verdicts.evaluate(claims, flat, ["x"])
  assert instrument["verdict"] == "inconclusive" and instrument["instrument"]
  assert no_worse["verdict"] == "inconclusive"
  assert no_worse["checks"][0]["text"].endswith(f"claimed >= (within 1): inconclusive ({verdicts.INSTRUMENT_FAILED})")
  assert (detected["verdict"], worse["verdict"]) == ("reproduced", "not reproduced")  # differences it did detect
  # A passing instrument leaves the verdicts alone.
  flat[("oracle", "x")] = cell(25.0, 26.0, 25.5)
  assert [r["verdict"] for r in verdicts.evaluate(claims, flat, ["x"])] == [
      "reproduced", "reproduced", "reproduced", "not reproduced"]


@pytest.mark.parametrize("left,op,right,factor,offset,expected", [
    (0.10, "<", 0.30, 1.0, 0.0, "reproduced"),
    (0.30, "<", 0.30, 1.0, 0.0, "not reproduced"),
    (0.30, "<=", 0.30, 1.0, 0.0, "reproduced"),
    (0.19, "<=", 0.15, 1.0, 0.05, "reproduced"),     # within random + 0.05
    (0.21, "<=", 0.15, 1.0, 0.05, "not reproduced"),
    (4.5, ">", 1.0, 4.0, 0.0, "reproduced"),          # more than 4x
    (3.9, ">", 1.0, 4.0, 0.0, "not reproduced"),
    (4.0, ">=", 1.0, 4.0, 0.0, "reproduced"),
    (None, "<", 0.3, 1.0, 0.0, "not run"),
    (0.1, "<", NAN, 1.0, 0.0, "not run"),
])
def test_bound_rules(left, op, right, factor, offset, expected):
  assert verdicts.bound(left, op, right, factor, offset) == expected


@pytest.mark.parametrize("checks,expected", [
    (["reproduced", "reproduced"], "reproduced"),
    (["reproduced", "inconclusive", "not reproduced"], "not reproduced"),
    (["reproduced", "not run", "not reproduced"], "not reproduced"),
    (["reproduced", "inconclusive"], "inconclusive"),
    (["reproduced", "not run"], "inconclusive"),
    (["not run", "not run"], "not run"),
])
def test_a_claim_combines_its_checks(checks, expected):
  assert verdicts.combine(checks) == expected


def test_a_comparison_without_column_stands_for_every_column():
  stats = {("adaptive", "RGB"): cell(20.0, 21.5, 18.5), ("random", "RGB"): cell(15.4, 25.7, 5.1),
           ("adaptive", "FSQ"): cell(30.0, 31.0, 29.0), ("random", "FSQ"): cell(20.0, 21.0, 19.0)}
  claims = [Claim("adaptive beats random", (Comparison("adaptive", ">", "random"),)),
            Claim("FSQ beats RGB", (Comparison(("adaptive", "FSQ"), ">", ("adaptive", "RGB")),)),
            Claim("beats a row never run", (Comparison("adaptive", ">=", "flow"),))]
  first, second, third = verdicts.evaluate(claims, stats, ["RGB", "FSQ"])
  assert first["verdict"] == "inconclusive"
  assert [c["text"] for c in first["checks"]] == [
      "adaptive − random [RGB]: +4.6 [-17.3, +26.5] (paired over 3 pre-training seeds), claimed >: inconclusive",
      "adaptive − random [FSQ]: +10.0 [+10.0, +10.0] (paired over 3 pre-training seeds), claimed >: reproduced"]
  assert first["checks"][1]["left"] == {"row": "adaptive", "column": "FSQ", "mean": 30.0, "std": 1.0, "n": 3,
                                         "at_chance": False, "values": {"0": 30.0, "1": 31.0, "2": 29.0},
                                         "paired_over": "pre-training seeds"}
  assert first["checks"][1]["difference"] == pytest.approx(
      {"mean": 10.0, "low": 10.0, "high": 10.0, "n": 3, "paired": True})
  assert second["verdict"] == "reproduced" and len(second["checks"]) == 1
  assert second["checks"][0]["text"] == ("adaptive [FSQ] − adaptive [RGB]: +10.0 [+8.8, +11.2] (paired over 3 "
                                         "pre-training seeds), claimed >: reproduced")
  assert third["verdict"] == "not run"
  assert third["checks"][0]["text"] == "adaptive − flow [RGB]: flow not run, claimed >=: not run"
  json.dumps(third)  # JSON-ready
  one_seed = {("a", "x"): cell(50.0), ("b", "x"): cell(30.0, 31.0), ("c", "x"): cell(5.0, at_chance=True)}
  (result,) = verdicts.evaluate([Claim("a beats b and c", (Comparison("a", ">", "b"), Comparison("c", ">", "a")))],
                                one_seed, ["x"])
  assert [c["text"] for c in result["checks"]] == [
      "a − b [x]: +20.0, no interval (paired over 1 pre-training seed), claimed >: inconclusive",
      "c (at chance) − a [x]: -45.0, no interval (paired over 1 pre-training seed), claimed >: inconclusive"]
  unpaired = {("a", "x"): Stat(20.0, 1.0, 3), ("b", "x"): Stat(15.0, 1.0, 3)}
  (result,) = verdicts.evaluate([Claim("a beats b", (Comparison("a", ">", "b"),))], unpaired, ["x"])
  assert result["checks"][0]["text"] == ("a − b [x]: +5.0 [+2.7, +7.3] (unpaired, Welch: 3 and 3 runs), "
                                         "claimed >: reproduced")


def test_bounds_read_named_values_and_markdown_lists_every_check():
  claims = [Claim("flow is fooled", (Bound("flow", "<", "adaptive", quantity="recall"),
                                     Bound("flow", "<=", "random", offset=0.05)))]
  (result,) = verdicts.evaluate(claims, {}, [], {"flow": 0.12, "adaptive": 0.4, "random": 0.15})
  assert result["verdict"] == "reproduced"
  assert [c["text"] for c in result["checks"]] == ["recall: flow 0.12 < adaptive 0.4: reproduced",
                                                   "flow 0.12 <= random 0.15 + 0.05: reproduced"]
  md = verdicts.markdown([result])
  assert "- flow is fooled: **reproduced**\n  - recall: flow 0.12 < adaptive 0.4: reproduced\n" in md
  assert verdicts.markdown([]) == ""
  (missing,) = verdicts.evaluate(claims, {}, [], {"adaptive": 0.4})
  assert missing["verdict"] == "not run" and math.isnan(verdicts.Stat(NAN, 0, 0).mean)


def test_a_bound_against_a_constant_names_no_value():
  claims = [Claim("loss below 90% of trivial", (Bound("ratio", "<=", 0.9, quantity="loss / trivial"),))]
  (result,) = verdicts.evaluate(claims, {}, [], {"ratio": 0.95})
  assert result["verdict"] == "not reproduced"
  assert result["checks"][0]["text"] == "loss / trivial: ratio 0.95 <= 0.9: not reproduced"
  assert result["checks"][0]["right"] == {"name": None, "value": 0.9}
  assert verdicts.evaluate(claims, {}, [], {"ratio": 0.85})[0]["verdict"] == "reproduced"
  assert verdicts.evaluate(claims, {}, [], {})[0]["verdict"] == "not run"


def test_bad_declarations_are_refused():
  with pytest.raises(ValueError, match="operator"):
    Comparison("a", "<", "b")
  with pytest.raises(ValueError, match="operator"):
    Bound("a", "!=", "b")
  with pytest.raises(ValueError, match="no checks"):
    Claim("nothing", ())


def test_report_opens_with_a_line_per_claim(tmp_path):
  tables = tmp_path / "tables"
  checks = [{"text": "a − b [RGB]: +4.6 [-2.8, +12.0] (paired over 3 pre-training seeds), claimed >: inconclusive"},
            {"text": "a − b [FSQ]: +1.0 [+0.5, +1.5] (paired over 3 pre-training seeds), claimed >: reproduced"}]
  claims = [{"claim": "adaptive beats random", "verdict": "inconclusive", "checks": checks,
             "on_slc": "SLC's glyphs are easy to find."},
            {"claim": "tokens beat RGB", "verdict": "reproduced", "checks": checks[1:], "on_slc": ""}]
  floors = {"floor: random-init encoder": "16.5 ± 0.3", "floor: raw pixels": "12.0"}
  report.write_table(tables, "1", "strategies", "| body |\n", None,
                     {"profile": "smoke", "claims": claims, "floors": floors})
  report.write_table(tables, "5", "quantizers", "| body |\n", None, {"profile": "smoke"})
  text = report.write_report(tables, tmp_path / "REPORT.md").read_text()
  assert text.index("## Claims") < text.index("## Table 1:")
  assert ("| Table 1 | adaptive beats random | inconclusive | a − b [RGB]: +4.6 [-2.8, +12.0] (paired over 3 "
          "pre-training seeds), claimed >: inconclusive<br>a − b [FSQ]: +1.0 [+0.5, +1.5] (paired over 3 "
          "pre-training seeds), claimed >: reproduced | random-init encoder 16.5 ± 0.3<br>raw pixels 12.0 |\n"
          "| Table 1 | tokens beat RGB | reproduced | a − b [FSQ]: ") in text
  # the plain-words summary: a line per claim that has one, after the claims table
  assert ("- **Table 1**, adaptive beats random (**inconclusive**): SLC's glyphs are easy to find.\n\n## Table 1:"
          in text)
  assert "tokens beat RGB (**" not in text
  assert "Table 5 |" not in text  # no claim, no line
  empty = tmp_path / "empty"
  report.write_table(empty, "5", "quantizers", "| body |\n", None, {"profile": "smoke"})
  assert "## Claims" not in report.write_report(empty, tmp_path / "R2.md").read_text()


def test_a_cell_is_above_a_floor_by_welch_or_above_a_one_run_floor_by_its_own_interval():
  # Welch by hand: 20 +- 1 (n 3) vs 14 +- 1 (n 3): se = sqrt(2/3), df 4, t 2.776: low = 6 - 2.266 > 0.
  assert verdicts.above(cell(19.0, 20.0, 21.0), cell(13.0, 14.0, 15.0))
  assert not verdicts.above(cell(14.0, 16.0, 18.0), cell(13.0, 14.0, 15.0))  # +2, se 1.29, df 2: low < 0
  # One run (a deterministic floor): the cell's one-sample interval 20 -+ 4.303 x 1 / sqrt(3) = [17.5, 22.5].
  assert verdicts.above(cell(19.0, 20.0, 21.0), cell(17.4))
  assert not verdicts.above(cell(19.0, 20.0, 21.0), cell(17.6))
  assert not verdicts.above(cell(30.0), cell(10.0, 11.0))  # one run: no interval
  assert not verdicts.above(cell(30.0, 31.0), NOT_RUN)


def test_a_row_not_above_its_floors_reproduces_nothing():
  """Two rows at the floors' level differ (one sits below chance): the difference is real but says
  nothing of what pre-training learned, so '>' and '>=' read inconclusive, naming the floor; a row
  above the floors keeps its verdict, and a difference against it is not hidden."""
  stats = {("128", "x"): cell(13.8, 15.0, 14.0), ("multi", "x"): cell(11.6, 11.9, 11.8),
           ("trained", "x"): cell(20.0, 21.0, 22.0), ("floor: pixels", "x"): cell(14.2),
           ("floor: random", "x"): cell(12.8, 13.6, 14.6)}
  claims = [Claim("128 beats multi", (Comparison("128", ">", "multi"),)),
            Claim("128 no worse than multi", (Comparison("128", ">=", "multi"),)),
            Claim("trained beats 128", (Comparison("trained", ">", "128"),)),
            Claim("multi beats trained", (Comparison("multi", ">", "trained"),))]
  floors = ["floor: pixels", "floor: random"]
  assert [r["verdict"] for r in verdicts.evaluate(claims, stats, ["x"])] == [
      "reproduced", "reproduced", "reproduced", "not reproduced"]  # without floors
  beats, no_worse, trained, worse = verdicts.evaluate(claims, stats, ["x"], floors=floors)
  assert (beats["verdict"], no_worse["verdict"], trained["verdict"], worse["verdict"]) == (
      "inconclusive", "inconclusive", "reproduced", "not reproduced")
  assert beats["checks"][0]["not_above_floors"] == floors
  assert beats["checks"][0]["text"].endswith(
      f"claimed >: inconclusive (128 is not above floor: pixels and floor: random; {verdicts.NOT_ABOVE_FLOORS})")
  assert trained["checks"][0]["not_above_floors"] == []
  # A floor's own comparisons are not held to the floors.
  own = verdicts.evaluate([Claim("pixels beat multi", (Comparison("floor: pixels", ">", "multi"),))], stats, ["x"],
                          floors=floors)
  assert own[0]["checks"][0]["not_above_floors"] == []
