"""The (adaptive) FSQ-MagViT tokenizer: 3D-CNN encoder -> [token selection] -> quantizer -> decoder.

Videos enter as float (B, T, H, W, 3) in [-1, 1]; latents are (B, t, h, w, D) on the MAE's token
grid, D = the quantizer's dimension. With a scorer (the adaptive tokenizer), the tokens outside a
clip's top k importance scores are zeroed before quantization and decoding; the top-k estimator
passes gradients to the scorer (straight-through: forward hard mask, backward soft mask).
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from lvmae.tokenizer import topk as topk_lib
from lvmae.tokenizer.magvit import MagvitSpec, decoder_from_spec, encoder_from_spec
from lvmae.tokenizer.quantizers import FSQ, LFQ
from lvmae.tokenizer.scorer import TokenScorer
from lvmae.validation import ConfigError, OpenUnit, PositiveFloat, PositiveInt, check_choice, check_fields

# The temperature-like hyper-parameter of each differentiable top-k estimator.
TOPK_TEMPERATURE = {"perturbed": "sigma", "sinkhorn": "epsilon", "sigmoid": "temperature"}


@dataclasses.dataclass(frozen=True)
class Adaptive:
  """The token scorer and the differentiable top-k of the adaptive tokenizer.

  keep_ratio: share of a clip's latent tokens kept during tokenizer training (the paper keeps
  768 of 1,568 per 16-frame clip, 0.49). topk: the estimator, unknown in the paper.
  """
  features: PositiveInt = 32
  keep_ratio: OpenUnit = 0.49
  topk: str = "perturbed"
  temperature: PositiveFloat = 0.05

  def __post_init__(self):
    check_fields(self)
    check_choice("topk", self.topk, TOPK_TEMPERATURE)

  def topk_fn(self) -> Callable:
    return topk_lib.make_topk(self.topk, **{TOPK_TEMPERATURE[self.topk]: self.temperature})


def check_quantizer(spec: MagvitSpec, quantizer: FSQ | LFQ) -> None:
  if spec.latent_dim != quantizer.dim:
    raise ConfigError("autoencoder.latent_dim", spec.latent_dim,
                      f"must equal the quantizer's dimension {quantizer.dim}")


class VideoTokenizer(nnx.Module):
  """Encoder, optional scorer, quantizer (parameter-free) and decoder."""

  def __init__(self, spec: MagvitSpec, quantizer: FSQ | LFQ, adaptive: Adaptive | None, *, rngs: nnx.Rngs):
    check_quantizer(spec, quantizer)
    self.encoder = encoder_from_spec(spec, 3, rngs)
    self.decoder = decoder_from_spec(spec, 3, rngs)
    self.quantizer = quantizer
    self.adaptive = adaptive
    ft, fs = spec.factors
    self.scorer = (TokenScorer(3, adaptive.features, ft, fs, dtype=jnp.dtype(spec.dtype), rngs=rngs)
                   if adaptive is not None else None)

  def scores(self, video: jax.Array) -> jax.Array:
    """(B, N) importance, N = t*h*w row-major; only for the adaptive tokenizer."""
    if self.scorer is None:
      raise ValueError("this tokenizer has no scorer (it is not adaptive)")
    return self.scorer(video)

  def tokenize(self, video: jax.Array) -> dict:
    """Frozen use (precompute): quantized latents of every token, indices and, for the adaptive
    tokenizer, importance scores and the scorer's features (B, t, h, w, F)."""
    z = self.encoder(video)
    z_q, indices = self.quantizer(z)
    out = {"latents": z_q, "indices": indices}
    if self.scorer is not None:
      features = self.scorer.features(video)
      out["scores"] = self.scorer.importance(features)
      out["score_features"] = features
    return out

  def __call__(self, video: jax.Array, key: jax.Array) -> dict:
    """Training forward pass: reconstruction, latents (pre- and post-quantization), keep mask.
    "indices" are the codes after selection; "all_indices" the codes of every token."""
    z = self.encoder(video)
    b, t, h, w, d = z.shape
    keep = jnp.ones((b, t * h * w), jnp.float32)
    out = {"all_indices": self.quantizer(z)[1]}  # every token's code, as `tokenize` gives them
    if self.scorer is not None:
      scores = self.scores(video)
      k = max(1, int(round(self.adaptive.keep_ratio * t * h * w)))
      topk = self.adaptive.topk_fn()
      hard, soft = jax.vmap(lambda s, kk: topk(s, k, kk))(scores, jax.random.split(key, b))
      keep = topk_lib.straight_through(hard, soft)
      out["scores"] = scores
    z = z * keep.reshape(b, t, h, w, 1).astype(z.dtype)
    z_q, indices = self.quantizer(z)
    return {**out, "recon": self.decoder(z_q), "z": z, "z_q": z_q, "indices": indices, "keep": keep}
