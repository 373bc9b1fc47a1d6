"""The probe stage: a linear or attentive classifier on a frozen encoder's cached features.

The features come from an upstream ProbeFeatures run (lvmae.train.probe_features; the attentive
head reads its per-token features, kept only with `features.keep_tokens=True`); the heads and their
fitting from lvmae.train.probe_heads. The regularisation (the linear probe's L2 strength, the
attentive probe's AdamW weight decay) is chosen on a seeded `held_out` share of the train features:
each value of the grid is fitted on the rest and scored by held-out top-1, the best wins (a tie goes
to the stronger regularisation), then the probe is refitted on every train row and scored on the
eval split (with several eval clips per video, on their averaged posteriors, as fine-tuning's
evaluation; the linear head only). The run writes result.json's keys (top1, num_train, num_eval, head,
chosen_regularisation, held_out_top1, classes, train_seconds) and predictions.npz (the keys of
lvmae.train.evaluate.write_predictions). Given the same features and config, top1 is exact.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np

from lvmae.train import probe_heads
from lvmae.train.evaluate import PREDICTIONS, split_heads, write_predictions
from lvmae.train.probe_features import ProbeFeatures, load_features
from lvmae.validation import (ConfigError, NonNegativeFloat, OpenUnit, PositiveFloat, PositiveInt, Seed,
                              check_choice, check_fields)

HEADS = ("linear", "attentive")


@dataclasses.dataclass(frozen=True)
class Probe:
  """A probe on `features` (an upstream stage); see the module docstring."""
  features: ProbeFeatures
  head: str = "linear"
  held_out: OpenUnit = 0.2       # share of the train rows held out to choose the regularisation
  # L2 strengths / weight decays
  regularisation: tuple[NonNegativeFloat, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
  steps: PositiveInt = 1000           # L-BFGS iterations at most (linear); AdamW steps (attentive)
  learning_rate: PositiveFloat = 1e-3  # AdamW's peak learning rate (attentive; L-BFGS searches its own)
  batch_size: PositiveInt = 64        # AdamW minibatch (attentive)
  attention_heads: PositiveInt = 4    # heads of the attentive probe's cross-attention
  seed: Seed = 0

  def __post_init__(self):
    check_fields(self)
    check_choice("head", self.head, HEADS)
    if not self.regularisation:
      raise ConfigError("regularisation", self.regularisation, "must be a non-empty tuple of values >= 0")
    if len(set(self.regularisation)) != len(self.regularisation):
      raise ConfigError("regularisation", self.regularisation, "has repeated values")
    if self.head == "attentive":
      if self.features.source != "encoder":
        raise ConfigError("head", self.head, f"needs per-token features; features.source={self.features.source!r} "
                                             f"has pooled ones only")
      if not self.features.keep_tokens:
        raise ConfigError("features.keep_tokens", self.features.keep_tokens,
                          "must be True for head='attentive' (it reads the per-token features)")
      if self.features.dim % self.attention_heads:
        raise ConfigError("attention_heads", self.attention_heads,
                          f"does not divide the features' width {self.features.dim}")

  @property
  def heads(self) -> tuple[int, ...]:
    return tuple(self.features.data.heads)

  def inputs(self, split: dict) -> np.ndarray:
    """What the head reads: mean-pooled features (linear) or per-token features (attentive)."""
    return split["pooled"] if self.head == "linear" else split["tokens"]

  def fit_predict(self, x: np.ndarray, labels: np.ndarray, weights: np.ndarray, value: float,
                  predict_x: np.ndarray) -> np.ndarray:
    """Fits the head on the rows of `x` and `labels` whose weight is 1 (the others are ignored)
    with regularisation `value`; returns the posteriors of `predict_x`."""
    if self.head == "linear":  # standardised with the fitting rows' statistics
      mean, std = probe_heads.standardiser(x[weights > 0])
      params = probe_heads.fit_linear((x - mean) / std, labels, weights, value, heads=self.heads, steps=self.steps)
      views = predict_x.reshape(-1, predict_x.shape[-1])  # (N, D) or (N, clips, D): posteriors averaged
      probs = probe_heads.linear_probs(params, (views - mean) / std, self.heads)
      return probs.reshape(*predict_x.shape[:-1], -1).mean(axis=1) if predict_x.ndim == 3 else probs
    model = probe_heads.fit_attentive(x, labels, weights, value, heads=self.heads, num_heads=self.attention_heads,
                                      steps=self.steps, batch_size=self.batch_size,
                                      learning_rate=self.learning_rate, seed=self.seed)
    return probe_heads.attentive_probs(model, predict_x, self.heads)

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    del stop_after  # minutes at most; nothing to resume
    attentive = self.head == "attentive"
    train = load_features(upstream["features"], "train", tokens=attentive)
    evaluation = load_features(upstream["features"], "eval", tokens=attentive)
    heads, start = self.heads, time.perf_counter()
    x, labels = self.inputs(train), train["label"].reshape(len(train["label"]), -1)
    fit_rows, held_rows = probe_heads.held_out_split(len(labels), self.held_out, self.seed)
    fit_weights = np.zeros(len(labels), np.float32)
    fit_weights[fit_rows] = 1.0
    held_out_top1 = {}
    for value in self.regularisation:  # predicts every train row (one compiled shape), scores the held-out ones
      probs = self.fit_predict(x, labels, fit_weights, value, x)
      held_out_top1[value] = probe_heads.top1(probs[held_rows], labels[held_rows], heads)
    chosen = probe_heads.choose_regularisation(held_out_top1)
    probs = self.fit_predict(x, labels, np.ones(len(labels), np.float32), chosen, self.inputs(evaluation))
    train_seconds = time.perf_counter() - start
    predictions = {"index": evaluation["index"], "label": evaluation["label"], "probs": probs,
                   "prediction": np.stack([p.argmax(-1) for p in split_heads(probs, heads)], -1)}
    if len(heads) == 1:
      predictions["prediction"] = predictions["prediction"][:, 0]
    write_predictions(Path(run_dir) / PREDICTIONS, predictions)
    eval_labels = evaluation["label"].reshape(len(evaluation["label"]), -1)
    result = {"top1": probe_heads.top1(probs, eval_labels, heads), "num_train": int(len(labels)),
              "num_eval": int(len(eval_labels)), "head": self.head, "chosen_regularisation": chosen,
              "held_out_top1": {str(value): acc for value, acc in held_out_top1.items()},
              "classes": int(sum(heads)), "train_seconds": train_seconds, "source": self.features.source}
    if len(heads) > 1:  # e.g. EPIC-Kitchens: top1 is the action (every head right)
      correct = predictions["prediction"] == eval_labels
      result.update({f"top1_{name}": float(correct[:, h].mean())
                     for h, name in enumerate(self.features.data.head_names)})
    return result
