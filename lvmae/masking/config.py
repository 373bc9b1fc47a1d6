"""The masking config of a pre-training run: encoder tube masking and the decoder's strategy,
budget and the strategies' options. Its `strategy` is the registered decoder strategy object
(lvmae.masking.decoder) that the pre-training stage asks for scores, checks and options."""
from __future__ import annotations

import dataclasses

from lvmae.masking import decoder
from lvmae.masking.strategies.base import Strategy
from lvmae.validation import ConfigError, check_choice, check_open_unit


@dataclasses.dataclass(frozen=True)
class Masking:
  """Encoder tube masking and the decoder's selection strategy and token budget."""
  encoder_ratio: float = 0.9
  decoder_strategy: str = "random"
  decoder_budget: float = 0.15  # share of all tokens the decoder reconstructs (unused by "none")
  top_share: float = 2 / 3      # score-based strategies: share of the budget from the top scores
  uniform_step: int | None = None  # "uniform": time slices between kept ones (None: round(1 / budget))

  def __post_init__(self):
    check_open_unit("encoder_ratio", self.encoder_ratio)
    if not 0.0 <= self.top_share <= 1.0:
      raise ConfigError("top_share", self.top_share, "must be in [0, 1]")
    check_choice("decoder_strategy", self.decoder_strategy, decoder.STRATEGIES)
    if not 0.0 < self.decoder_budget <= 1.0:
      raise ConfigError("decoder_budget", self.decoder_budget, "must be in (0, 1]")
    if self.uniform_step is not None and self.uniform_step < 1:
      raise ConfigError("uniform_step", self.uniform_step, "must be a positive number of time slices")

  @property
  def strategy(self) -> Strategy:
    """The decoder strategy object of `decoder_strategy`."""
    return decoder.STRATEGIES[self.decoder_strategy]

  def options(self) -> dict:
    """The strategy's own keyword options for its `select` / `count`."""
    return self.strategy.options(self)
