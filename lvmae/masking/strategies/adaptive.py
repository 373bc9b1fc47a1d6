"""Decoder strategy `adaptive` (LVMAE): the scored selection over the importance of the frozen
adaptive tokenizer, cached per clip by a precompute stage of a tokenizer with a scorer (the
pre-training's `importance`, e.g. @tokens_adaptive_fsq_magvit)."""
from lvmae.masking.strategies.base import cached_scores
from lvmae.masking.strategies.scored import Scored

STRATEGY = Scored("adaptive", cached_scores("precompute", scored_tokenizer=True))
