"""Token masks: the token grid, encoder tube masking, the decoder strategies and their config,
SLC's event tokens and the one hard top-k.

Convention: a mask is a set of flat token indices (int32, fixed count per clip, sorted), never a
boolean array of variable size. `visible`/`masked` index the encoder's tokens; `selected` indexes
the tokens the decoder reconstructs.
"""
from lvmae.masking.grid import patchify, token_grid, unpatchify
from lvmae.masking.tube import num_visible, tube_mask
from lvmae.masking.decoder import STRATEGIES, num_selected, select

__all__ = [
    "STRATEGIES", "num_selected", "num_visible", "patchify", "select", "token_grid", "tube_mask", "unpatchify",
]
