"""Table 7: the state of the art on FineGym288 (mean per-class top-1, as FineGym reports).

Ours: the full method with ViT-L at 128 frames, pre-trained on FineGym288 itself (the paper's
Kinetics-710 stage is not chained here). Cells are paper-profile runs on the real dataset only.
"""
from ablations.spec import LVMAE_VIT_L_128_SETS, RealDataTable, dataset_sets

TABLE = RealDataTable(
    id="7",
    title="State of the art: FineGym288 (ViT-L, 128 frames)",
    experiment="finetune",
    rows={"LVMAE ViT-L, 128 frames": LVMAE_VIT_L_128_SETS},
    columns={"FineGym288 mean class top-1": (dataset_sets("finegym288"), "mean_class_top1"),
             "FineGym288 top-1": (dataset_sets("finegym288"), "top1")},
    metric_label="top-1 (%)",
    claim="LVMAE ViT-L is the best on FineGym288",
    note="Ours is pre-trained on FineGym288 only (no Kinetics-710 stage).",
)
