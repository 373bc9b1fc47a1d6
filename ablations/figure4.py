"""Figure 4: the same SLC clips under flow, random, adaptive and oracle decoder masks (15% budget).

Each score-based panel mixes the top 2/3 of the budget by score with random tokens, as the MAE's
decoder does in pre-training (10% + 5%): the figure shows what the decoder is given. Flow scores are
the per-token optical-flow magnitudes of `flow_scores`; adaptive ones the frozen tokenizer's
importance; the oracle's are SLC's event tokens (an upper bound, SLC only). SLC's panning background
and bouncing discs move everywhere, so flow should spend its budget on them: the claim holds if
flow's event-token recall is below adaptive's and no better than random's + 0.05 (SLC.md).
"""
from ablations.spec import EVENTS, Bound, Claim, Panel, SelectionFigure

_BUDGET, _TOP = 0.15, 2 / 3

TABLE = SelectionFigure(
    id="figure4",
    title="Flow vs random vs adaptive vs oracle decoder masks (15% budget) over the same SLC clips",
    panels={"flow (15%)": Panel("flow", _BUDGET, _TOP, "flow_scores"),
            "random (15%)": Panel("random", _BUDGET),
            "adaptive (15%)": Panel("adaptive", _BUDGET, _TOP, "tokens_adaptive_fsq_magvit"),
            "oracle (15%)": Panel("oracle", _BUDGET, _TOP, EVENTS)},
    claim="flow is fooled by background motion",
    claims=(Claim("flow is fooled by background motion: its event-token recall is below adaptive's and at most "
                  "random's + 0.05",
                  (Bound("flow (15%)", "<", "adaptive (15%)", quantity="event-token recall"),
                   Bound("flow (15%)", "<=", "random (15%)", offset=0.05, quantity="event-token recall"))),),
)
