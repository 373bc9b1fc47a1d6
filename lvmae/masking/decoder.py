"""Decoder masking: which tokens the MAE decoder reconstructs. This module is the registry of the
decoder strategies (name -> `Strategy`, one module each under lvmae.masking.strategies) and runs
one by name.

Every strategy has one signature, chosen by name in the config:

    select(key, num_tokens, budget, *, scores=None, masked=None, grid=None, **options) -> (K,) int32, sorted

`budget` is the share of all `num_tokens` tokens the decoder reconstructs; `masked` are the
encoder-masked token indices (used by `none`, which decodes every one of them); `grid` is the
(t, h, w) token grid (used by the structured strategies `uniform` and `running_cell`); `scores`
are per-token scores for the score-based strategies (`SCORED`), which share one selection and
differ in their score source (lvmae.masking.strategies.base.ScoreSource). K is static: see
`num_selected`. The loss is taken over tokens that are both encoder-masked and selected (PAPER.md,
Eq. 1).

A new strategy is a module under lvmae/masking/strategies/ named after it, holding `STRATEGY`,
and its name in `REGISTERED`.
"""
from __future__ import annotations

import importlib

from lvmae.masking.strategies.base import Strategy
from lvmae.masking.strategies.oracle import oracle_scores  # noqa: F401 (the selection figures' event scores)

REGISTERED = ("none", "random", "uniform", "running_cell", "adaptive", "flow", "everest", "oracle")


def _load(name: str) -> Strategy:
  strategy = importlib.import_module(f"lvmae.masking.strategies.{name}").STRATEGY
  if strategy.name != name:
    raise ImportError(f"lvmae.masking.strategies.{name} holds strategy {strategy.name!r}, not {name!r}")
  return strategy


STRATEGIES: dict[str, Strategy] = {name: _load(name) for name in REGISTERED}
SCORED = tuple(name for name, strategy in STRATEGIES.items() if strategy.source is not None)


def strategy(name: str) -> Strategy:
  """The registered strategy `name`, or a ValueError naming the choices."""
  if name not in STRATEGIES:
    raise ValueError(f"unknown decoder strategy {name!r}; choose from {sorted(STRATEGIES)}")
  return STRATEGIES[name]


def num_selected(name: str, num_tokens: int, budget: float, num_masked: int, *, grid=None, **options) -> int:
  """The static number of tokens `select` returns."""
  return strategy(name).count(num_tokens, budget, num_masked, grid=grid, **options)


def select(name: str, key, num_tokens: int, budget: float, *, scores=None, masked=None, grid=None, **options):
  """Runs the named strategy for one clip (vmap it over a batch)."""
  return strategy(name).select(key, num_tokens, budget, scores=scores, masked=masked, grid=grid, **options)
