"""The adaptive FSQ-MagViT tokenizer: quantizers, differentiable top-k, 3D-CNN autoencoder, scorer."""
