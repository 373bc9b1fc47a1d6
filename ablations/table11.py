"""Table 11: the ViT-B model card (pre-training and fine-tuning), generated from the paper profile."""
from ablations.spec import CardTable

TABLE = CardTable(
    id="11",
    title="ViT-B model card: pre-training and fine-tuning settings (paper profile)",
    experiment="finetune",
    profile="paper",
    fields={
        "encoder width / depth / heads": "encoder.width encoder.depth encoder.heads",
        "encoder MLP ratio": "encoder.mlp_ratio",
        "decoder width / depth / heads": "pretrained.decoder.width pretrained.decoder.depth pretrained.decoder.heads",
        "tubelet (t, h, w)": "tubelet",
        "input size": "data.image_size",
        "frames / stride": "sampling.num_frames sampling.stride",
        "encoder mask ratio (tube)": "pretrained.masking.encoder_ratio",
        "decoder strategy / budget": "pretrained.masking.decoder_strategy pretrained.masking.decoder_budget",
        "pixel target normalisation": "pretrained.targets.pixel_norm",
        "pre-training steps / batch": "pretrained.schedule.steps pretrained.schedule.batch_size",
        "pre-training peak lr / warm-up steps": "pretrained.schedule.learning_rate pretrained.schedule.warmup_steps",
        "pre-training AdamW b1 / b2 / weight decay": "pretrained.schedule.b1 pretrained.schedule.b2 pretrained.schedule.weight_decay",
        "fine-tuning steps / batch": "schedule.steps schedule.batch_size",
        "fine-tuning peak lr / warm-up steps": "schedule.learning_rate schedule.warmup_steps",
        "fine-tuning AdamW b1 / b2 / weight decay": "schedule.b1 schedule.b2 schedule.weight_decay",
        "fine-tuning token drop / label smoothing": "token_drop label_smoothing",
        "compute dtype / remat": "encoder.dtype encoder.remat",
        "dataset": "data.name",
    },
)
