"""Table 6: frame sweep from 16 to 96 frames with the full method on Something-Something v2 (the
paper profile) or SLC (smoke and cpu; there the rows shared with Table 4c reuse its runs)."""
from ablations.spec import LVMAE_SETS, NO_WORSE_MARGIN, Claim, Comparison, GridTable, clip_sets, dataset_sets

_FRAMES = {16: 8, 32: 4, 64: 2, 96: 1}   # frames: stride (96 frames at stride 1: 3/4 of an SLC clip)

TABLE = GridTable(
    id="6",
    title="Frame sweep, 16 to 96 frames (adaptive targets and decoder mask, 15% budget)",
    experiment="finetune",
    rows={f"{frames} frames": LVMAE_SETS + clip_sets(frames, stride) for frames, stride in _FRAMES.items()},
    columns={"top-1": ()},
    seeds=(0, 1, 2),
    metric="top1",
    profile_sets={"paper": dataset_sets("ssv2")},
    claim="longer clips help, saturating above 64 frames",
    claims=(Claim("longer clips help up to 64 frames",
                  (Comparison("32 frames", ">", "16 frames"), Comparison("64 frames", ">", "32 frames"))),
            Claim(f"saturating above 64 frames: 96 frames is no worse (within {NO_WORSE_MARGIN:g} point) than 64",
                  (Comparison("96 frames", ">=", "64 frames", NO_WORSE_MARGIN),))),
)
