"""Every registered experiment builds at every profile; paper-profile steps lower from shapes alone."""
import jax
import pytest

import cli
import experiments
from experiments import overrides
from lvmae import runs
from lvmae.validation import ConfigError

experiments.registry._load()
CASES = [(name, profile) for name in experiments.EXPERIMENTS for profile in experiments.PROFILES]


@pytest.mark.parametrize("name,profile", CASES)
def test_every_experiment_builds(name, profile):
  cfg = experiments.get(name, profile)
  stage = runs.build(cfg)
  assert runs.run_id(cfg).startswith(type(stage).__name__.lower() + "-")
  if hasattr(stage, "features"):  # a probe: its features stage holds the data, encoder and tubelet
    stage = stage.features
  if profile == "paper" and (hasattr(stage, "window") or hasattr(stage, "method")):  # caches of the MAE's EK100 clips
    assert stage.data.image_size == 224 and stage.grid == (16, 14, 14)
  elif profile == "paper" and hasattr(stage, "autoencoder"):  # the tokenizer: 8x14x14 latents per 16 frames
    assert stage.data.image_size == 224 and stage.grid == (8, 14, 14) and stage.quantizer.codebook_size == 2**18
  elif profile == "paper":
    assert stage.encoder.width == 768 and stage.encoder.depth == 12 and stage.encoder.heads == 12
    assert stage.data.image_size == 224 and tuple(stage.tubelet) == (2, 16, 16)


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_paper_profile_train_steps_lower_without_allocating(name):
  cfg = experiments.get(name, "paper")
  for _, stage_cfg in runs.stage_chain(cfg):
    stage = runs.build(stage_cfg)
    if not hasattr(stage, "lower_train_step"):  # precompute: no training step
      continue
    before = len(jax.live_arrays())
    lowered = stage.lower_train_step()
    assert len(jax.live_arrays()) - before < 8  # only the PRNG key's handful of scalars
    hlo = lowered.as_text()
    b, t = stage.schedule.batch_size, stage.sampling.num_frames
    assert f"tensor<{b}x{t}x224x224x3xui8>" in hlo


def test_run_id_depends_on_upstream_and_seed():
  base = experiments.get("finetune", "smoke")
  same = experiments.get("finetune", "smoke")
  other_upstream = experiments.get("finetune", "smoke", ["pretrained.masking.decoder_strategy='none'"])
  other_seed = experiments.get("finetune", "smoke", ["seed=1"])
  assert runs.run_id(base) == runs.run_id(same)
  assert runs.run_id(other_upstream) != runs.run_id(base)
  assert runs.run_id(other_upstream.pretrained) != runs.run_id(base.pretrained)
  assert runs.run_id(other_seed) != runs.run_id(base)
  assert runs.run_id(other_seed.pretrained) == runs.run_id(base.pretrained)


@pytest.mark.parametrize("assignment,field", [
    ("pretrained.masking.encoder_ratio=1.5", "pretrained.masking.encoder_ratio"),
    ("pretrained.masking.encoder_ratio=0", "pretrained.masking.encoder_ratio"),
    ("sampling.num_frames=33", "sampling.num_frames"),
    ("pretrained.masking.decoder_strategy='bogus'", "pretrained.masking.decoder_strategy"),
    ("pretrained.decoder.heads=3", "pretrained.decoder.heads"),
    ("schedule.warmup_steps=10_000", "schedule.warmup_steps"),
    ("schedule.layer_decay=0", "schedule.layer_decay"),
    ("pooling_norm='before_pool'", "pooling_norm"),
])
def test_bad_values_name_their_field(assignment, field):
  cfg = experiments.get("finetune", "smoke", [assignment])
  with pytest.raises(ConfigError) as err:
    runs.build(cfg)
  assert str(err.value).startswith(field + "=")


def test_unknown_set_field_is_named():
  with pytest.raises(ValueError, match="unknown field 'bogus'"):
    experiments.get("finetune", "smoke", ["pretrained.masking.bogus=1"])
  with pytest.raises(ValueError, match="not a config section"):
    experiments.get("finetune", "smoke", ["nothing.here=1"])
  with pytest.raises(ValueError, match="FIELD=VALUE"):
    experiments.get("finetune", "smoke", ["seed"])


def test_override_values_are_python_literals():
  assert overrides.parse_value("(2, 8, 8)") == (2, 8, 8)
  assert overrides.parse_value("0.25") == 0.25
  assert overrides.parse_value("None") is None
  assert overrides.parse_value("random") == "random"  # bare words are strings
  cfg = experiments.get("finetune", "smoke", ["pretrained.masking.decoder_budget=0.25", "tubelet=(2, 4, 4)"])
  assert cfg.pretrained.masking.decoder_budget == 0.25 and cfg.tubelet == (2, 4, 4)


def test_cli_errors_are_one_line(capsys):
  assert cli.main(["show", "finetune", "--set", "pretrained.masking.encoder_ratio=2"]) == 2
  err = capsys.readouterr().err.strip()
  assert err.count("\n") == 0 and "pretrained.masking.encoder_ratio=2" in err


def test_cli_show_prints_every_field(capsys):
  assert cli.main(["show", "finetune", "--profile", "cpu"]) == 0
  out = capsys.readouterr().out
  assert "pretrained.masking.decoder_budget = 0.15" in out and "encoder.width = 64" in out


def test_print_commands_lists_each_run_once(capsys):
  assert cli.main(["reproduce", "1", "--profile", "cpu", "--print-commands"]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  ids = [line.split("# ")[-1] for line in lines]
  # Table 1 is probed at cpu: 8 rows x 2 columns x 3 seeds x (pretrain + features + probe), two
  # tokenizers and their caches, the flow scores; the floors: 3 random-init encoders' features and
  # probes, one raw-pixel features and probe.
  assert len(ids) == len(set(ids)) == 144 + 4 + 1 + 6 + 2
  assert all(line.startswith("lvmae run probe") for line in lines)
  assert sum(line.split("--stage ")[-1].startswith("features.pretrained ") for line in lines) == 48
  stages = [line.split("--stage ")[-1].split()[0] for line in lines if "--stage features.pretrained." in line]
  assert sorted(set(stages)) == ["features.pretrained.importance", "features.pretrained.importance.tokenizer",
                                 "features.pretrained.tokens", "features.pretrained.tokens.tokenizer"]
  assert sum(line.split("# ")[-1].startswith("flowscores-") for line in lines) == 1
  assert sum(line.startswith("lvmae run probe_pixels") for line in lines) == 2
  first_use = min(i for i, line in enumerate(lines) if "decoder_strategy='adaptive'" in line)
  assert "--stage features.pretrained.importance.tokenizer" in lines[first_use]  # upstream stages come first


@pytest.mark.parametrize("profile", ["cpu", "paper"])
def test_finetuning_profiles_use_videomae_recipe(profile):
  """fc_norm pooling and layer-wise lr decay when fine-tuning a pre-trained encoder, none from scratch."""
  finetune, supervised = (runs.build(experiments.get(name, profile)) for name in ("finetune", "supervised"))
  assert finetune.pooling_norm == supervised.pooling_norm == "after_pool"
  assert finetune.schedule.layer_decay == 0.75 and supervised.schedule.layer_decay == 1.0
  assert finetune.schedule.clip_norm == (1.0 if profile == "cpu" else 0.0)
