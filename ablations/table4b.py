"""Table 4b: reconstruction targets, with random and with adaptive decoder masking (15%, 32 frames)."""
from ablations.spec import Claim, Comparison, GridTable

_TARGETS = {
    "RGB pixels": ("pretrained.targets.kind='rgb'",),
    "MAGVIT (LFQ)": ("pretrained.targets.kind='magvit'", "pretrained.tokens=@tokens_magvit"),
    "FSQ-MagViT": ("pretrained.targets.kind='fsq_magvit'", "pretrained.tokens=@tokens_fsq_magvit"),
    "adaptive FSQ-MagViT": ("pretrained.targets.kind='adaptive_fsq_magvit'",
                            "pretrained.tokens=@tokens_adaptive_fsq_magvit"),
}

_BEST = ("adaptive FSQ-MagViT", "adaptive decoder mask")
_COLUMNS = ("random decoder mask", "adaptive decoder mask")

TABLE = GridTable(
    id="4b",
    title="Reconstruction targets, with random or adaptive decoder masking (15% budget, 32 frames)",
    experiment="finetune",
    rows=_TARGETS,
    columns={
        "random decoder mask": ("pretrained.masking.decoder_strategy='random'", "pretrained.masking.decoder_budget=0.15"),
        "adaptive decoder mask": ("pretrained.masking.decoder_strategy='adaptive'",
                                  "pretrained.masking.decoder_budget=0.15",
                                  "pretrained.importance=@tokens_adaptive_fsq_magvit"),
    },
    seeds=(0, 1, 2),
    metric="top1",
    claim="MAGVIT tokens +3.3 over RGB; adaptive FSQ-MagViT with adaptive decoder masking best",
    claims=(
        Claim("MAGVIT tokens beat RGB pixels, with either decoder mask (the +3.3 margin is not checked)",
              (Comparison("MAGVIT (LFQ)", ">", "RGB pixels"),)),
        Claim("adaptive FSQ-MagViT targets with adaptive decoder masking beat every other combination",
              tuple(Comparison(_BEST, ">", (row, column)) for row in _TARGETS for column in _COLUMNS
                    if (row, column) != _BEST)),
    ),
)
