"""Profiles: fiddlers that set the scale of every stage of an experiment.

  smoke  tiny counts, tiny ViT, a few steps: proves the pipeline in seconds.
  cpu    SLC medium at full split sizes, a small ViT, real schedules: runs on a 2-core CPU.
  paper  the paper's ViT-B settings on the real datasets, for accelerator clusters.
Where the paper does not give a value, the paper profile uses VideoMAE's (MAE stages) or a
MAGVIT-v2-like choice (tokenizer) and says so here. Each profile sets each kind of stage: the
tokenizer, the precompute stage (which must read exactly the pre-training stage's clips, so both
get their data and sampling from one function), pre-training and fine-tuning, and the probe's
two stages (its features stage sets the encoder exactly as pre-training does).
"""
from __future__ import annotations

import fiddle as fdl

from experiments.base import autoencoder
from experiments.registry import register_profile
from lvmae.data.augment import Augmentation
from lvmae.data.videos import VideoData
from lvmae.models.specs import VIT_SIZES
from lvmae.runs import stage_chain
from lvmae.tokenizer.quantizers import FSQ, LFQ
from lvmae.train.finetune import Finetune
from lvmae.train.flow_scores import FlowScores
from lvmae.train.precompute import Precompute
from lvmae.train.pretrain import Pretrain
from lvmae.train.probe import Probe
from lvmae.train.probe_features import ProbeFeatures
from lvmae.train.tokenizer import Tokenizer


def _set(config: fdl.Config, **values) -> None:
  for name, value in values.items():
    setattr(config, name, value)


def _steps(epochs: float, clips: int, batch_size: int) -> int:
  return max(1, round(epochs * clips / batch_size))


def _latent_dim(tokenizer: fdl.Config) -> int:
  """The autoencoder's latent width is the quantizer's dimension."""
  quantizer = tokenizer.quantizer
  return len(quantizer.levels) if fdl.get_callable(quantizer) is FSQ else quantizer.bits


def _apply(cfg: fdl.Config, by_kind: dict) -> None:
  """Applies each stage's fiddler to every stage of the tree, once each (a stage plugged in twice
  is one config)."""
  done = []
  for _, stage in stage_chain(cfg):
    if not any(stage is seen for seen in done):
      done.append(stage)
      by_kind[fdl.get_callable(stage)](stage)


# ------------------------------------------------------------------------------------------ smoke
SMOKE_CLIPS = 64


def _smoke_tokenizer(stage: fdl.Config) -> None:
  stage.autoencoder = autoencoder((2, 8, 8), base_channels=4, latent_dim=_latent_dim(stage))
  _set(stage.data, num_train=32)
  _set(stage.schedule, steps=6, batch_size=2, warmup_steps=1, checkpoint_every=3, log_every=2)
  _set(stage, num_eval=8, eval_batch_size=4)
  if stage.adaptive is not None:
    stage.adaptive.features = 8


def _smoke_pretrain_data(stage: fdl.Config) -> None:
  _set(stage.data, num_train=SMOKE_CLIPS)


def _smoke_transformers(stage: fdl.Config) -> None:
  _set(stage.encoder, **VIT_SIZES["tiny"])
  _set(stage.schedule, steps=12, batch_size=4, warmup_steps=2, learning_rate=1e-3,
       checkpoint_every=6, log_every=2)


def _smoke_pretrain(stage: fdl.Config) -> None:
  _smoke_transformers(stage)
  _smoke_pretrain_data(stage)
  _set(stage.decoder, width=32, depth=1, heads=2)


def _smoke_finetune(stage: fdl.Config) -> None:
  _smoke_transformers(stage)
  _set(stage.data, num_train=SMOKE_CLIPS, num_eval=SMOKE_CLIPS)
  stage.eval_batch_size = 16


def _smoke_probe_features(stage: fdl.Config) -> None:
  _set(stage.encoder, **VIT_SIZES["tiny"])  # as _smoke_transformers: the pre-training encoder's
  _set(stage.data, num_train=SMOKE_CLIPS, num_eval=SMOKE_CLIPS)
  stage.batch_size = 16


def _smoke_probe(stage: fdl.Config) -> None:
  _set(stage, steps=50, batch_size=16)


@register_profile
def smoke(cfg: fdl.Config) -> None:
  _apply(cfg, {Tokenizer: _smoke_tokenizer, Precompute: _smoke_pretrain_data, FlowScores: _smoke_pretrain_data,
               Pretrain: _smoke_pretrain, Finetune: _smoke_finetune, ProbeFeatures: _smoke_probe_features,
               Probe: _smoke_probe})


