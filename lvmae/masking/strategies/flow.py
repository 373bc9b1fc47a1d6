"""Decoder strategy `flow`: the scored selection over each token's optical-flow magnitude, cached
per clip by a flow-scores stage (the pre-training's `importance`, @flow_scores)."""
from lvmae.masking.strategies.base import cached_scores
from lvmae.masking.strategies.scored import Scored

STRATEGY = Scored("flow", cached_scores("flow_scores"))
