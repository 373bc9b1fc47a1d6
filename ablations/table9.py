"""Table 9: ViT-S/B/L, each with the most frames whose pre-training step fits the memory of ViT-B
at 128 frames with a 15% decoder budget (224 px, 90% encoder masking).

The budget is a whole step's compiled memory at 8 clips per device: at 1 clip the parameters and
Adam moments dominate, and ViT-L's (3.6 GB) alone exceed ViT-B's whole 128-frame step (2.6 GB),
so no frame count would fit; at 8 clips activations matter, as on a real accelerator."""
from ablations.spec import FramesFitTable

TABLE = FramesFitTable(
    id="9",
    title="Model size vs the most frames within ViT-B/128-frame memory (15% decoder budget)",
    experiment="pretrain",
    finetune_experiment="finetune",
    profile="paper",
    base=("schedule.batch_size=8", "masking.encoder_ratio=0.9", "masking.decoder_strategy='random'",
          "masking.decoder_budget=0.15"),
    sizes={"ViT-S": ("encoder.width=384", "encoder.depth=12", "encoder.heads=6"),
           "ViT-B": (),
           "ViT-L": ("encoder.width=1024", "encoder.depth=24", "encoder.heads=16")},
    reference=("ViT-B", 128),
    frame_choices=tuple(range(16, 513, 16)),
    claim="larger models, fewer frames, more compute",
)
