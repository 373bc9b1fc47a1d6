"""The SLC acceptance test (ablations/acceptance.py): its cells at smoke and cpu, its PASS/FAIL
logic on hand-written result.json files, and one end-to-end smoke reproduce."""
import dataclasses
import json

import pandas as pd
import pytest

import ablations
from ablations.acceptance import MAX_RATIO, ORACLE, RANDOM, STAGE
from ablations.spec import PIXELS_FLOOR as PIXELS, RANDOM_INIT_FLOOR as RANDOM_INIT
from ablations.spec import Claim, Comparison
import cli
from lvmae import runs
from lvmae.atomic import write_atomic

TABLE = ablations.get("acceptance")


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_every_cell_builds(profile):
  """2 pre-trained rows x 3 seeds, the random-init floor x 3 encoder seeds, the pixel floor once;
  the rows pair over pre-training seeds and probe with the one downstream seed."""
  cells = TABLE.cells(profile)
  stages = {(cell.row, cell.seed): runs.build(cell.config(profile)) for cell in cells}
  assert len(cells) == len(stages) == 10
  assert len({runs.run_id(cell.config(profile)) for cell in cells}) == 10
  for seed in (0, 1, 2):
    for row, strategy in ((ORACLE, "oracle"), (RANDOM, "random")):
      pretraining = stages[(row, seed)].features.pretrained
      assert (pretraining.masking.decoder_strategy, pretraining.masking.decoder_budget) == (strategy, 0.15)
      assert pretraining.targets.kind == "rgb" and pretraining.seed == seed and stages[(row, seed)].seed == 0
    untrained = stages[(RANDOM_INIT, seed)]
    assert untrained.features.pretrained is None and untrained.features.seed == seed and untrained.seed == 0
  pixels = stages[(PIXELS, None)]
  assert pixels.features.source == "pixels" and pixels.features.pretrained is None
  assert [c.floor for c in cells] == [False] * 6 + [True] * 4


def _finish(run_dir, result: dict) -> None:
  run_dir.mkdir(parents=True, exist_ok=True)
  write_atomic(run_dir / "result.json", json.dumps(result))


_PASSING = {ORACLE: (0.40, 0.45, 0.50), RANDOM: (0.30, 0.33, 0.38), RANDOM_INIT: (0.20, 0.21, 0.22)}


def _collected(tmp_path, top1=None, pixels: float = 0.30, ratio: float = 0.8, table=TABLE) -> dict:
  """Writes every cell's probe result (top-1 by row and seed; the pixel floor's `pixels`) and its
  pre-training's token losses (the oracle's event_seen loss at `ratio` x trivial, the random
  row's at 0.99), collects the table at smoke and returns its .json."""
  top1, runs_dir = {**_PASSING, **(top1 or {})}, tmp_path / "runs"
  cfgs = [(cell, cell.config("smoke")) for cell in table.cells("smoke")]
  for cell, cfg in cfgs:
    _finish(runs_dir / runs.run_id(cfg), {"top1": pixels if cell.row == PIXELS else top1[cell.row][cell.seed]})
    pretraining = runs.stage_at(cfg, STAGE)
    if pretraining is not None:
      seen = ratio if cell.row == ORACLE else 0.99
      _finish(runs_dir / runs.run_id(pretraining),
              {"token_losses": {"event_seen": {"loss": 0.5 * seen, "trivial": 0.5},
                                "event_hidden": {"loss": 1.0, "trivial": 1.0},
                                "background": {"loss": 0.9, "trivial": 1.0}}})
  table.collect("smoke", cfgs, runs_dir, tmp_path, tmp_path / "paper", [])
  return json.loads((tmp_path / "tables" / "acceptance.json").read_text())


def test_passes_when_all_three_checks_hold(tmp_path):
  meta = _collected(tmp_path)
  assert meta["pass_fail"] == "PASS" and [c["verdict"] for c in meta["claims"]] == ["reproduced"] * 3
  body = meta["body_md"]
  assert body.startswith("**SLC acceptance test: PASS**")
  assert "| oracle (15%) | 45.0 ± 5.0 | n/a |" in body
  assert "| *floor: random-init encoder* | 21.0 ± 1.0 | n/a |" in body
  assert "| *floor: raw pixels* | 30.0 | n/a |" in body
  assert "| oracle (15%) | 3 | 0.400 / 0.500 (0.80) | 1.000 / 1.000 (1.00) | 0.900 / 1.000 (0.90) |" in body
  losses = body.split("### Audit trail")[0]  # the token-loss table has no floor rows (the audit trail has)
  assert "| random (15%) | 3 | 0.495 / 0.500 (0.99) |" in losses and "| floor: raw pixels | " not in losses
  assert "oracle (15%) − random (15%) [probe top-1]: +11.3 [+8.5, +14.2] (paired over 3 pre-training seeds)" in body
  assert ("mean probe top-1 (%): oracle (15%) [probe top-1] mean 45 >= floor: raw pixels [probe top-1] mean 30 + 5: "
          "reproduced") in body
  assert f"loss / trivial: oracle (15%): event_seen loss / trivial 0.8 <= {MAX_RATIO:g}: reproduced" in body
  assert len(meta["token_losses"]) == 6 * 3  # a record per pre-training run and token type
  csv = pd.read_csv(tmp_path / "tables" / "acceptance.csv")
  assert list(csv.row) == [ORACLE, RANDOM, RANDOM_INIT, PIXELS] and list(csv.floor) == [False, False, True, True]
  assert list(csv["probe top-1 n"]) == [3, 3, 3, 1]


