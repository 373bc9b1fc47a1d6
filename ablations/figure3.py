"""Figure 3: the adaptive tokenizer's token selection over clips: frames above, kept tokens below."""
from ablations.spec import Panel, SelectionFigure

_SCORES = "tokens_adaptive_fsq_magvit"

TABLE = SelectionFigure(
    id="figure3",
    title="Adaptive decoder masks (top 10% by importance + 5% random) over pre-training clips",
    panels={"adaptive 15%": Panel("adaptive", 0.15, 2 / 3, _SCORES),
            "top 15% by score": Panel("adaptive", 0.15, 1.0, _SCORES)},
    claim="selection follows what changes",
)
