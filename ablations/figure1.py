"""Figure 1 (right): memory and FLOPs of a ViT-B pre-training step on 128-frame clips as the
decoder's token budget shrinks (batch 1, 224 px, 90% encoder masking); 100% is no decoder masking."""
from ablations.spec import CostFigure

_BUDGETS = (1.0, 0.75, 0.5, 0.25, 0.15, 0.1, 0.05)

TABLE = CostFigure(
    id="figure1",
    title="ViT-B pre-training step at 128 frames: compiled memory and FLOPs by decoder budget",
    experiment="pretrain",
    profile="paper",
    base=("sampling.num_frames=128", "schedule.batch_size=1", "masking.encoder_ratio=0.9"),
    points={f"{round(100 * b)}%": (("masking.decoder_strategy='none'",) if b == 1.0 else
                                   ("masking.decoder_strategy='random'", f"masking.decoder_budget={b}"))
            for b in _BUDGETS},
    x_label="decoder token budget",
    memory_budget_gib=16.0,
    memory_budget_label="16 GiB (one TPU v5e chip)",
    claim="decoder masking at 15% cuts pre-training memory enough for 128 frames on one accelerator",
)
