"""Decoder strategy `everest` (EVEREST): the scored selection over the change of each token's
patch embedding (the MAE's own, without gradient) over one time step, computed in the step."""
from __future__ import annotations

import jax

from lvmae.masking.strategies.base import ScoreSource
from lvmae.masking.strategies.scored import Scored
from lvmae.tokenizer.scorer import selection_scores


def embedding_change(key, batch, patches, *, grid, embed):
  """(B, N) distances of each token's embedding to the one a time step earlier (the first step's:
  to the one after; lvmae.tokenizer.scorer.selection_scores)."""
  del key, batch
  embedded = jax.lax.stop_gradient(embed(patches))
  return selection_scores(embedded.reshape(patches.shape[0], *grid, -1))


STRATEGY = Scored("everest", ScoreSource(embedding_change))
