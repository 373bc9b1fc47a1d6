"""Reconstruction targets for the MAE decoder (pixels now; tokenizer latents later)."""
from lvmae.targets.pixels import NORMALISATIONS, pixel_targets

__all__ = ["NORMALISATIONS", "pixel_targets"]
