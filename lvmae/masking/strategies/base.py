"""What a decoder strategy is: `Strategy` (selection, static count, options from the config,
validation) and `ScoreSource` (where a score-based strategy's per-token scores come from).

The pre-training stage (lvmae.train.pretrain) asks these objects what a strategy needs (an
upstream `importance` stage, batch keys, SLC's event masks) and for its scores; it never switches
on a strategy's name. This package is below lvmae.train: facts about the data or upstream stages
come in as plain values (`has_events`), and a source names its upstream stage's kind as a string
that the pre-training stage maps to its class.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax

from lvmae.validation import ConfigError


@dataclasses.dataclass(frozen=True)
class ScoreSource:
  """Where a score-based strategy's (B, N) per-token scores come from.

  `compute(key, batch, patches, *, grid, embed)` returns them, from the batch (`batch_keys`), the
  (B, N, D) patches of the step, or `embed` (the MAE's patch embedding, (B, N, D) -> (B, N, W)).
  """
  compute: Callable
  batch_keys: tuple[str, ...] = ()  # batch entries `compute` reads
  importance: str | None = None     # kind of upstream stage in the `importance` field whose cached scores
                                    # it reads: "precompute" (a frozen tokenizer) or "flow_scores"
  scored_tokenizer: bool = False    # importance="precompute": the tokenizer must have a scorer
  needs_events: bool = False        # needs SLC's per-pixel event masks (`info`)


def read_cached_scores(key, batch, patches, *, grid, embed):
  """A cached source's scores: the batch's `scores`, read from the upstream stage's cache."""
  del key, patches, grid, embed
  return batch["scores"]


def cached_scores(stage: str, *, scored_tokenizer: bool = False) -> ScoreSource:
  """Scores an upstream stage of kind `stage` caches per clip (the pre-training's `importance`)."""
  return ScoreSource(read_cached_scores, batch_keys=("scores",), importance=stage, scored_tokenizer=scored_tokenizer)


class Strategy:
  """One decoder strategy. A subclass sets `name` and writes `select`; a score-based one sets
  `source`; a strategy with options writes `options`; one whose token count is not the budget's
  writes `count`."""
  name: str = ""
  source: ScoreSource | None = None  # None: selects without scores

  def select(self, key, num_tokens: int, budget: float, *, scores=None, masked=None, grid=None,
             **options) -> jax.Array:
    """(K,) int32 sorted token indices of one clip (vmap it over a batch); K is `count`'s."""
    raise NotImplementedError

  def count(self, num_tokens: int, budget: float, num_masked: int, *, grid=None, **options) -> int:
    """The static number of tokens `select` returns (raises ValueError for a budget or grid the
    strategy cannot express)."""
    del num_masked, grid, options
    return budget_count(num_tokens, budget)

  def options(self, masking) -> dict:
    """Its keyword options for `select` / `count`, from a `lvmae.masking.config.Masking`."""
    del masking
    return {}

  @property
  def needs_importance(self) -> bool:
    """Its scores are cached by an upstream stage in the pre-training's `importance` field."""
    return self.source is not None and self.source.importance is not None

  @property
  def batch_keys(self) -> tuple[str, ...]:
    """The batch entries its scores are read from."""
    return () if self.source is None else self.source.batch_keys

  def scores(self, key, batch: dict, patches, *, grid, embed):
    """(B, N) per-token scores of a batch from its source, None for a strategy without scores."""
    if self.source is None:
      return None
    return self.source.compute(key, batch, patches, grid=grid, embed=embed)

  def validate(self, masking, *, grid: tuple[int, int, int], num_masked: int, has_events: bool,
               data_name: str) -> None:
    """Raises a ConfigError naming the field when the data cannot serve its score source (SLC's
    event masks; `has_events`, `data_name`: the pre-training data's) or it cannot express the
    budget on the token grid."""
    if self.source is not None and self.source.needs_events and not has_events:
      raise ConfigError("masking.decoder_strategy", self.name,
                        f"the {self.name} strategy needs SLC's event masks; {data_name} has none")
    num_tokens = grid[0] * grid[1] * grid[2]
    try:
      self.count(num_tokens, masking.decoder_budget, num_masked, grid=grid, **self.options(masking))
    except ValueError as e:
      raise ConfigError("masking.decoder_budget", masking.decoder_budget, str(e)) from None


def budget_count(num_tokens: int, budget: float) -> int:
  """Tokens of a budget: round(budget x num_tokens), at least one."""
  if not 0.0 < budget <= 1.0:
    raise ValueError(f"decoder budget {budget} must be in (0, 1]")
  return max(1, int(round(num_tokens * budget)))


def token_grid(grid, num_tokens: int, strategy: str) -> tuple[int, int, int]:
  """The (t, h, w) grid a structured strategy needs, checked against `num_tokens`."""
  if grid is None:
    raise ValueError(f"decoder strategy {strategy!r} needs the token grid")
  gt, gh, gw = (int(g) for g in grid)
  if gt * gh * gw != num_tokens:
    raise ValueError(f"token grid {tuple(grid)} does not hold {num_tokens} tokens")
  return gt, gh, gw
