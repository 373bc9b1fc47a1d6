"""Base experiments: MAE pre-training, fine-tuning from it, and supervised training from scratch.

The bases fix the method (tube masking 90%, random decoder masking at a 15% budget, VideoMAE's
per-channel pixel targets, 2-frame tubelets); profiles (experiments/profiles.py) set the scale.
"""
from __future__ import annotations

import fiddle as fdl

from experiments.registry import register
from lvmae.data.pipeline import SLCData, Sampling
from lvmae.models.specs import VIT_SIZES, TransformerSpec
from lvmae.train.finetune import Finetune
from lvmae.train.optim import Schedule
from lvmae.train.pretrain import Masking, Pretrain, Targets


def transformer(size: str, **kwargs) -> fdl.Config[TransformerSpec]:
  return fdl.Config(TransformerSpec, **VIT_SIZES[size], **kwargs)


@register
def pretrain() -> fdl.Config[Pretrain]:
  """MAE pre-training on the unlabelled split."""
  return fdl.Config(
      Pretrain,
      data=fdl.Config(SLCData, train_split="unlabelled"),
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
      data=fdl.Config(SLCData, train_split="train", eval_split="val"),
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
