"""The masking config of a pre-training run: encoder tube masking and the decoder's strategy,
budget and the strategies' options. Its `strategy` is the registered decoder strategy object
(lvmae.masking.decoder) that the pre-training stage asks for scores, checks and options."""
from __future__ import annotations

import dataclasses
from typing import Annotated

from lvmae.masking import decoder
from lvmae.masking.strategies.base import Strategy
from lvmae.validation import OpenUnit, PositiveInt, Range, UnitInterval, check_choice, check_fields


@dataclasses.dataclass(frozen=True)
class Masking:
  """Encoder tube masking and the decoder's selection strategy and token budget."""
  encoder_ratio: OpenUnit = 0.9
  decoder_strategy: str = "random"
  # share of all tokens the decoder reconstructs, in (0, 1] (unused by "none")
  decoder_budget: Annotated[float, Range(0, 1, open_low=True)] = 0.15
  top_share: UnitInterval = 2 / 3      # score-based strategies: share of the budget from the top scores
  uniform_step: PositiveInt | None = None  # "uniform": time slices between kept ones (None: round(1 / budget))

  def __post_init__(self):
    check_fields(self)
    check_choice("decoder_strategy", self.decoder_strategy, decoder.STRATEGIES)

  @property
  def strategy(self) -> Strategy:
    """The decoder strategy object of `decoder_strategy`."""
    return decoder.STRATEGIES[self.decoder_strategy]

  def options(self) -> dict:
    """The strategy's own keyword options for its `select` / `count`."""
    return self.strategy.options(self)
