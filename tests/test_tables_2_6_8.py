"""Tables 2, 6 and 8: frame lengths of pre-training vs fine-tuning, multi-clip, a row from the cost
analysis, per-profile overrides (the paper profile's dataset), a relative-memory column and a
claim checked on it."""
import json

import ablations
from ablations.spec import Bound, Claim, CostRow, GridTable, MemoryColumn
from lvmae import cost, runs


def test_rows_pretrain_and_finetune_at_their_own_lengths():
  table = ablations.get("2")
  cells = {cell.row: runs.build(cell.config("smoke")) for cell in table.cells("smoke") if cell.seed == 0}
  short = cells["32-frame pre-training, fine-tuned at 128"]
  assert (short.sampling.num_frames, short.pretrained.sampling.num_frames) == (128, 32)
  assert short.pretrained.tokens.sampling == short.pretrained.sampling and short.token_drop == 0.2
  assert cells["128-frame pre-training, fine-tuned at 128"].pretrained.sampling.num_frames == 128
  multi = cells["32 frames, 4 clips at evaluation"]
  assert (multi.sampling.num_frames, multi.sampling.stride, multi.sampling.eval_clips) == (32, 1, 4)
  assert multi.pretrained == short.pretrained  # one 32-frame model for both 32-frame rows
  (cfg, profile, budget), = table.cost_configs().values()
  stage = runs.build(cfg)
  assert profile == "paper" and budget == 16.0
  assert stage.masking.decoder_strategy == "none" and stage.grid == (64, 14, 14)


def test_cost_rows_report_memory_against_the_budget(tmp_path, monkeypatch):
  monkeypatch.setattr(cost, "compiled_memory", lambda stage: {"total_bytes": 17.5 * 2**30})
  table = GridTable(id="2", title="t", experiment="finetune", rows={}, columns={"top-1": ()},
                    cost_rows={"big": CostRow("pretrain", "smoke", (), 16.0),
                               "small": CostRow("pretrain", "smoke", (), 32.0)})
  table.collect("smoke", [], tmp_path / "runs", tmp_path, tmp_path / "paper", [])
  meta = json.loads((tmp_path / "tables" / "table2.json").read_text())
  assert "big: not run" in meta["body_md"] and "17.5 GiB, over the 16 GiB budget" in meta["body_md"]
  assert "within the 32 GiB budget" in meta["body_md"]
  assert meta["cost_rows"]["big"]["memory_gib"] == 17.5


def test_table6_reads_ssv2_at_the_paper_profile_only():
  cell = ablations.get("6").cells("paper")[0]
  paper = runs.build(cell.config("paper"))
  assert {paper.data.name, paper.pretrained.data.name, paper.pretrained.tokens.data.name} == {"ssv2"}
  assert paper.data.num_classes == 174 and "data.name='ssv2'" in cell.command("paper")
  assert type(runs.build(cell.config("smoke")).data).__name__ == "SLCData"
  assert "ssv2" not in cell.command("smoke")


def test_memory_column_is_relative_to_the_reference_row(tmp_path, monkeypatch):
  monkeypatch.setattr(cost, "compiled_memory",
                      lambda stage: {"total_bytes": stage.masking.decoder_budget * 2**30})
  table = GridTable(id="8", title="t", experiment="finetune", rows={"15%": (), "50%": ()}, columns={"top-1": ()},
                    memory_column=MemoryColumn("pretrain", "smoke", (), reference="15%",
                                               per_row={"15%": ("masking.decoder_budget=0.15",),
                                                        "50%": ("masking.decoder_budget=0.5",)}))
  table.collect("smoke", [], tmp_path / "runs", tmp_path, tmp_path / "paper", [])
  body = json.loads((tmp_path / "tables" / "table8.json").read_text())["body_md"]
  assert "| 15% | - | n/a | 1.00x (0.1 GiB) |" in body and "| 50% | - | n/a | 3.33x (0.5 GiB) |" in body


def test_registered_table8_sweeps_budgets_at_128_frames():
  table = ablations.get("8")
  stages = {cell.row: runs.build(cell.config("smoke")) for cell in table.cells("smoke") if cell.seed == 0}
  assert list(stages) == ["5%", "10%", "15%", "25%", "50%"]
  assert all(s.sampling.num_frames == 128 and s.pretrained.masking.decoder_strategy == "adaptive" for s in stages.values())
  assert stages["50%"].pretrained.masking.decoder_budget == 0.5


def test_memory_claim_is_a_deterministic_check_on_the_memory_column(tmp_path, monkeypatch):
  monkeypatch.setattr(cost, "compiled_memory",
                      lambda stage: {"total_bytes": stage.masking.decoder_budget * 2**30})
  claims = (Claim("50% > 3x 15%", (Bound("50%", ">", "15%", factor=3.0),)),
            Claim("50% > 4x 15%", (Bound("50%", ">", "15%", factor=4.0, quantity="memory (GiB)"),)))
  table = GridTable(id="8", title="t", experiment="finetune", rows={"15%": (), "50%": ()}, columns={"top-1": ()},
                    memory_column=MemoryColumn("pretrain", "smoke", (), reference="15%",
                                               per_row={"15%": ("masking.decoder_budget=0.15",),
                                                        "50%": ("masking.decoder_budget=0.5",)}),
                    claims=claims)
  table.collect("smoke", [], tmp_path / "runs", tmp_path, tmp_path / "paper", [])
  meta = json.loads((tmp_path / "tables" / "table8.json").read_text())
  assert [c["verdict"] for c in meta["claims"]] == ["reproduced", "not reproduced"]  # 0.5 GiB vs 0.45, 0.6
  assert "- 50% > 4x 15%: **not reproduced**" in meta["body_md"]
  assert "memory (GiB): 50% 0.5 > 4 x 15% 0.15: not reproduced" in meta["body_md"]
