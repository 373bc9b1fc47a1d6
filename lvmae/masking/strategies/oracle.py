"""Decoder strategy `oracle`: the scored selection over SLC's event tokens (the batch's `info`
event masks), an upper bound for a scorer. Needs SLC data."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from lvmae.masking.events import event_tokens
from lvmae.masking.strategies.base import ScoreSource
from lvmae.masking.strategies.scored import Scored


def oracle_scores(key, events):
  """Scores from (..., N) 0/1 event tokens: every event token above every other, the others' order
  random (so a budget larger than the events is not piled on the first tokens)."""
  events = jnp.asarray(events, jnp.float32)
  return events + 0.5 * jax.random.uniform(key, events.shape)


def event_scores(key, batch, patches, *, grid, embed):
  """(B, N) oracle scores of the batch's event masks `info` (B, T, H, W)."""
  del patches, embed
  return oracle_scores(key, event_tokens(batch["info"], grid))


STRATEGY = Scored("oracle", ScoreSource(event_scores, batch_keys=("info",), needs_events=True))
