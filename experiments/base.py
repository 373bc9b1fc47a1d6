"""Base experiments: the tokenizer, MAE pre-training, fine-tuning from it, supervised training, and
frozen-encoder probes (linear / attentive, with random-init and raw-pixel floors).

The bases fix the method (tube masking 90%, random decoder masking at a 15% budget, VideoMAE's
per-channel pixel targets, 2-frame tubelets); profiles (experiments/profiles.py) set the scale.
"""
from __future__ import annotations

import fiddle as fdl

from experiments.registry import register
from lvmae.data.pipeline import SLCData, Sampling
from lvmae.masking.config import Masking
from lvmae.models.specs import VIT_SIZES, TransformerSpec
from lvmae.tokenizer.magvit import MagvitSpec
from lvmae.tokenizer.model import Adaptive
from lvmae.tokenizer.quantizers import FSQ, LFQ
from lvmae.train.finetune import Finetune
from lvmae.train.flow_scores import FlowScores
from lvmae.train.optim import Schedule
from lvmae.train.precompute import Precompute
from lvmae.train.pretrain import Pretrain, Targets
from lvmae.train.probe import Probe
from lvmae.train.probe_features import ProbeFeatures
from lvmae.train.tokenizer import Tokenizer, TokenizerLosses


def transformer(size: str, **kwargs) -> fdl.Config[TransformerSpec]:
  return fdl.Config(TransformerSpec, **VIT_SIZES[size], **kwargs)


