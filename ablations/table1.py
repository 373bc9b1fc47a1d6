"""Table 1: decoder masking strategies x reconstruction targets, 32 frames (rows grow with issues 3-4)."""
from ablations.spec import GridTable

TABLE = GridTable(
    id="1",
    title="Decoder masking strategy vs reconstruction target (32 frames, encoder tube mask 90%)",
    experiment="finetune",
    rows={
        "none (100%)": ("pretrained.masking.decoder_strategy='none'",),
        "random (15%)": ("pretrained.masking.decoder_strategy='random'", "pretrained.masking.decoder_budget=0.15"),
    },
    columns={"RGB": ("pretrained.targets.kind='rgb'",)},
    seeds=(0, 1, 2),
    metric="top1",
    claim="adaptive at 15% >= none at 100% and > every other strategy, for both targets; tokens > RGB",
)