# -------------------------------------------------------------------------------------------- cpu
# The cpu profile's shapes, chosen by measurement on SLC medium (2-core CPU):
# - 4x4 patches line up with SLC's 4x4 event cells, so one glyph is one token's whole footprint;
#   8x8 patches (a glyph covers a quarter of a token) and 8-frame tubelets (a glyph is in one of 8
#   frames) learn far more slowly. (4, 4, 4) at 32 frames is an 8x8x8 grid of 512 tokens;
#   (2, 4, 4) would be 1024 tokens at ~2 s per fine-tuning step.
# - From scratch, fine-tuning sits at chance (loss ln 8) for ~500 steps before it learns; a
#   learning rate of 1e-3 stays on that plateau for 1000+ steps, 3e-3 leaves it.
# - scan without remat: memory is not the limit on a CPU, recomputation is ~30% slower.
# - Pre-training, measured on SLC v2 with the token-type losses (README, "The cpu profile"): 1600
#   steps of 8 clips (the same 12,800 clips as 400 steps of 32, four times the updates: at 400 x 32
#   no token type left its trivial level); the MAE completes partly seen events only after ~600
#   steps. Two documented scale deviations from the paper: a 75% tube mask (16 of the 8x8
#   positions visible; at 90% only 6 are, and a small MAE learned no event there in 400 steps) and
#   raw-pixel targets (`pixel_norm='none'`: with per-channel normalised 4x4x4 targets the
#   background loss stayed at its trivial level, 0.985 vs 0.982, since a token of SLC's smooth
#   background normalised is mostly texture and quantisation noise).
CPU_TUBELET = (4, 4, 4)


def _cpu_tokenizer(stage: fdl.Config) -> None:
  # XLA:CPU runs these small-channel 3D convolutions at ~11 GFLOP/s: base 8 at batch 8 is 1.9 s
  # per step on 2 cores (base 16 at batch 16: 6.6 s), so 500 steps fit the 20-minute budget.
  stage.autoencoder = autoencoder(CPU_TUBELET, base_channels=8, latent_dim=_latent_dim(stage))
  _set(stage.data, num_train=None)
  _set(stage.schedule, steps=500, batch_size=8, warmup_steps=25, learning_rate=1e-3,
       checkpoint_every=100, log_every=25)
  _set(stage, num_eval=512, eval_batch_size=32)


def _cpu_pretrain_data(stage: fdl.Config) -> None:
  _set(stage.data, num_train=None)


def _cpu_flow_scores(stage: fdl.Config) -> None:
  _cpu_pretrain_data(stage)
  stage.tubelet = CPU_TUBELET


def _cpu_transformers(stage: fdl.Config) -> None:
  _set(stage.encoder, **VIT_SIZES["cpu"], remat="none")
  stage.tubelet = CPU_TUBELET


def _cpu_pretrain(stage: fdl.Config) -> None:
  _cpu_transformers(stage)
  _cpu_pretrain_data(stage)
  _set(stage.decoder, width=64, depth=2, heads=2, remat="none")
  _set(stage.masking, encoder_ratio=0.75)
  _set(stage.targets, pixel_norm="none")
  _set(stage.schedule, steps=1600, batch_size=8, warmup_steps=100,
       learning_rate=1e-3, checkpoint_every=400, log_every=50)


def _layer_decay(stage: fdl.Config, decay: float) -> float:
  """Layer-wise lr decay is for fine-tuning a pre-trained encoder (BEiT, VideoMAE); a classifier
  trained from scratch (`supervised`) keeps one learning rate for every layer."""
  return decay if stage.pretrained is not None else 1.0


def _cpu_finetune(stage: fdl.Config) -> None:
  # VideoMAE's fine-tuning recipe, to leave the chance plateau: fc_norm (LayerNorm after mean
  # pooling, no per-token norm), layer-wise lr decay 0.75 and gradient clipping at norm 1.
  _cpu_transformers(stage)
  _set(stage.data, num_train=None, num_eval=None)
  _set(stage.schedule, steps=600, batch_size=16, warmup_steps=50, learning_rate=3e-3,
       clip_norm=1.0, layer_decay=_layer_decay(stage, 0.75), checkpoint_every=100, log_every=10)
  _set(stage, eval_batch_size=50, pooling_norm="after_pool")


def _cpu_probe_features(stage: fdl.Config) -> None:
  _cpu_transformers(stage)  # the pre-training encoder and tubelet
  _set(stage.data, num_train=None, num_eval=None)
  stage.batch_size = 50


def _cpu_probe(stage: fdl.Config) -> None:
  # L-BFGS stops well before 1000 iterations on 2,000 x 64 features; the attentive probe's 1000
  # AdamW steps of 64 clips are 40 epochs of the 1,600 fitting rows.
  _set(stage, steps=1000, batch_size=64, learning_rate=1e-3)


@register_profile
def cpu(cfg: fdl.Config) -> None:
  _apply(cfg, {Tokenizer: _cpu_tokenizer, Precompute: _cpu_pretrain_data, FlowScores: _cpu_flow_scores,
               Pretrain: _cpu_pretrain, Finetune: _cpu_finetune, ProbeFeatures: _cpu_probe_features,
               Probe: _cpu_probe})


