"""Table 10: the adaptive FSQ-MagViT tokenizer's model card, generated from the paper profile."""
from ablations.spec import CardTable

TABLE = CardTable(
    id="10",
    title="Adaptive FSQ-MagViT tokenizer model card (paper profile)",
    experiment="tokenizer",
    profile="paper",
    fields={
        "dataset / input size": "data.name data.image_size",
        "frames / stride": "sampling.num_frames sampling.stride",
        "base channels / multipliers": "autoencoder.base_channels autoencoder.channel_multipliers",
        "residual blocks per stage": "autoencoder.num_res_blocks",
        "temporal / spatial downsampling": "autoencoder.temporal_downsample autoencoder.spatial_downsample",
        "latent dimension": "autoencoder.latent_dim",
        "quantizer levels (FSQ)": "quantizer.levels",
        "scorer features": "adaptive.features",
        "kept tokens in training / top-k estimator": "adaptive.keep_ratio adaptive.topk",
        "top-k temperature": "adaptive.temperature",
        "reconstruction loss": "losses.reconstruction",
        "GAN weight / start step": "losses.gan_weight losses.gan_start",
        "discriminator channels / layers": "losses.discriminator_channels losses.discriminator_layers",
        "perceptual loss file / weight": "losses.perceptual_file losses.perceptual_weight",
        "steps / batch": "schedule.steps schedule.batch_size",
        "peak lr / warm-up steps": "schedule.learning_rate schedule.warmup_steps",
        "compute dtype": "autoencoder.dtype",
    },
)
