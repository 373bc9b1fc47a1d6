"""Figure 3: the adaptive tokenizer's token selection over clips: frames above, kept tokens below."""
from ablations.spec import SelectionFigure

TABLE = SelectionFigure(
    id="figure3",
    title="Adaptive decoder masks (top 10% by importance + 5% random) over pre-training clips",
    experiment="tokens_adaptive_fsq_magvit",
    panels={"adaptive 15%": ("adaptive", 0.15, 2 / 3), "top 15% by score": ("adaptive", 0.15, 1.0)},
    claim="selection follows what changes",
)