# ------------------------------------------------------------------------------------------ paper
# The paper's data: EPIC-Kitchens-100 (67,217 training segments) unless a table says otherwise.
EK100_TRAIN_CLIPS = 67_217
PAPER_TUBELET = (2, 16, 16)  # 8x14x14 tokens per 16 frames at 224 px


def _paper_tokenizer(stage: fdl.Config) -> None:
  # Kinetics-600, 16-frame clips, FSQ with an 18-bit codebook (paper). Levels 8^6, widths, GAN
  # weight/start, steps and batch are not given: MAGVIT-v2-like choices.
  stage.data = fdl.Config(VideoData, name="kinetics_600", root="", image_size=224,
                          train_split="train", eval_split="validation")
  _set(stage.sampling, num_frames=16, stride=2)
  if fdl.get_callable(stage.quantizer) is FSQ:
    stage.quantizer = fdl.Config(FSQ, levels=(8, 8, 8, 8, 8, 8))
  else:
    stage.quantizer = fdl.Config(LFQ, bits=18)
  stage.autoencoder = autoencoder(PAPER_TUBELET, base_channels=128, latent_dim=_latent_dim(stage),
                                  num_res_blocks=2)
  stage.autoencoder.dtype = "bfloat16"
  _set(stage.losses, gan_weight=0.1, gan_start=20_000, discriminator_channels=64, discriminator_layers=4)
  _set(stage.schedule, steps=100_000, batch_size=256, warmup_steps=5_000, learning_rate=1e-4,
       checkpoint_every=1000, log_every=50)


def _paper_pretrain_data(stage: fdl.Config) -> None:
  stage.data = fdl.Config(VideoData, name="epic_kitchens_100", root="", image_size=224,
                          train_split="train", eval_split="validation")
  _set(stage.sampling, stride=2)        # not given in the paper: VideoMAE's stride for SSv2


def _paper_flow_scores(stage: fdl.Config) -> None:
  _paper_pretrain_data(stage)           # the paper used RAFT flow; here OpenCV's (no weights to download)
  _set(stage, tubelet=PAPER_TUBELET, data_threads=16)


def _paper_transformers(stage: fdl.Config) -> None:
  _paper_pretrain_data(stage)
  stage.tubelet = PAPER_TUBELET
  _set(stage.encoder, **VIT_SIZES["B"], dtype="bfloat16", remat="full")


def _paper_pretrain(stage: fdl.Config) -> None:
  _paper_transformers(stage)
  # 1600 epochs (paper); batch 512, lr 1.5e-4 x batch/256, 40 warm-up epochs: VideoMAE's.
  _set(stage.decoder, width=384, depth=4, heads=6, dtype="bfloat16", remat="full")
  batch = 512
  _set(stage.schedule, steps=_steps(1600, EK100_TRAIN_CLIPS, batch), batch_size=batch,
       warmup_steps=_steps(40, EK100_TRAIN_CLIPS, batch), learning_rate=1.5e-4 * batch / 256,
       weight_decay=0.05, b2=0.95, checkpoint_every=1000, log_every=50)


def _paper_finetune(stage: fdl.Config) -> None:
  _paper_transformers(stage)
  # Fine-tuning recipe beyond the paper's text (epochs for EK100, batch, lr, Mixup 0.8 / CutMix 1.0,
  # RandAugment n4 m7, label smoothing 0.1, layer-wise lr decay 0.75 for ViT-B, fc_norm: LayerNorm
  # after mean pooling, no gradient clipping): VideoMAE's.
  batch = 256
  _set(stage.schedule, steps=_steps(50, EK100_TRAIN_CLIPS, batch), batch_size=batch,
       warmup_steps=_steps(5, EK100_TRAIN_CLIPS, batch), learning_rate=5e-4 * batch / 256,
       final_learning_rate=1e-6, weight_decay=0.05, b2=0.999, layer_decay=_layer_decay(stage, 0.75),
       checkpoint_every=1000, log_every=50)
  _set(stage, label_smoothing=0.1, eval_batch_size=64, mixup_alpha=0.8, cutmix_alpha=1.0,
       pooling_norm="after_pool")
  stage.data.augment = fdl.Config(Augmentation, rand_augment_ops=4, rand_augment_magnitude=7.0)


def _paper_probe_features(stage: fdl.Config) -> None:
  _paper_transformers(stage)  # EK100's labelled splits, the pre-training ViT-B (bf16) and tubelet
  _set(stage, batch_size=64, data_threads=16)


def _paper_probe(stage: fdl.Config) -> None:
  # Not in the paper: V-JEPA-like attentive-probe settings (12 heads for ViT-B, batch 256).
  _set(stage, steps=20_000, batch_size=256, learning_rate=1e-3, attention_heads=12)


@register_profile
def paper(cfg: fdl.Config) -> None:
  _apply(cfg, {Tokenizer: _paper_tokenizer, Precompute: _paper_pretrain_data, FlowScores: _paper_flow_scores,
               Pretrain: _paper_pretrain, Finetune: _paper_finetune, ProbeFeatures: _paper_probe_features,
               Probe: _paper_probe})
