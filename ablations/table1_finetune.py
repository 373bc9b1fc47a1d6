"""Table 1's extreme pair fine-tuned: does the paper's protocol see what the cpu probe sees?

At the cpu profile Table 1 is measured by the linear probe (ablations.kinds.probed). This table
confirms its extreme pair, the oracle and the random decoder mask (RGB targets, 15%), with the
fine-tuning recipe the paper's tables use (the cpu profile's: 600 steps of 16 clips, layer decay,
fc-norm; README "The cpu profile"). One pre-training each (seed 0, the acceptance test's), five
fine-tuning seeds: the spread is fine-tuning's alone, and the rows are paired by fine-tuning seed.
On real data there are no event masks, so the oracle row is not built at the paper profile.
"""
from ablations.spec import DECODER_STRATEGIES, RECONSTRUCTION_TARGETS, Claim, Comparison, GridTable

ORACLE, RANDOM = "oracle (15%)", "random (15%)"

TABLE = GridTable(
    id="1-finetune",
    title="Table 1's extreme pair fine-tuned: oracle vs random decoder mask (RGB, 15%), 5 fine-tuning seeds",
    experiment="finetune",
    rows={row: DECODER_STRATEGIES[row] + RECONSTRUCTION_TARGETS["RGB pixels"] for row in (ORACLE, RANDOM)},
    columns={"top-1": ()},
    seeds=(0, 1, 2, 3, 4),
    pretraining_seed=0,
    metric="top1",
    skip_rows={"paper": (ORACLE,)},
    claims=(Claim("fine-tuning sees the oracle decoder mask beat random, as the probe does",
                  (Comparison(ORACLE, ">", RANDOM),),
                  on_slc=("The acceptance test shows the oracle's encoder is the better one under the probe. Fine-"
                          "tuning trains every layer on SLC's labels, so it can close the gap the probe sees; a null "
                          "here means that at this scale fine-tuning washes out what pre-training added, and the "
                          "probed tables measure pre-training where fine-tuning could not.")),),
)
