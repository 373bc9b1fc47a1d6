"""Probed tables (ablations.kinds.probed.Probed): at the cpu profile a fine-tuning table's cells are linear
probes of the very pre-trainings the paper's fine-tuning would start from, with both floors as rows."""
import dataclasses

import pytest

import ablations
from ablations.spec import PIXELS_FLOOR, RANDOM_INIT_FLOOR, GridTable, Probed, as_probe
from lvmae import runs

PROBED = ("1", "2", "4a", "4b", "4c", "4d", "8")


def test_as_probe_moves_each_override_to_the_probes_stage_and_refuses_what_has_no_place():
  assert as_probe(("pretrained.masking.decoder_budget=0.15", "sampling.num_frames=128", "data.preset='long'",
                   "encoder.depth=2", "tubelet=(2, 8, 8)", "seed=3", "token_drop=0.2")) == (
      "features.pretrained.masking.decoder_budget=0.15", "features.sampling.num_frames=128",
      "features.data.preset='long'", "features.encoder.depth=2", "features.tubelet=(2, 8, 8)", "seed=3")
  with pytest.raises(ValueError, match="schedule.steps=5"):
    as_probe(("schedule.steps=5",))


@pytest.mark.parametrize("table_id", PROBED)
def test_a_probed_cell_probes_the_pretraining_its_fine_tuning_would_start_from(table_id):
  table = ablations.get(table_id)
  assert table.at("paper") is table and table.at("smoke") is table  # fine-tuning there
  probed = table.at("cpu")
  assert probed.experiment == "probe" and list(probed.floors) == [RANDOM_INIT_FLOOR, PIXELS_FLOOR]
  finetunes = {(c.row, c.column, c.seed): c for c in table.cells("smoke") if not c.floor}
  probes = [c for c in table.cells("cpu") if not c.floor]
  finetunes_cpu = {(c.row, c.column, c.seed): c for c in _finetune_cells(table, "cpu")}
  assert len(probes) == len(finetunes) and {(c.row, c.column, c.seed) for c in probes} == set(finetunes)
  for cell in probes:
    if cell.seed != 0:
      continue
    probe_cfg, finetune_cfg = cell.config("cpu"), finetunes_cpu[(cell.row, cell.column, cell.seed)].config("cpu")
    assert runs.run_id(probe_cfg.features.pretrained) == runs.run_id(finetune_cfg.pretrained)
    probe, finetune = runs.build(probe_cfg), runs.build(finetune_cfg)
    assert probe.features.sampling == finetune.sampling and probe.features.data == finetune.data
    assert probe.features.encoder == finetune.encoder


def _finetune_cells(table: GridTable, profile: str):
  """The table's fine-tuning cells at `profile`, as if it were not probed there."""
  return dataclasses.replace(table, probed=None).cells(profile)


def test_floors_see_the_clips_of_the_tables_longest_view():
  for table_id, frames, preset in (("1", 32, "medium"), ("2", 128, "long"), ("4c", 128, "long"), ("8", 128, "long")):
    floors = [c for c in ablations.get(table_id).cells("cpu") if c.floor]
    assert {c.row for c in floors} == {RANDOM_INIT_FLOOR, PIXELS_FLOOR}
    for cell in floors:
      stage = runs.build(cell.config("cpu"))
      assert stage.features.pretrained is None
      assert (stage.features.sampling.num_frames, stage.features.data.preset) == (frames, preset)
    pixels = [c for c in floors if c.row == PIXELS_FLOOR]  # deterministic: one run, in every column
    assert {c.seed for c in pixels} == {None} and len({runs.run_id(c.config("cpu")) for c in pixels}) == 1


def _ids(table_id):
  return {(c.row, c.column, c.seed): runs.run_id(c.config("cpu")) for c in ablations.get(table_id).cells("cpu")}