def autoencoder(tubelet: tuple[int, int, int], base_channels: int, latent_dim: int,
                num_res_blocks: int = 1) -> fdl.Config[MagvitSpec]:
  """A MAGVIT 3D-CNN whose latent grid is the MAE's token grid: it downsamples by the tubelet."""
  steps_t, steps_s = (int(size).bit_length() - 1 for size in tubelet[:2])
  if 2 ** steps_t != tubelet[0] or 2 ** steps_s != tubelet[1] or tubelet[1] != tubelet[2]:
    raise ValueError(f"tubelet {tubelet}: the autoencoder needs power-of-two sizes and square patches")
  stages = max(steps_t, steps_s) + 1
  return fdl.Config(
      MagvitSpec, base_channels=base_channels,
      channel_multipliers=tuple(min(2 ** ((i + 1) // 2), 4) for i in range(stages)),
      num_res_blocks=num_res_blocks,
      temporal_downsample=tuple(i < steps_t for i in range(stages - 1)),
      spatial_downsample=tuple(i < steps_s for i in range(stages - 1)),
      latent_dim=latent_dim)


@register
def tokenizer() -> fdl.Config[Tokenizer]:
  """The adaptive FSQ-MagViT tokenizer: trained on 16-frame clips of the unlabelled split."""
  return fdl.Config(
      Tokenizer,
      data=fdl.Config(SLCData, version=2, train_split="unlabelled", eval_split="val"),
      sampling=fdl.Config(Sampling, num_frames=16, stride=4),
      autoencoder=autoencoder((2, 8, 8), base_channels=16, latent_dim=4),
      quantizer=fdl.Config(FSQ, levels=(8, 5, 5, 5)),
      adaptive=fdl.Config(Adaptive, features=32, keep_ratio=0.49, topk="perturbed", temperature=0.05),
      losses=fdl.Config(TokenizerLosses, reconstruction="l2", gan_weight=0.0),
      schedule=fdl.Config(Schedule, steps=100, batch_size=8, learning_rate=1e-3, warmup_steps=10,
                          weight_decay=0.0, b1=0.9, b2=0.99),
  )


@register
def tokenizer_fsq() -> fdl.Config[Tokenizer]:
  """FSQ-MagViT without the scorer (Table 4b's plain FSQ-MagViT targets)."""
  cfg = tokenizer()
  cfg.adaptive = None
  return cfg


@register
def tokenizer_magvit() -> fdl.Config[Tokenizer]:
  """MAGVIT (lookup-free quantization, as MAGVIT-v2), no scorer (Table 4b's MAGVIT targets)."""
  cfg = tokenizer_fsq()
  cfg.quantizer = fdl.Config(LFQ, bits=10)
  cfg.autoencoder.latent_dim = 10
  return cfg


def _tokens(tokenizer_cfg: fdl.Config[Tokenizer]) -> fdl.Config[Precompute]:
  """The frozen tokenizer over `pretrain`'s clips (same data and frames), 16-frame windows."""
  return fdl.Config(Precompute, tokenizer=tokenizer_cfg,
                    data=fdl.Config(SLCData, version=2, train_split="unlabelled"),
                    sampling=fdl.Config(Sampling, num_frames=32, stride=4), window=16, window_stride=16)


@register
def tokens_adaptive_fsq_magvit() -> fdl.Config[Precompute]:
  """Cached adaptive FSQ-MagViT latents and importance scores for pre-training."""
  return _tokens(tokenizer())


@register
def tokens_fsq_magvit() -> fdl.Config[Precompute]:
  """Cached FSQ-MagViT latents (no scorer) for pre-training."""
  return _tokens(tokenizer_fsq())


@register
def tokens_magvit() -> fdl.Config[Precompute]:
  """Cached MAGVIT (LFQ) latents for pre-training."""
  return _tokens(tokenizer_magvit())


@register
def flow_scores() -> fdl.Config[FlowScores]:
  """Per-token optical-flow magnitudes (Farneback) of `pretrain`'s clips: the `flow` strategy's scores."""
  return fdl.Config(FlowScores, data=fdl.Config(SLCData, version=2, train_split="unlabelled"),
                    sampling=fdl.Config(Sampling, num_frames=32, stride=4), tubelet=(2, 8, 8), method="farneback")


@register
def pretrain() -> fdl.Config[Pretrain]:
  """MAE pre-training on the unlabelled split."""
  return fdl.Config(
      Pretrain,
      data=fdl.Config(SLCData, version=2, train_split="unlabelled"),
      sampling=fdl.Config(Sampling, num_frames=32, stride=4),
      encoder=transformer("tiny"),
      decoder=transformer("tiny"),
      masking=fdl.Config(Masking, encoder_ratio=0.9, decoder_strategy="random", decoder_budget=0.15),
      targets=fdl.Config(Targets, kind="rgb", pixel_norm="channel"),
      schedule=fdl.Config(Schedule, steps=100, batch_size=8, learning_rate=1e-3, warmup_steps=10,
                          weight_decay=0.05, b1=0.9, b2=0.95),
      tubelet=(2, 8, 8),
  )


def _classifier(pretrained) -> fdl.Config[Finetune]:
  encoder = pretrained.encoder if pretrained is not None else transformer("tiny")
  return fdl.Config(
      Finetune,
      data=fdl.Config(SLCData, version=2, train_split="train", eval_split="val"),
      sampling=fdl.Config(Sampling, num_frames=32, stride=4),
      encoder=encoder,
      schedule=fdl.Config(Schedule, steps=100, batch_size=8, learning_rate=1e-3, warmup_steps=10,
                          weight_decay=0.05, b1=0.9, b2=0.999),
      pretrained=pretrained,
      tubelet=(2, 8, 8),
  )


@register
def finetune() -> fdl.Config[Finetune]:
  """Fine-tuning on the labelled split from `pretrain`'s encoder, then evaluation."""
  return _classifier(pretrain())


@register
def supervised() -> fdl.Config[Finetune]:
  """The same classifier trained from scratch (no pre-training): the baseline MAE must beat."""
  return _classifier(None)


def _probe(pretrained, head: str = "linear", source: str = "encoder") -> fdl.Config[Probe]:
  """A probe on frozen features of the labelled split: the data, sampling, encoder and tubelet
  are those of the classifier on the same `pretrained` stage (`_classifier`)."""
  classifier = _classifier(pretrained)
  features = fdl.Config(ProbeFeatures, data=classifier.data, sampling=classifier.sampling,
                        encoder=classifier.encoder, tubelet=classifier.tubelet, pretrained=pretrained,
                        source=source)
  if head == "linear":  # L2 strengths on standardised features (mean cross-entropy); the cpu acceptance
    # probes chose 1e-5 most often, so the grid reaches two decades below it
    return fdl.Config(Probe, features=features, head=head,
                      regularisation=(1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0), steps=1000)
  features.keep_tokens = True  # the attentive head reads every token (the linear one the mean only)
  return fdl.Config(Probe, features=features, head=head, regularisation=(0.01, 0.1, 0.5), steps=1000,
                    learning_rate=1e-3, batch_size=64, attention_heads=4)


@register
def probe() -> fdl.Config[Probe]:
  """A linear probe on the frozen mean-pooled features of `pretrain`'s encoder (the cpu metric)."""
  return _probe(pretrain())


@register
def probe_attentive() -> fdl.Config[Probe]:
  """An attentive probe (one query cross-attending to every token) on `pretrain`'s frozen encoder."""
  return _probe(pretrain(), head="attentive")


@register
def probe_random_init() -> fdl.Config[Probe]:
  """The linear probe on a random-init (untrained) encoder: the floor pre-training must beat."""
  return _probe(None)


@register
def probe_pixels() -> fdl.Config[Probe]:
  """The linear probe on mean-pooled raw patches (no model): the raw-pixel floor."""
  return _probe(None, source="pixels")
