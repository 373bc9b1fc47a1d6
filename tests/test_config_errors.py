"""Bad input to the command line, as a new user types it: every case is one line `lvmae: error: ...`
naming the field (its full config path), exit status 2, no traceback, and nothing created under the
runs directory, because the whole config tree (every upstream stage) is checked before any stage
starts. The checks themselves live in lvmae.validation (types and ranges from the dataclasses'
annotations) and in each stage's `__post_init__` (rules across fields)."""
import subprocess
import sys

import pytest

from cli import main

# (experiment, --set assignments, the text the one error line must hold). Run at the smoke profile.
BAD_VALUES = [
    # not a number, an empty value, None, nan where a number is expected
    ("pretrain", ["masking.encoder_ratio=abc"], "masking.encoder_ratio='abc': expected a number"),
    ("pretrain", ["schedule.learning_rate=nan"], "schedule.learning_rate='nan': expected a number"),
    ("pretrain", ["schedule.learning_rate=inf"], "schedule.learning_rate='inf': expected a number"),
    ("pretrain", ["schedule.batch_size='4'"], "schedule.batch_size='4': expected an int"),
    ("pretrain", ["schedule.steps="], "schedule.steps='': expected an int"),
    ("pretrain", ["schedule.steps=None"], "schedule.steps=None: expected an int"),
    ("pretrain", ["encoder.width=abc"], "encoder.width='abc': expected an int"),
    ("finetune", ["token_drop=abc"], "token_drop='abc': expected a number"),
    ("finetune", ["label_smoothing=None"], "label_smoothing=None: expected a number"),
    ("probe", ["held_out=''"], "held_out='': expected a number"),
    ("tokenizer", ["adaptive.keep_ratio=half"], "adaptive.keep_ratio='half': expected a number"),
    ("pretrain", ["masking.decoder_strategy=3"], "masking.decoder_strategy=3: expected a string"),
    ("pretrain", ["data.preset=None"], "data.preset=None: expected a string"),
    # a float, a bool or an absurd number where an integer is expected
    ("pretrain", ["schedule.batch_size=4.5"], "schedule.batch_size=4.5: expected an int"),
    ("pretrain", ["encoder.depth=2.5"], "encoder.depth=2.5: expected an int"),
    ("pretrain", ["seed=1.5"], "seed=1.5: expected an int"),
    ("pretrain", ["sampling.num_frames=32.0"], "sampling.num_frames=32.0: expected an int (write 32)"),
    ("pretrain", ["schedule.steps=True"], "schedule.steps=True: expected an int"),
    ("pretrain", ["schedule.steps=1e29"], "schedule.steps=1e+29: expected an int"),
    ("pretrain", ["schedule.steps=100000000000000000000"], "schedule.steps=100000000000000000000: out of range"),
    ("pretrain", ["masking.uniform_step=2.0"], "masking.uniform_step=2.0: expected an int or None"),
    ("finetune", ["pretrained.seed=False"], "pretrained.seed=False: expected an int"),
    ("probe", ["features.batch_size=1e3"], "features.batch_size=1000.0: expected an int (write 1000)"),
    ("tokenizer", ["quantizer.levels=(8.0, 5, 5, 5)"], "quantizer.levels[0]=8.0: expected an int"),
    ("pretrain", ["encoder.scan_unroll=1"], "encoder.scan_unroll=1: expected a bool"),
    ("probe_attentive", ["features.keep_tokens='yes'"], "features.keep_tokens='yes': expected a bool"),
    # values with no valid meaning
    ("finetune", ["eval_batch_size=0"], "eval_batch_size=0: must be >= 1"),
    ("finetune", ["eval_batch_size=-4"], "eval_batch_size=-4: must be >= 1"),
    ("pretrain", ["data_threads=-1"], "data_threads=-1: must be >= 1"),
    ("pretrain", ["parallel.num_processes=0"], "parallel.num_processes=0: must be >= 1"),
    ("pretrain", ["parallel.fsdp=0"], "parallel.fsdp=0: must be >= 1"),
    ("pretrain", ["parallel.process_id=-1"], "parallel.process_id=-1: must be >= 0"),
    ("pretrain", ["parallel.process_id=3", "parallel.num_processes=2"], "parallel.process_id=3: must be below"),
    ("pretrain", ["seed=-1"], "seed=-1: must be >= 0"),
    ("pretrain", ["schedule.steps=0"], "schedule.steps=0: must be >= 1"),
    ("pretrain", ["schedule.learning_rate=0"], "schedule.learning_rate=0: must be > 0"),
    ("pretrain", ["schedule.warmup_steps=-1"], "schedule.warmup_steps=-1: must be >= 0"),
    ("pretrain", ["schedule.warmup_steps=100000"], "schedule.warmup_steps=100000: must be in [0, steps="),
    ("pretrain", ["schedule.b1=1.0"], "schedule.b1=1.0: must be in [0, 1)"),
    ("pretrain", ["schedule.weight_decay=-0.1"], "schedule.weight_decay=-0.1: must be >= 0"),
    ("pretrain", ["schedule.layer_decay=0"], "schedule.layer_decay=0: must be in (0, 1]"),
    ("pretrain", ["schedule.checkpoint_every=0"], "schedule.checkpoint_every=0: must be >= 1"),
    ("pretrain", ["masking.encoder_ratio=1.0"], "masking.encoder_ratio=1.0: must be in (0, 1)"),
    ("pretrain", ["masking.decoder_budget=0"], "masking.decoder_budget=0: must be in (0, 1]"),
    ("pretrain", ["masking.decoder_budget=1.5"], "masking.decoder_budget=1.5: must be in (0, 1]"),
    ("pretrain", ["masking.top_share=-0.5"], "masking.top_share=-0.5: must be in [0, 1]"),
    ("pretrain", ["masking.uniform_step=0"], "masking.uniform_step=0: must be >= 1"),
    ("pretrain", ["masking.decoder_strategy='bogus'"], "masking.decoder_strategy='bogus': unknown choice"),
    ("pretrain", ["targets.kind='pixels'"], "targets.kind='pixels': unknown choice"),
    ("pretrain", ["data.preset='huge'"], "data.preset='huge': unknown choice"),
    ("pretrain", ["data.size=48"], "data.size=48: unknown choice"),
    ("pretrain", ["data.version=3"], "data.version=3: unknown choice"),
    ("pretrain", ["data.num_train=0"], "data.num_train=0: must be >= 1"),
    ("pretrain", ["data.num_train=10000000"], "data.num_train=10000000: must be in [1, 20000]"),
    ("pretrain", ["sampling.stride=0"], "sampling.stride=0: must be >= 1"),
    ("pretrain", ["sampling.mode='random'"], "sampling.mode='random': unknown choice"),
    ("pretrain", ["encoder.width=0"], "encoder.width=0: must be >= 1"),
    ("pretrain", ["encoder.heads=5"], "encoder.heads=5: does not divide width="),
    ("pretrain", ["encoder.mlp_ratio=0"], "encoder.mlp_ratio=0: must be > 0"),
    ("pretrain", ["encoder.remat='some'"], "encoder.remat='some': unknown choice"),
    ("pretrain", ["decoder.dtype='float16'"], "decoder.dtype='float16': unknown choice"),
    # tuple shapes
    ("pretrain", ["tubelet=(2.5, 8, 8)"], "tubelet[0]=2.5: expected an int"),
    ("pretrain", ["tubelet=(2, 8)"], "tubelet=(2, 8): expected a tuple of 3 ints"),
    ("pretrain", ["tubelet=[2, 8, 8]"], "tubelet=[2, 8, 8]: expected a tuple of 3 ints"),
    ("pretrain", ["tubelet=(0, 8, 8)"], "tubelet[0]=0: must be >= 1"),
    ("pretrain", ["tubelet=8"], "tubelet=8: expected a tuple of 3 ints"),
    # fine-tuning and probe values, and values deep in an upstream stage
    ("finetune", ["pretrained.schedule.steps=0"], "pretrained.schedule.steps=0: must be >= 1"),
    ("finetune", ["token_drop=1.0"], "token_drop=1.0: must be in [0, 1)"),
    ("finetune", ["label_smoothing=-0.1"], "label_smoothing=-0.1: must be in [0, 1)"),
    ("finetune", ["mixup_alpha=-1"], "mixup_alpha=-1: must be >= 0"),
    ("finetune", ["mix_switch_prob=2"], "mix_switch_prob=2: must be in [0, 1]"),
    ("finetune", ["pooling_norm='before'"], "pooling_norm='before': unknown choice"),
    ("finetune", ["tubelet=(4, 8, 8)"], "tubelet=(4, 8, 8): differs from pretrained.tubelet"),
    ("probe", ["held_out=0"], "held_out=0: must be in (0, 1)"),
    ("probe", ["regularisation=()"], "regularisation=(): must be a non-empty tuple"),
    ("probe", ["regularisation=(0.001, -1.0)"], "regularisation[1]=-1.0: must be >= 0"),
    ("probe", ["regularisation=(0.1, 0.1)"], "regularisation=(0.1, 0.1): has repeated values"),
    ("probe", ["head='mlp'"], "head='mlp': unknown choice"),
    ("probe", ["steps=0"], "steps=0: must be >= 1"),
    ("probe", ["features.pretrained.masking.top_share=2"], "features.pretrained.masking.top_share=2: must be in"),
    ("probe", ["features.source='flow'"], "features.source='flow': unknown choice"),
    ("tokenizer", ["quantizer.levels=(1, 5)"], "quantizer.levels[0]=1: must be >= 2"),
    ("tokenizer", ["schedule.clip_norm=-1"], "schedule.clip_norm=-1: must be >= 0"),
    ("tokenizer", ["losses.gan_weight=-1"], "losses.gan_weight=-1: must be >= 0"),
    ("tokenizer", ["recall_budget=0"], "recall_budget=0: must be in (0, 1)"),
    ("tokenizer", ["autoencoder.latent_dim=0"], "autoencoder.latent_dim=0: must be >= 1"),
    ("tokenizer", ["autoencoder.channel_multipliers=(1, 2)"], "autoencoder.channel_multipliers=(1, 2): len("),
    ("tokenizer", ["fvd_file='/no/such/file.npz'"], "fvd_file='/no/such/file.npz': no such file"),
    ("tokens_fsq_magvit", ["window_stride=0"], "window_stride=0: must be >= 1"),
    ("flow_scores", ["method='raft'"], "method='raft': unknown choice"),
    # --set itself
    ("pretrain", ["bogus=1"], "--set bogus: unknown field 'bogus'"),
    ("pretrain", ["schedule=1"], "--set schedule: is a config section"),
    ("pretrain", ["schedulesteps"], "--set 'schedulesteps': expected FIELD=VALUE"),
    ("pretrain", ["data.augment.flip=1"], "--set data.augment.flip: data.augment is not a config section"),
    ("pretrain", ["tokens=@nonexistent"], "--set tokens=@nonexistent: unknown experiment 'nonexistent'"),
]

