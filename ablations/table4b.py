"""Table 4b: reconstruction targets, with random and with adaptive decoder masking (15%, 32 frames)."""
from ablations.spec import (CPU_BUDGET, DECODER_STRATEGIES, RECONSTRUCTION_TARGETS, TOKENIZER_SCALE, Claim, Comparison,
                            GridTable, Probed, cpu_budget_note, cpu_budget_sets)

_BEST = ("adaptive FSQ-MagViT", "adaptive decoder mask")
_COLUMNS = ("random decoder mask", "adaptive decoder mask")

TABLE = GridTable(
    id="4b",
    title="Reconstruction targets, with random or adaptive decoder masking (15% budget, 32 frames)",
    experiment="finetune",
    probed=Probed(),  # cpu: linear probes, with floors
    rows=RECONSTRUCTION_TARGETS,
    columns={"random decoder mask": DECODER_STRATEGIES["random (15%)"],
             "adaptive decoder mask": DECODER_STRATEGIES["adaptive (15%)"]},
    seeds=(0, 1, 2),
    metric="top1",
    profile_sets={"cpu": cpu_budget_sets(**CPU_BUDGET)},  # Table 1's recipe: its RGB and FSQ-MagViT cells are shared
    profile_notes={"cpu": cpu_budget_note(**CPU_BUDGET, instrument="Table 1")},
    claim="MAGVIT tokens +3.3 over RGB; adaptive FSQ-MagViT with adaptive decoder masking best",
    claims=(
        Claim("MAGVIT tokens beat RGB pixels, with either decoder mask (the +3.3 margin is not checked)",
              (Comparison("MAGVIT (LFQ)", ">", "RGB pixels"),), on_slc=TOKENIZER_SCALE),
        Claim("adaptive FSQ-MagViT targets with adaptive decoder masking beat every other combination",
              tuple(Comparison(_BEST, ">", (row, column)) for row in RECONSTRUCTION_TARGETS for column in _COLUMNS
                    if (row, column) != _BEST),
              on_slc=("It joins both mechanisms: the targets' value depends on the cpu tokenizer, weak at this scale "
                      "(see Table 1's targets claim), and the adaptive mask's on its score finding SLC's events, which "
                      "is easy here.")),
    ),
)
