"""Table 4d: the decoder masking strategies at 128 frames, with the paper's targets (adaptive
FSQ-MagViT latents), pre-trained and fine-tuned at 128 frames (20% token drop in fine-tuning, as
Table 4c's 128-frame row, whose runs the adaptive row shares).

Strategies and budgets are Table 1's (ablations.spec.DECODER_STRATEGIES) less none, which does not
fit at 128 frames (Table 2). On SLC (smoke, cpu) one column, on SLC v2's long-range variant (as
every 128-frame table: Tables 2, 4c and 8 share its runs), each cell a linear probe at the cpu
profile (ablations.kinds.probed.Probed; floors at 128 frames); at the paper profile EPIC-Kitchens-100 and
Diving48, as the paper, and no oracle row (real data has no event masks). A column's dataset
reaches a row's importance-score stage only where the row has one (ablations.kinds.common.Cell.sets_at).
"""
from ablations.spec import (COMPARED_STRATEGIES, DECODER_STRATEGIES, LONG_RANGE_NOTE, LONG_RANGE_SETS,
                            LVMAE_TARGET_SETS, Claim, Comparison, GridTable, Measure, Probed, clip_sets, dataset_sets)

_AT_128 = clip_sets(128, 1) + ("token_drop=0.2",)
_ROWS = {label: LVMAE_TARGET_SETS + sets + _AT_128 for label, sets in DECODER_STRATEGIES.items()
         if label != "none (100%)"}

TABLE = GridTable(
    id="4d",
    title="Decoder masking strategies at 128 frames (adaptive FSQ-MagViT targets)",
    experiment="finetune",
    probed=Probed(floor_view=clip_sets(128, 1, ("",))),  # cpu: linear probes, floors at 128 frames
    rows=_ROWS,
    columns={"top-1": ()},
    profile_columns={"paper": {"EK100": (), "Diving48": dataset_sets("diving48")}},
    profile_sets=LONG_RANGE_SETS,  # SLC v2's long-range variant; at cpu the long-range recipe
    profile_notes={"cpu": LONG_RANGE_NOTE},
    seeds=(0, 1, 2),
    metric="top1",
    row_metrics={"selection recall (%)": Measure("pretrained", "selection_recall", 100.0)},
    skip_rows={"paper": ("oracle (15%)",)},
    claim="adaptive masking is the best strategy at 128 frames",
    claims=(Claim("adaptive at 15% beats every other decoder strategy at 128 frames",
                  tuple(Comparison("adaptive (15%)", ">", other) for other in COMPARED_STRATEGIES),
                  on_slc=("As in Table 1: SLC's abrupt glyphs are easy for any change score (EVEREST), and flow "
                          "follows the distractor discs; at 128 frames the 2-frame events of the long-range variant "
                          "are seen only by a dense view, so selection matters more per token.")),),
)
