"""Profiles: fiddlers that set the scale of every stage of an experiment.

  smoke  tiny counts, tiny ViT, a few steps: proves the pipeline in seconds.
  cpu    SLC medium at full split sizes, a small ViT, real schedules: runs on a 2-core CPU.
  paper  the paper's ViT-B settings on the real datasets, for accelerator clusters.
Where the paper does not give a value, the paper profile uses VideoMAE's and says so here.
"""
from __future__ import annotations

import fiddle as fdl

from experiments.base import autoencoder
from experiments.registry import register_profile, stages
from lvmae.data.pipeline import ExternalVideoData
from lvmae.models.specs import VIT_SIZES
from lvmae.tokenizer.quantizers import FSQ
from lvmae.train.finetune import Finetune
from lvmae.train.tokenizer import Tokenizer


def _set(config: fdl.Config, **values) -> None:
  for name, value in values.items():
    setattr(config, name, value)


def _is_finetune(stage: fdl.Config) -> bool:
  return fdl.get_callable(stage) is Finetune


def _is_tokenizer(stage: fdl.Config) -> bool:
  return fdl.get_callable(stage) is Tokenizer


def _steps(epochs: float, clips: int, batch_size: int) -> int:
  return max(1, round(epochs * clips / batch_size))


@register_profile
def smoke(cfg: fdl.Config) -> None:
  for stage in stages(cfg):
    if _is_tokenizer(stage):
      stage.autoencoder = autoencoder((2, 8, 8), base_channels=4, latent_dim=4)
      _set(stage.data, num_train=32)
      _set(stage.schedule, steps=6, batch_size=2, warmup_steps=1, checkpoint_every=3, log_every=2)
      _set(stage, num_eval=8, eval_batch_size=4)
      if stage.adaptive is not None:
        stage.adaptive.features = 8
      continue
    _set(stage.encoder, **VIT_SIZES["tiny"])
    _set(stage.schedule, steps=12, batch_size=4, warmup_steps=2, learning_rate=1e-3,
         checkpoint_every=6, log_every=2)
    if _is_finetune(stage):
      _set(stage.data, num_train=64, num_eval=64)
      stage.eval_batch_size = 16
    else:
      _set(stage.data, num_train=64)
      _set(stage.decoder, width=32, depth=1, heads=2)


# The cpu profile's shapes, chosen by measurement on SLC medium (2-core CPU):
# - 4x4 patches line up with SLC's 4x4 event cells, so one glyph is one token's whole footprint;
#   8x8 patches (a glyph covers a quarter of a token) and 8-frame tubelets (a glyph is in one of 8
#   frames) learn far more slowly. (4, 4, 4) at 32 frames is an 8x8x8 grid of 512 tokens;
#   (2, 4, 4) would be 1024 tokens at ~2 s per fine-tuning step.
# - From scratch, fine-tuning sits at chance (loss ln 8) for ~500 steps before it learns; a
#   learning rate of 1e-3 stays on that plateau for 1000+ steps, 3e-3 leaves it.
# - scan without remat: memory is not the limit on a CPU, recomputation is ~30% slower.
CPU_TUBELET = (4, 4, 4)


@register_profile
def cpu(cfg: fdl.Config) -> None:
  for stage in stages(cfg):
    if _is_tokenizer(stage):
      stage.autoencoder = autoencoder(CPU_TUBELET, base_channels=16, latent_dim=4)
      _set(stage.data, num_train=None)
      _set(stage.schedule, steps=1500, batch_size=16, warmup_steps=50, learning_rate=1e-3,
           checkpoint_every=250, log_every=25)
      _set(stage, num_eval=256, eval_batch_size=32)
      continue
    _set(stage.encoder, **VIT_SIZES["cpu"], remat="none")
    stage.tubelet = CPU_TUBELET
    if _is_finetune(stage):
      _set(stage.data, num_train=None, num_eval=None)
      _set(stage.schedule, steps=600, batch_size=16, warmup_steps=50,
           learning_rate=3e-3, checkpoint_every=100, log_every=10)
      stage.eval_batch_size = 50
    else:
      _set(stage.data, num_train=None)
      _set(stage.decoder, width=64, depth=2, heads=2, remat="none")
      _set(stage.schedule, steps=800, batch_size=32, warmup_steps=50,
           learning_rate=1e-3, checkpoint_every=200, log_every=25)


# The paper's data: EPIC-Kitchens-100 (67,217 training segments) unless a table says otherwise.
EK100_TRAIN_CLIPS = 67_217


@register_profile
def paper(cfg: fdl.Config) -> None:
  for stage in stages(cfg):
    if _is_tokenizer(stage):
      # Kinetics-600, 16-frame clips, FSQ with an 18-bit codebook (paper). Levels 8^6, widths,
      # GAN weight/start, steps and batch are not given: MAGVIT-v2-like choices.
      stage.data = fdl.Config(ExternalVideoData, name="kinetics_600", root="", image_size=224,
                              train_split="train", eval_split="validation")
      _set(stage.sampling, num_frames=16, stride=2)
      stage.autoencoder = autoencoder((2, 16, 16), base_channels=128, latent_dim=6, num_res_blocks=2)
      stage.autoencoder.dtype = "bfloat16"
      stage.quantizer = fdl.Config(FSQ, levels=(8, 8, 8, 8, 8, 8))
      _set(stage.losses, gan_weight=0.1, gan_start=20_000, discriminator_channels=64, discriminator_layers=4)
      _set(stage.schedule, steps=100_000, batch_size=256, warmup_steps=5_000, learning_rate=1e-4,
           checkpoint_every=1000, log_every=50)
      continue
    split = "train"
    stage.data = fdl.Config(ExternalVideoData, name="epic_kitchens_100", root="", image_size=224,
                            train_split=split, eval_split="validation")
    stage.tubelet = (2, 16, 16)           # 8x14x14 tokens per 16 frames at 224 px
    _set(stage.sampling, stride=2)        # not given in the paper: VideoMAE's stride for SSv2
    _set(stage.encoder, **VIT_SIZES["B"], dtype="bfloat16", remat="full")
    if _is_finetune(stage):
      # Fine-tuning recipe beyond the paper's text (epochs for EK100, batch, lr): VideoMAE's.
      batch = 256
      _set(stage.schedule, steps=_steps(50, EK100_TRAIN_CLIPS, batch), batch_size=batch,
           warmup_steps=_steps(5, EK100_TRAIN_CLIPS, batch), learning_rate=5e-4 * batch / 256,
           final_learning_rate=1e-6, weight_decay=0.05, b2=0.999, checkpoint_every=1000, log_every=50)
      _set(stage, label_smoothing=0.1, eval_batch_size=64)
    else:
      # 1600 epochs (paper); batch 512, lr 1.5e-4 x batch/256, 40 warm-up epochs: VideoMAE's.
      _set(stage.decoder, width=384, depth=4, heads=6, dtype="bfloat16", remat="full")
      batch = 512
      _set(stage.schedule, steps=_steps(1600, EK100_TRAIN_CLIPS, batch), batch_size=batch,
           warmup_steps=_steps(40, EK100_TRAIN_CLIPS, batch), learning_rate=1.5e-4 * batch / 256,
           weight_decay=0.05, b2=0.95, checkpoint_every=1000, log_every=50)
