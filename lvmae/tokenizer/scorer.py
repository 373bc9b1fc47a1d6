"""The token scorer of the adaptive tokenizer: a two-layer strided 3D-CNN that maps a video onto the
latent token grid, and the temporal-difference importance rule (also usable on any feature grid,
e.g. patch embeddings for the EVEREST baseline).

Conventions:
- Videos are (B, T, H, W, C) channels-last; features are (B, t, h, w, D) with
  (t, h, w) = (T / temporal_stride, H / spatial_stride, W / spatial_stride).
- The two convolutions have kernel = stride and 'VALID' padding (non-overlapping tubelets, a
  two-level patchify), so T, H, W must be divisible by the strides. Each feature then depends
  only on its own tubelet: identical frames give identical features at every latent time step
  (no zero-padding border effects), and a local change only moves the token that covers it.
- The total stride s of an axis is split as s = s1 * s2 with s2 the largest divisor of s with
  s2 * s2 <= s (e.g. 2 = 2*1, 4 = 2*2, 8 = 4*2, 16 = 4*4); layer 1 strides by s1, layer 2 by s2.
- Importance of a token = Euclidean distance between its feature and the feature at the same
  (h, w) one latent time step earlier. The first time step has no predecessor and must always
  be kept: it gets stop_gradient(max over the sample's other scores) + 1 (not +inf, which would
  poison gradients and create top-k ties). A clip with one latent time step scores all ones.
- The distance uses a safe sqrt (value 0 and gradient 0 at zero difference) so static regions
  have exactly zero importance and finite gradients.
- Parameters are float32; `dtype` is the conv compute dtype; scores are float32, flattened over
  (t, h, w) in row-major order, (B, t*h*w).
- Selecting tokens for the MAE's decoder uses `selection_scores` instead (on the host for cached
  scores, in the step for EVEREST's patch embeddings): the same distance, but the first step is
  scored by its change to the second, since "always keep the first step" would spend a 10-15%
  decoder budget on one time slice.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

PARAM_DTYPE = jnp.float32


def split_stride(stride: int) -> tuple[int, int]:
  """stride -> (s1, s2), s1 * s2 == stride, s2 the largest divisor with s2 * s2 <= stride."""
  if stride < 1:
    raise ValueError(f"stride={stride} must be >= 1")
  s2 = max(d for d in range(1, stride + 1) if stride % d == 0 and d * d <= stride)
  return stride // s2, s2


def _safe_norm(x: jax.Array) -> jax.Array:
  """Euclidean norm over the last axis; 0 with zero gradient where x == 0 (plain sqrt gives NaN)."""
  sq = jnp.sum(jnp.square(x), axis=-1)
  positive = sq > 0
  return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def temporal_difference_scores(features: jax.Array) -> jax.Array:
  """(B, t, h, w, D) -> (B, t*h*w) float32 importance, row-major over (t, h, w).

  Entries at t >= 1: ||f[b, t, y, x] - f[b, t-1, y, x]||_2. Entries at t == 0:
  stop_gradient(max over the sample's t >= 1 entries) + 1, so they are always kept by top-k.
  """
  if features.ndim != 5:
    raise ValueError(f"features must be (B, t, h, w, D), got shape {features.shape}")
  f = features.astype(jnp.float32)
  b, t, h, w, _ = f.shape
  dist = _safe_norm(f[:, 1:] - f[:, :-1])  # (B, t-1, h, w)
  if t > 1:
    top = jnp.max(dist.reshape(b, -1), axis=1)
  else:
    top = jnp.zeros((b,), jnp.float32)
  first = jnp.broadcast_to(jax.lax.stop_gradient(top + 1.0)[:, None, None, None], (b, 1, h, w))
  return jnp.concatenate([first, dist], axis=1).reshape(b, t * h * w)


class TokenScorer(nnx.Module):
  """conv(kernel = stride = (st1, ss1, ss1)) -> swish -> conv(kernel = stride = (st2, ss2, ss2)),
  then temporal-difference importance on the resulting (t, h, w) grid."""

  def __init__(self, in_channels: int, features: int, temporal_stride: int, spatial_stride: int,
               *, dtype=jnp.float32, rngs: nnx.Rngs):
    st1, st2 = split_stride(temporal_stride)
    ss1, ss2 = split_stride(spatial_stride)
    self.temporal_stride, self.spatial_stride = temporal_stride, spatial_stride
    self.feature_dim = features
    self.conv1 = nnx.Conv(in_channels, features, kernel_size=(st1, ss1, ss1),
                          strides=(st1, ss1, ss1), padding="VALID", dtype=dtype,
                          param_dtype=PARAM_DTYPE, rngs=rngs)
    self.conv2 = nnx.Conv(features, features, kernel_size=(st2, ss2, ss2),
                          strides=(st2, ss2, ss2), padding="VALID", dtype=dtype,
                          param_dtype=PARAM_DTYPE, rngs=rngs)

  def token_grid(self, video_shape_thw) -> tuple[int, int, int]:
    """(T, H, W) -> (t, h, w); raises ValueError when the strides do not divide the clip."""
    t, h, w = video_shape_thw
    st, ss = self.temporal_stride, self.spatial_stride
    if t % st or h % ss or w % ss:
      raise ValueError(f"clip (T, H, W)={(t, h, w)} is not divisible by the scorer strides "
                       f"(temporal, spatial)={(st, ss)}")
    return t // st, h // ss, w // ss

  def features(self, video: jax.Array) -> jax.Array:
    """(B, T, H, W, C) -> (B, t, h, w, features) in the compute dtype."""
    self.token_grid(video.shape[1:4])
    return self.conv2(jax.nn.swish(self.conv1(video)))

  def importance(self, features: jax.Array) -> jax.Array:
    """(B, t, h, w, D) -> (B, t*h*w) float32; see `temporal_difference_scores`."""
    return temporal_difference_scores(features)

  def __call__(self, video: jax.Array) -> jax.Array:
    """(B, T, H, W, C) -> importance scores (B, N), N = t*h*w, row-major over (t, h, w)."""
    return self.importance(self.features(video))


def selection_scores(features):
  """(B, t, h, w, F) features of a whole clip -> (B, t*h*w) importance for decoder masking:
  distance to the previous time step; the first step gets its distance to the second. numpy in,
  numpy out; jax in (also under jit), jax out. Used for the tokenizer scorer's features and for
  EVEREST's patch embeddings."""
  xp = jnp if isinstance(features, jax.Array) else np
  change = xp.linalg.norm(xp.diff(features.astype(xp.float32), axis=1), axis=-1)  # (B, t-1, h, w)
  if change.shape[1] == 0:
    return xp.ones(features.shape[:1] + (int(np.prod(features.shape[1:4])),), xp.float32)
  scores = xp.concatenate([change[:, :1], change], axis=1)
  return scores.reshape(scores.shape[0], -1).astype(xp.float32)