# Whole command lines (a placeholder RUNS is the test's runs directory) and the text of the error line.
BAD_COMMANDS = [
    (["run", "nonexistent", "--runs-dir", "RUNS"], "unknown experiment 'nonexistent'"),
    (["run", "pretrain", "--profile", "gpu", "--runs-dir", "RUNS"], "unknown profile 'gpu'"),
    (["run", "pretrain", "--stage", "tokens", "--runs-dir", "RUNS"], "--stage tokens: this experiment has no such"),
    (["run", "pretrain", "--stop-after", "0", "--runs-dir", "RUNS"], "run: argument --stop-after: must be >= 1"),
    (["run", "pretrain", "--stop-after", "x", "--runs-dir", "RUNS"], "run: argument --stop-after: expected an int"),
    (["run", "pretrain", "--data-root", "/data", "--runs-dir", "RUNS"], "--data-root: this experiment reads no real"),
    (["run", "--runs-dir", "RUNS"], "run: the following arguments are required: name"),
    (["reproduce", "99", "--runs-dir", "RUNS"], "unknown table '99'"),
    (["reproduce", "11", "99", "--runs-dir", "RUNS"], "unknown table '99'"),  # every id checked first
    (["reproduce", "4a", "1", "--rows", "x", "--runs-dir", "RUNS"], "--rows names one table's rows; 2 tables"),
    (["reproduce", "4a", "--rows", "bogus", "--runs-dir", "RUNS"], "--rows ['bogus']: table 4a has"),
    (["reproduce", "4a", "--seeds", "7", "--runs-dir", "RUNS"], "--seeds [7]: table 4a has [0, 1, 2]"),
    (["reproduce", "4a", "--seeds", "-1", "--runs-dir", "RUNS"], "reproduce: argument --seeds: must be >= 0"),
    (["show", "pretrain", "--set", "schedule.steps=-3"], "schedule.steps=-3: must be >= 1"),
    (["cost", "pretrain", "--analytic-only", "--set", "decoder.depth=0"], "decoder.depth=0: must be >= 1"),
    (["bogus"], "argument command: invalid choice: 'bogus'"),
]


