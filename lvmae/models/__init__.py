"""The MAE models: fixed 3D position embeddings and the ViT encoder, decoder and classifier."""
from lvmae.models.posembed import sincos_1d, sincos_3d, split_width
from lvmae.models.vit import (
    POOLING_NORMS, Attention, Block, MAEDecoder, Mlp, Transformer, VideoClassifier, VideoEncoder,
    count_params, embed_positions)

__all__ = [
    "POOLING_NORMS", "Attention", "Block", "MAEDecoder", "Mlp", "Transformer", "VideoClassifier", "VideoEncoder",
    "count_params", "embed_positions", "sincos_1d", "sincos_3d", "split_width",
]
