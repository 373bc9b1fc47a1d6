"""Benchmarks, measured after warm-up: results go to results/bench.json so changes can be compared.

So far: the precompute stage's cost per clip at several clip lengths (its windows make it linear in
the number of frames). Weights are freshly initialised: speed does not depend on their values.
"""
from __future__ import annotations

import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
from flax import nnx

from lvmae.atomic import write_atomic
from lvmae.train.precompute import Precompute, jitted_tokenize


def precompute_ms_per_clip(stage: Precompute, frames: int, *, clips: int = 8, repeats: int = 5) -> float:
  """Median wall time per clip (ms) of `stage.tokenize_clips` on `frames`-frame clips, after a warm-up."""
  stage = dataclasses.replace(stage, sampling=dataclasses.replace(stage.sampling, num_frames=frames, stride=1))
  encode = jitted_tokenize(stage.tokenizer.build_model(nnx.Rngs(0)))
  size = stage.data.image_size
  video = np.random.default_rng(0).integers(0, 256, (clips, frames, size, size, 3), dtype=np.uint8)
  stage.tokenize_clips(encode, video)  # compile and warm up
  stage.tokenize_clips(encode, video)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    stage.tokenize_clips(encode, video)
    times.append(time.perf_counter() - start)
  return statistics.median(times) / clips * 1e3


def update_bench(path: Path, section: str, values: dict) -> dict:
  """Merges `values` under `section` into the JSON file at `path` (written atomically)."""
  path = Path(path)
  data = json.loads(path.read_text()) if path.exists() else {}
  data[section] = values
  write_atomic(path, json.dumps(data, indent=1) + "\n")
  return data
