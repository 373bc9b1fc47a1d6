"""Pixel reconstruction targets for the MAE decoder (Eq. 1) and their normalisations (pixels.py).

Token targets (Eq. 2) are not computed here: they are a frozen tokenizer's latents, cached per clip
by a precompute stage (lvmae.train.precompute) and read by the pre-training stage
(lvmae.train.pretrain.TOKEN_TARGETS).
"""
from lvmae.targets.pixels import NORMALISATIONS, pixel_targets

__all__ = ["NORMALISATIONS", "pixel_targets"]