def test_probed_tables_at_one_recipe_share_their_floors_and_runs():
  table1, table4a, acceptance = _ids("1"), _ids("4a"), _ids("acceptance")
  for seed in (0, 1, 2):  # Tables 1 and 4a run the cpu budget recipe: one probe set, so one set of floors
    assert table1[(RANDOM_INIT_FLOOR, "RGB", seed)] == table4a[(RANDOM_INIT_FLOOR, "top-1", seed)]
  assert table1[(PIXELS_FLOOR, "RGB", None)] == table4a[(PIXELS_FLOOR, "top-1", None)]
  # The acceptance test runs the profile's own recipe, so its floors are not the budget recipe's.
  assert acceptance[(PIXELS_FLOOR, "probe top-1", None)] != table4a[(PIXELS_FLOOR, "top-1", None)]
  table4c, table8 = _ids("4c"), _ids("8")
  assert table4c[("128 frames", "top-1", 0)] == table8[("15%", "top-1", 0)]  # the full method at 128 frames
  assert table4c[(PIXELS_FLOOR, "top-1", None)] == table8[(PIXELS_FLOOR, "top-1", None)]


def test_the_long_range_tables_share_one_cpu_recipe_so_their_common_cells_are_the_same_runs():
  table2, table4c, table4d = _ids("2"), _ids("4c"), _ids("4d")
  long_row = "128-frame pre-training, fine-tuned at 128"
  for seed in (0, 1, 2):
    assert table2[(long_row, "top-1", seed)] == table4c[("128 frames", "top-1", seed)]
    assert table4d[("adaptive (15%)", "top-1", seed)] == table4c[("128 frames", "top-1", seed)]
    assert table2[(RANDOM_INIT_FLOOR, "top-1", seed)] == table4c[(RANDOM_INIT_FLOOR, "top-1", seed)]
  # Table 2's 32-frame row is probed at 128 frames, Table 4c's at 32: one pre-training, two probes.
  short = {table_id: runs.build(next(c for c in ablations.get(table_id).cells("cpu") if c.row == row and c.seed == 0)
                                .config("cpu")).features.pretrained
           for table_id, row in (("2", "32-frame pre-training, fine-tuned at 128"), ("4c", "32 frames"))}
  assert short["2"] == short["4c"] and short["2"].data.preset == "long" and short["2"].data.num_train == 4000
  # the profile's own schedule: Table 1's 500 steps at 3e-3 left the long-range acceptance test failing
  schedule = short["2"].schedule
  assert (schedule.steps, schedule.warmup_steps, schedule.learning_rate, schedule.batch_size) == (1600, 100, 1e-3, 8)
  for table_id in ("2", "4c", "4d", "8"):
    floor = next(c for c in ablations.get(table_id).cells("cpu") if c.row == PIXELS_FLOOR)
    features = runs.build(floor.config("cpu")).features
    assert (features.data.num_train, features.data.num_eval) == (500, 500)  # half Table 1's probe clips
    note = ablations.get(table_id).at("cpu").note
    assert "1600 steps" in note and "(`acceptance-long`) checks this table's probe on its clips" in note
    for profile in ("smoke", "paper"):  # the recipe is the cpu profile's: its note is said there only
      assert "Shrunk" not in ablations.get(table_id).at(profile).note


def test_table2_at_cpu_shows_whether_each_pre_training_learned_the_events():
  table = ablations.get("2")
  assert table.token_losses is None and table.at("smoke").token_losses is None  # fine-tuning: no such table
  probed = table.at("cpu")
  for cell in probed.cells("cpu"):
    stage = runs.stage_at(cell.config("cpu"), probed.token_losses)
    if cell.floor:
      assert stage is None  # a floor does not pre-train
    else:  # the very pre-training the row's probe reads
      assert runs.run_id(stage) == runs.run_id(cell.config("cpu").features.pretrained)
      assert stage.sampling.num_frames == (128 if cell.row.startswith("128") else 32)


