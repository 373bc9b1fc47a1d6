"""Table 4c: the full method (adaptive FSQ-MagViT targets, adaptive decoder mask at 15%) at 16,
32, 64 and 128 frames, pre-trained and fine-tuned at that length.

On SLC (smoke, cpu) the clips are SLC v2's long-range variant (`long`: 2-frame events) and each
length covers the whole 128-frame clip (stride 128 / frames), so a longer clip sees more of the
events (Bayes-optimal top-1: 0.28 at 16 frames, 0.41 at 32, 1.0 at 64 and 128). Fine-tuning at 128
frames drops 20% of the tokens at random while training, as the paper does. At the cpu profile each
cell is a linear probe of its frozen encoder at the row's length (ablations.kinds.probed.Probed; no token
drop there); the floors see 128 frames."""
from ablations.spec import (LONG_RANGE, LONG_RANGE_NOTE, LONG_RANGE_SETS, LVMAE_SETS, NO_WORSE_MARGIN, Claim,
                            Comparison, GridTable, Probed, clip_sets)

_FRAMES = {16: 8, 32: 4, 64: 2, 128: 1}   # frames: stride

TABLE = GridTable(
    id="4c",
    title="Clip length: 16 / 32 / 64 / 128 frames (adaptive targets and decoder mask, 15% budget)",
    experiment="finetune",
    probed=Probed(floor_view=clip_sets(128, 1, ("",))),  # cpu: linear probes, floors at 128 frames
    profile_sets=LONG_RANGE_SETS,  # SLC v2's long-range variant; at cpu the long-range recipe
    profile_notes={"cpu": LONG_RANGE_NOTE},
    rows={f"{frames} frames": LVMAE_SETS + clip_sets(frames, stride) + (("token_drop=0.2",) if frames == 128 else ())
          for frames, stride in _FRAMES.items()},
    columns={"top-1": ()},
    seeds=(0, 1, 2),
    metric="top1",
    claim="big gains up to 64 frames, small from 64 to 128",
    claims=(Claim("longer clips help up to 64 frames",
                  (Comparison("32 frames", ">", "16 frames"), Comparison("64 frames", ">", "32 frames")),
                  on_slc=(LONG_RANGE + "Each length spans the whole clip, so the Bayes bound rises 0.28, 0.41, 1.0 "
                          "from 16 to 64 frames: the data holds the gain; the probe says whether the encoder uses it.")),
            Claim(f"128 frames is no worse (within {NO_WORSE_MARGIN:g} point) than 64 (the paper's gain there is small)",
                  (Comparison("128 frames", ">=", "64 frames", NO_WORSE_MARGIN),),
                  on_slc=("On SLC a 64-frame stride-2 view already sees every event (Bayes-optimal 1.0), so 128 frames "
                          "add nothing the label needs: 'no worse' is what the data allows, and a loss would be the "
                          "cost of twice the tokens for a small encoder."))),
)
