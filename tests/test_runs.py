"""runs.seconds_left and compute_by_stage (a grid's time left and spent, from its runs' provenance),
and the code a run names."""
import json

from lvmae import runs


def _run(root, name, wall_seconds=None):
  run_dir = root / name
  run_dir.mkdir()
  if wall_seconds is not None:
    (run_dir / "result.json").write_text("{}")
    (run_dir / "provenance.json").write_text(json.dumps({"wall_seconds": wall_seconds}))
  return run_dir


def test_each_unfinished_run_counts_the_mean_of_its_stages_finished_runs(tmp_path):
  dirs = [_run(tmp_path, "pretrain-a", 60.0), _run(tmp_path, "pretrain-b", 120.0),
          _run(tmp_path, "finetune-a", 600.0), _run(tmp_path, "pretrain-c"),
          _run(tmp_path, "finetune-b"), _run(tmp_path, "finetune-c")]
  assert runs.seconds_left(dirs) == 90.0 + 2 * 600.0


def test_unknown_while_a_stage_has_no_finished_run(tmp_path):
  dirs = [_run(tmp_path, "pretrain-a", 60.0), _run(tmp_path, "finetune-a")]
  assert runs.seconds_left(dirs) is None
  assert runs.seconds_left(dirs[:1]) == 0.0


def test_compute_is_split_by_stage_and_sums_to_the_total(tmp_path):
  for name, wall in (("tokenizer-a", 1500.0), ("precompute-a", 3300.0), ("pretrain-a", 60.0), ("pretrain-b", 90.0)):
    _run(tmp_path, name, wall)
  ids = ["tokenizer-a", "pretrain-a", "precompute-a", "pretrain-b"]
  assert runs.compute_by_stage(tmp_path, ids) == {"tokenizer": 1500.0, "pretrain": 150.0, "precompute": 3300.0}
  assert list(runs.compute_by_stage(tmp_path, ids)) == ["tokenizer", "pretrain", "precompute"]
  assert sum(runs.compute_by_stage(tmp_path, ids).values()) == runs.compute_seconds(tmp_path, ids) == 4950.0


def test_provenance_names_the_code_the_process_started_with_not_a_later_commit(monkeypatch):
  head = {"rev-parse": "a" * 40, "status": ""}
  monkeypatch.setattr(runs, "git", lambda *args: head[args[0]])
  runs.code_state.cache_clear()
  try:
    runs.code_state()  # what `execute` reads before its first run
    head.update({"rev-parse": "b" * 40, "status": " M lvmae/runs.py"})  # committed and edited mid-grid
    record = runs.provenance(1.0, resumed=False)
    assert (record["git_sha"], record["git_dirty"]) == ("a" * 40, False)
  finally:
    runs.code_state.cache_clear()