def _one_error_line(capsys) -> str:
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1, err
  assert err[0].startswith("lvmae: error: ") and "Traceback" not in err[0]
  return err[0]


def test_the_corpus_is_large():
  assert len(BAD_VALUES) + len(BAD_COMMANDS) >= 60


@pytest.mark.parametrize("experiment,sets,expected", BAD_VALUES, ids=[";".join(c[1]) for c in BAD_VALUES])
def test_a_bad_value_is_one_line_naming_the_field(tmp_path, capsys, experiment, sets, expected):
  argv = ["run", experiment, "--runs-dir", str(tmp_path / "runs")]
  for assignment in sets:
    argv += ["--set", assignment]
  assert main(argv) == 2
  assert expected in _one_error_line(capsys)
  assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("argv,expected", BAD_COMMANDS, ids=[" ".join(c[0][:3]) for c in BAD_COMMANDS])
def test_a_bad_command_line_is_one_line(tmp_path, capsys, argv, expected):
  argv = [str(tmp_path / "runs") if a == "RUNS" else a for a in argv]
  try:
    status = main(argv)
  except SystemExit as e:  # argparse's own errors
    status = e.code
  assert status == 2
  assert expected in _one_error_line(capsys)
  assert not (tmp_path / "runs").exists()


def test_a_value_is_never_executed(tmp_path, capsys):
  marker = tmp_path / "executed"
  assert main(["show", "pretrain", "--set", f"seed=__import__('os').system('touch {marker}')"]) == 2
  assert "seed=\"__import__('os')" in _one_error_line(capsys)
  assert not marker.exists()


def test_the_process_exits_2_with_one_line_and_no_traceback(tmp_path):
  """The same through a real process: what a shell sees."""
  for args in (["--set", "encoder.depth=2.5"], ["--set", "schedule.learning_rate=nan"], ["--stop-after", "-1"]):
    proc = subprocess.run([sys.executable, "-m", "cli", "run", "pretrain", "--runs-dir", str(tmp_path / "runs"), *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.startswith("lvmae")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
  assert not (tmp_path / "runs").exists()
