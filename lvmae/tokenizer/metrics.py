"""Evaluation metrics of the tokenizer (plain numpy functions, host side): reconstruction PSNR,
codebook usage and perplexity. Inputs may be numpy or jax arrays; every function returns a Python
float. (How well scores cover SLC's event tokens: lvmae.masking.events.)
"""
from __future__ import annotations

import numpy as np


def psnr(recon, target, max_value: float = 1.0) -> float:
  """Mean over clips of 10 log10(max_value^2 / MSE of the clip); inputs (B, ...) floats. A clip
  reconstructed exactly has infinite PSNR (so does the mean then)."""
  recon, target = np.asarray(recon, np.float64), np.asarray(target, np.float64)
  if recon.shape != target.shape or recon.ndim < 1:
    raise ValueError(f"recon {recon.shape} and target {target.shape} must be the same (B, ...)")
  mse = np.mean(np.square(recon - target).reshape(recon.shape[0], -1), axis=1)
  with np.errstate(divide="ignore"):
    per_clip = 10.0 * np.log10(max_value ** 2 / mse)
  return float(np.mean(per_clip))


def _code_counts(indices, codebook_size: int) -> np.ndarray:
  idx = np.asarray(indices).ravel()
  if codebook_size < 1:
    raise ValueError(f"codebook_size={codebook_size} must be >= 1")
  if idx.size == 0:
    raise ValueError("indices must not be empty")
  if not np.issubdtype(idx.dtype, np.integer):
    raise ValueError(f"indices must be integers, got dtype {idx.dtype}")
  if idx.min() < 0 or idx.max() >= codebook_size:
    raise ValueError(f"indices must lie in [0, {codebook_size}), got [{idx.min()}, {idx.max()}]")
  return np.bincount(idx, minlength=codebook_size)


def codebook_usage(indices, codebook_size: int) -> float:
  """Share of the codebook's codes that occur at least once in `indices` (any int shape)."""
  return float(np.count_nonzero(_code_counts(indices, codebook_size)) / codebook_size)


def codebook_perplexity(indices, codebook_size: int) -> float:
  """exp(entropy) (natural log) of the empirical code distribution: 1 for a single code,
  codebook_size for uniform use of every code."""
  counts = _code_counts(indices, codebook_size)
  p = counts[counts > 0] / counts.sum()
  return float(np.exp(-np.sum(p * np.log(p))))