@pytest.mark.parametrize("failing, changes, also", [
    ("(a)", {"top1": {RANDOM: (0.42, 0.43, 0.52)}}, ()),   # oracle − random: -2, +2, -2 points: interval holds 0
    # 45 < 42 + 5; and the oracle (45 ± 5, its t interval down to 32.6) is not above that floor, so (a) is not shown
    ("(b)", {"pixels": 0.42}, ("(a)",)),
    ("(c)", {"ratio": 0.95}, ()),                           # event_seen loss at 95% of its trivial level
])
def test_fails_when_any_one_check_fails(tmp_path, failing, changes, also):
  meta = _collected(tmp_path, **changes)
  verdicts = {c["claim"][:3]: c["verdict"] for c in meta["claims"]}
  assert meta["pass_fail"] == "FAIL" and meta["body_md"].startswith("**SLC acceptance test: FAIL**")
  assert [label for label, verdict in verdicts.items() if verdict != "reproduced"] == sorted((failing, *also))
  assert verdicts[failing] == ("inconclusive" if failing == "(a)" else "not reproduced")
  assert all(verdicts[label] == "inconclusive" for label in also)


def test_comparisons_with_a_floor_are_unpaired(tmp_path):
  table = dataclasses.replace(TABLE, claims=(Claim("oracle beats an untrained encoder",
                                                   (Comparison(ORACLE, ">", RANDOM_INIT),)),))
  (claim,) = _collected(tmp_path, table=table)["claims"]
  assert not claim["checks"][0]["difference"]["paired"] and claim["verdict"] == "reproduced"
  assert "(unpaired, Welch: 3 and 3 runs)" in claim["checks"][0]["text"]


def test_acceptance_smoke_end_to_end(tmp_path, capsys):
  """Two of the three seeds and one floor (to keep `make test` short): 2 rows x 2 seeds x
  (pre-training, features, probe) and the pixel floor's one features and probe run, which
  `--seeds` does not leave out."""
  runs_dir, results = tmp_path / "runs", tmp_path / "results"
  args = ["reproduce", "acceptance", "--profile", "smoke", "--runs-dir", str(runs_dir), "--results-dir", str(results),
          "--seeds", "0", "1", "--rows", ORACLE, RANDOM, PIXELS]
  assert cli.main(args) == 0
  assert capsys.readouterr().out.count(" running") == 14
  meta = json.loads((results / "tables" / "acceptance.json").read_text())
  assert meta["pass_fail"] in ("PASS", "FAIL", "INCOMPLETE") and len(meta["claims"]) == 3
  assert (results / "figures" / "acceptance_token_losses.png").exists() == bool(meta["token_losses"])
  assert {c["seed"] for c in meta["cells"] if c["row"] == PIXELS} == {None}
  for cell in meta["cells"]:  # every number points at a finished probe run
    assert runs.read_result(runs_dir / cell["run"])["top1"] * 100 == pytest.approx(cell["value"])
  assert {r["row"] for r in meta["token_losses"]} <= {ORACLE, RANDOM}
  page = (results / "tables" / "acceptance.md").read_text()
  assert page.splitlines()[4].startswith(f"**SLC acceptance test: {meta['pass_fail']}**")
  assert "| *floor: raw pixels* | " in page and "| *floor: random-init encoder* | - |" in page
  assert f"| {ORACLE} | 2 | " in page and "Token-type losses of the pre-training (`features.pretrained`)" in page
  report = (results / "REPORT.md").read_text()
  assert "## Acceptance: SLC v2 acceptance test" in report and "| Acceptance | (a) the oracle" in report


def test_a_test_table_with_unfinished_checks_reads_incomplete_not_fail():
  from lvmae import verdicts
  claim = lambda verdict: {"claim": "c", "verdict": verdict}
  assert verdicts.passed([claim(verdicts.REPRODUCED)] * 3) == "PASS"
  assert verdicts.passed([claim(verdicts.REPRODUCED), claim(verdicts.NOT_RUN)]) == "INCOMPLETE"
  assert verdicts.passed([claim(verdicts.NOT_REPRODUCED), claim(verdicts.NOT_RUN)]) == "FAIL"
  assert verdicts.passed([claim(verdicts.INCONCLUSIVE), claim(verdicts.REPRODUCED)]) == "FAIL"
  assert verdicts.passed([]) == "FAIL"