def test_table1s_cpu_budget_recipe_shrinks_pre_training_and_probe_and_keeps_every_cache_on_the_same_clips():
  cells = {(c.row, c.column): c for c in ablations.get("1").cells("cpu") if c.seed in (0, None)}
  flow = runs.build(cells[("flow (15%)", "FSQ-MagViT")].config("cpu"))
  pretrain = flow.features.pretrained
  assert (pretrain.schedule.steps, pretrain.schedule.warmup_steps, pretrain.data.num_train) == (500, 50, 4000)
  assert pretrain.schedule.learning_rate == 3e-3  # the profile's 1e-3 left the instrument inconclusive
  assert pretrain.tokens.data.num_train == pretrain.importance.data.num_train == 4000  # the caches read those clips
  assert pretrain.tokens.tokenizer.data.num_train is None  # the tokenizer keeps its own data
  for cell in (("flow (15%)", "FSQ-MagViT"), (RANDOM_INIT_FLOOR, "RGB"), (PIXELS_FLOOR, "RGB")):
    features = runs.build(cells[cell].config("cpu")).features
    assert (features.data.num_train, features.data.num_eval) == (1000, 1000)  # rows and floors probe alike
  note = ablations.get("1").at("cpu").note
  assert "500 pre-training steps" in note and "instrument" in note


def test_table4b_runs_table1s_cpu_recipe_so_their_common_cells_are_the_same_runs():
  table1, table4b = _ids("1"), _ids("4b")
  for seed in (0, 1, 2):
    assert table4b[("RGB pixels", "random decoder mask", seed)] == table1[("random (15%)", "RGB", seed)]
    assert table4b[("FSQ-MagViT", "adaptive decoder mask", seed)] == table1[("adaptive (15%)", "FSQ-MagViT", seed)]
  assert len(set(table4b.values()) - set(table1.values())) == 12  # MAGVIT and adaptive FSQ-MagViT targets
  assert "instrument' of Table 1" in ablations.get("4b").at("cpu").note


def test_the_multi_clip_row_averages_four_views_and_the_collected_table_says_what_changed():
  cell = next(c for c in ablations.get("2").cells("cpu") if c.row.startswith("32 frames, 4 clips") and c.seed == 0)
  stage = runs.build(cell.config("cpu"))
  assert (stage.features.sampling.eval_clips, stage.features.sampling.num_frames) == (4, 32)
  note = ablations.get("4c").at("cpu").note
  assert "linear probe" in note and "`token_drop=0.2`" in note
  with pytest.raises(ValueError, match="only a fine-tuning table"):
    GridTable(id="x", title="t", experiment="probe", rows={}, columns={"c": ()}, probed=Probed()).at("cpu")


def test_the_long_range_acceptance_test_checks_the_long_range_tables_probe_on_their_clips_and_floors():
  acceptance_long, acceptance, table2 = ablations.get("acceptance-long"), ablations.get("acceptance"), _ids("2")
  assert acceptance_long.claims == acceptance.claims and acceptance_long.pass_fail
  ids = _ids("acceptance-long")
  for seed in (0, 1, 2):  # the floors are the long-range tables' own runs
    assert ids[(RANDOM_INIT_FLOOR, "probe top-1", seed)] == table2[(RANDOM_INIT_FLOOR, "top-1", seed)]
  assert ids[(PIXELS_FLOOR, "probe top-1", None)] == table2[(PIXELS_FLOOR, "top-1", None)]
  long_row = next(c for c in ablations.get("2").cells("cpu") if c.row.startswith("128-frame") and c.seed == 0)
  long_features = runs.build(long_row.config("cpu")).features
  long_pretrain = long_features.pretrained
  for cell in acceptance_long.cells("cpu"):
    if cell.floor or cell.seed != 0:
      continue
    probe = runs.build(cell.config("cpu"))
    pretrain = probe.features.pretrained
    assert pretrain.masking.decoder_strategy == {"oracle (15%)": "oracle", "random (15%)": "random"}[cell.row]
    assert pretrain.targets.kind == "rgb" and pretrain.masking.decoder_budget == 0.15
    # Table 2's 128-frame pre-training and probe: only the decoder mask and the targets differ
    assert (pretrain.schedule, pretrain.data, pretrain.sampling) == (
        long_pretrain.schedule, long_pretrain.data, long_pretrain.sampling)
    assert pretrain.sampling.num_frames == probe.features.sampling.num_frames == 128
    assert (probe.features.sampling, probe.features.data) == (long_features.sampling, long_features.data)
  note = acceptance_long.at("cpu").note
  assert "Tables 2, 4c, 4d and 8" in note and "1600 steps" in note and "pre-train at 128 frames" in note
