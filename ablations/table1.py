"""Table 1: decoder masking strategies x reconstruction targets, 32 frames.

The adaptive row's importance scores come from the adaptive FSQ-MagViT tokenizer; the FSQ-MagViT
column's targets are the latents of the FSQ-MagViT tokenizer trained without the scorer.
"""
from ablations.spec import GridTable

TABLE = GridTable(
    id="1",
    title="Decoder masking strategy vs reconstruction target (32 frames, encoder tube mask 90%)",
    experiment="finetune",
    rows={
        "none (100%)": ("pretrained.masking.decoder_strategy='none'",),
        "random (15%)": ("pretrained.masking.decoder_strategy='random'", "pretrained.masking.decoder_budget=0.15"),
        "adaptive (15%)": ("pretrained.masking.decoder_strategy='adaptive'", "pretrained.masking.decoder_budget=0.15",
                           "pretrained.importance=@tokens_adaptive_fsq_magvit"),
    },
    columns={
        "RGB": ("pretrained.targets.kind='rgb'",),
        "FSQ-MagViT": ("pretrained.targets.kind='fsq_magvit'", "pretrained.tokens=@tokens_fsq_magvit"),
    },
    seeds=(0, 1, 2),
    metric="top1",
    claim="adaptive at 15% >= none at 100% and > every other strategy, for both targets; tokens > RGB",
)
