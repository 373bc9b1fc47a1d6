"""Decoder strategy `none`: decode every encoder-masked token (VideoMAE's default). No scores, no
options; the budget is not used."""
from __future__ import annotations

import jax.numpy as jnp

from lvmae.masking.strategies.base import Strategy


class DecodeAllMasked(Strategy):
  name = "none"

  def select(self, key, num_tokens, budget, *, scores=None, masked=None, grid=None):
    """The encoder-masked token indices themselves."""
    del key, num_tokens, budget, scores, grid
    if masked is None:
      raise ValueError("decoder strategy 'none' needs the encoder-masked token indices")
    return jnp.asarray(masked, jnp.int32)

  def count(self, num_tokens, budget, num_masked, *, grid=None, **options):
    del num_tokens, budget, grid, options
    return num_masked


STRATEGY = DecodeAllMasked()
