"""The masked autoencoder: encoder over visible tokens, decoder over selected tokens."""
from __future__ import annotations

import jax.numpy as jnp
from flax import nnx


def gather_tokens(tokens, indices):
  """(B, N, D), (B, K) -> (B, K, D)."""
  return jnp.take_along_axis(tokens, indices[..., None], axis=1)


class MAE(nnx.Module):
  """Dual-masked video MAE (VideoMAE V2): encode visible tokens, reconstruct selected ones."""

  def __init__(self, encoder: nnx.Module, decoder: nnx.Module):
    self.encoder = encoder
    self.decoder = decoder

  def __call__(self, patches, visible, selected, grid):
    """patches (B, N, P) of the whole clip; visible (B, V) and selected (B, K) token indices.

    Returns predictions (B, K, out_dim) at the selected positions.
    """
    encoded = self.encoder(gather_tokens(patches, visible), visible, grid)
    return self.decoder(encoded, visible, selected, grid)
