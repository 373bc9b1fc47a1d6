"""Verdicts on claims (lvmae.verdicts) on hand-made numbers, and the report's Claims summary."""
import json
import math

import pytest

from lvmae import report, verdicts
from lvmae.verdicts import Bound, Claim, Comparison, Stat

NAN = float("nan")


@pytest.mark.parametrize("left,op,right,expected", [
    (Stat(20.0, 1.0, 3), ">", Stat(15.0, 1.0, 3), "reproduced"),        # [19, 21] above [14, 16]
    (Stat(15.0, 1.0, 3), ">", Stat(20.0, 1.0, 3), "not reproduced"),    # below
    (Stat(20.0, 6.5, 3), ">", Stat(15.4, 4.7, 3), "inconclusive"),      # [13.5, 26.5] overlaps [10.7, 20.1]
    (Stat(20.0, 2.0, 3), ">", Stat(16.0, 2.0, 3), "inconclusive"),      # touching at 18 counts as overlap
    (Stat(20.0, 6.5, 3), ">=", Stat(15.4, 4.7, 3), "reproduced"),       # overlap: no worse within noise
    (Stat(20.0, 1.0, 3), ">=", Stat(15.0, 1.0, 3), "reproduced"),
    (Stat(15.0, 1.0, 3), ">=", Stat(20.0, 1.0, 3), "not reproduced"),
    (Stat(15.0, 0.0, 2), ">=", Stat(15.0, 0.0, 2), "reproduced"),       # equal points overlap
    (Stat(15.0, 0.0, 2), ">", Stat(15.0, 0.0, 2), "inconclusive"),
    (Stat(NAN, 0.0, 0), ">", Stat(15.0, 1.0, 3), "not run"),           # no finished run
    (Stat(20.0, 1.0, 3), ">=", Stat(NAN, 0.0, 0), "not run"),
    (Stat(NAN, 0.0, 2), ">", Stat(15.0, 1.0, 3), "not run"),           # runs without the metric
    (Stat(90.0, 0.0, 1), ">", Stat(10.0, 1.0, 3), "inconclusive"),      # one seed: no spread to judge
    (Stat(90.0, 1.0, 3), ">=", Stat(10.0, 0.0, 1), "inconclusive"),
    (Stat(NAN, 0.0, 0), ">", Stat(10.0, 0.0, 1), "not run"),           # not run wins over one seed
    # A left cell whose runs all predicted one class learned nothing: never reproduced.
    (Stat(12.8, 0.1, 3, True), ">=", Stat(12.8, 0.1, 3, True), "inconclusive"),
    (Stat(12.8, 0.1, 3, True), ">=", Stat(14.0, 3.0, 3), "inconclusive"),
    (Stat(30.0, 1.0, 3, True), ">", Stat(15.0, 1.0, 3), "inconclusive"),
    (Stat(12.8, 0.1, 3, True), ">=", Stat(25.0, 1.0, 3), "not reproduced"),
    (Stat(25.0, 1.0, 3), ">", Stat(12.8, 0.1, 3, True), "reproduced"),  # the right one at chance: fine
])
def test_comparison_rules(left, op, right, expected):
  assert verdicts.compare(left, op, right) == expected


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
  stats = {("adaptive", "RGB"): Stat(20.0, 6.5, 3), ("random", "RGB"): Stat(15.4, 4.7, 3),
           ("adaptive", "FSQ"): Stat(30.0, 1.0, 3), ("random", "FSQ"): Stat(20.0, 1.0, 3)}
  claims = [Claim("adaptive beats random", (Comparison("adaptive", ">", "random"),)),
            Claim("FSQ beats RGB", (Comparison(("adaptive", "FSQ"), ">", ("adaptive", "RGB")),)),
            Claim("beats a row never run", (Comparison("adaptive", ">=", "flow"),))]
  first, second, third = verdicts.evaluate(claims, stats, ["RGB", "FSQ"])
  assert first["verdict"] == "inconclusive"
  assert [c["text"] for c in first["checks"]] == [
      "adaptive 20.0 ± 6.5 vs random 15.4 ± 4.7 [RGB], claimed >: inconclusive",
      "adaptive 30.0 ± 1.0 vs random 20.0 ± 1.0 [FSQ], claimed >: reproduced"]
  assert first["checks"][1]["left"] == {"row": "adaptive", "column": "FSQ", "mean": 30.0, "std": 1.0, "n": 3,
                                         "at_chance": False}
  assert second["verdict"] == "reproduced" and len(second["checks"]) == 1  # [29, 31] above [13.5, 26.5]
  assert second["checks"][0]["text"] == (
      "adaptive [FSQ] 30.0 ± 1.0 vs adaptive [RGB] 20.0 ± 6.5, claimed >: reproduced")
  assert third["verdict"] == "not run"
  assert third["checks"][0]["text"].startswith("adaptive 20.0 ± 6.5 vs flow not run [RGB]")
  json.dumps(third)  # JSON-ready


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


def test_bad_declarations_are_refused():
  with pytest.raises(ValueError, match="operator"):
    Comparison("a", "<", "b")
  with pytest.raises(ValueError, match="operator"):
    Bound("a", "!=", "b")
  with pytest.raises(ValueError, match="no checks"):
    Claim("nothing", ())


def test_report_opens_with_a_line_per_claim(tmp_path):
  tables = tmp_path / "tables"
  claims = [{"claim": "adaptive beats random", "verdict": "inconclusive", "checks": []},
            {"claim": "tokens beat RGB", "verdict": "reproduced", "checks": []}]
  report.write_table(tables, "1", "strategies", "| body |\n", None, {"profile": "smoke", "claims": claims})
  report.write_table(tables, "5", "quantizers", "| body |\n", None, {"profile": "smoke"})
  text = report.write_report(tables, tmp_path / "REPORT.md").read_text()
  assert text.index("## Claims") < text.index("## Table 1:")
  assert "| Table 1 | adaptive beats random | inconclusive |\n| Table 1 | tokens beat RGB | reproduced |\n" in text
  assert "Table 5 |" not in text  # no claim, no line
  empty = tmp_path / "empty"
  report.write_table(empty, "5", "quantizers", "| body |\n", None, {"profile": "smoke"})
  assert "## Claims" not in report.write_report(empty, tmp_path / "R2.md").read_text()
