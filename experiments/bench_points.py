"""Pre-training steps measured one configuration per fresh process, so each peak memory is its own.

Sections of results/bench.json use it:
- `peer` (`lvmae bench --sections peer`, in `make bench`): four configurations at equal work with
  a peer implementation (the decoder reconstructs every token: strategy `none`) and with the
  method's 15% random decoder budget, each with remat none and full and with XLA's or the blockwise
  attention, and blockwise with only the MLP sublayers rematerialised (`PEER_SETTINGS`; the
  fastest within the peer's memory shown), beside the peer's published step time and peak memory
  (PEER, measured on the 2-core development machine).
- `parts` (`lvmae bench --sections parts`): where one peer configuration's equal-work step goes
  (PARTS_SETTING): the step in its own process, its parts (lvmae.bench.step_parts) in the caller's.
- `device` (`make bench-device`, `lvmae bench --sections device`): ViT-B at 16, 32 and 128 frames
  with the whole decoder (100%, where XLA's compiled memory fits the device) and the 15% budget,
  bf16, cuDNN attention on a GPU: step time, clips/s, peak device memory against XLA's prediction
  (what `lvmae cost` reports) and MFU. `shapes="tiny"` measures the same points at tiny shapes
  (a CPU, the tests).
Every point is the paper profile's `pretrain` with overrides; a point whose predicted memory
exceeds the budget (the device's, or 60% of a CPU machine's RAM) is reported as not run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import resource
import subprocess
import sys
from typing import Sequence

GIB = 2**30
EQUAL_WORK, METHOD = "none", "random"  # decoder strategies: every token (the peer's work), 15%


@dataclasses.dataclass(frozen=True)
class Point:
  """One measured configuration: overrides of the paper profile's `pretrain`."""
  name: str
  sets: tuple[str, ...]


def _model(width: int, depth: int, heads: int, decoder: tuple[int, int, int]) -> tuple[str, ...]:
  return (f"encoder.width={width}", f"encoder.depth={depth}", f"encoder.heads={heads}", f"decoder.width={decoder[0]}",
          f"decoder.depth={decoder[1]}", f"decoder.heads={decoder[2]}")


def _clips(size: int, tubelet: tuple[int, int, int], frames: int, batch: int) -> tuple[str, ...]:
  return (f"data.image_size={size}", f"tubelet={tubelet}", f"sampling.num_frames={frames}", "sampling.stride=1",
          f"schedule.batch_size={batch}")


def _strategy(strategy: str) -> tuple[str, ...]:
  return (f"masking.decoder_strategy='{strategy}'",) + (("masking.decoder_budget=0.15",) if strategy == METHOD else ())


def _precision(dtype: str, remat: str, attention: str = "xla") -> tuple[str, ...]:
  return tuple(f"{part}.{field}={value!r}" for part in ("encoder", "decoder")
               for field, value in (("dtype", dtype), ("remat", remat), ("attention_impl", attention)))


_TINY = _model(192, 4, 3, (128, 2, 4))
_VIT_B = _model(768, 12, 12, (384, 4, 6))
# The peer's configurations: name -> (model and clips, the peer's seconds per step and peak GiB).
PEER = {
    "tiny, 32 frames": (_TINY + _clips(32, (2, 8, 8), 32, 8), 0.159, 0.83),
    "tiny, 128 frames": (_TINY + _clips(32, (2, 8, 8), 128, 8), 0.673, 1.16),
    "ViT-B, 16 frames": (_VIT_B + _clips(224, (2, 16, 16), 16, 1), 1.74, 2.37),
    "ViT-B, 128 frames": (_VIT_B + _clips(224, (2, 16, 16), 128, 1), 42.7, 4.98),
}
PEER_SOURCE = ("Hugging Face transformers VideoMAEForPreTraining (torch 2.14, sdpa attention, AdamW, fp32), one "
               "pre-training step after warm-up, one process per measurement, peak RSS; 2-core development machine")


# (remat, attention) of each peer point: both remat extremes with XLA's attention and the blockwise
# one, and the blockwise attention with only the MLP sublayers rematerialised (remat "mlp").
PEER_SETTINGS = (("none", "xla"), ("none", "blockwise"), ("full", "xla"), ("full", "blockwise"), ("mlp", "blockwise"))


# The setting whose step `lvmae bench --sections parts` takes apart (the fastest at equal work on
# ViT-B 128 frames).
PARTS_SETTING = ("mlp", "blockwise")


def peer_point(config: str, strategy: str, remat: str, attention: str) -> Point:
  """One of the peer's configurations (a key of PEER) with a decoder strategy, remat and attention, fp32."""
  if config not in PEER:
    raise ValueError(f"config={config!r}; choose one of {tuple(PEER)}")
  return Point(f"{config}, {strategy}, remat {remat}, attention {attention}",
               PEER[config][0] + _strategy(strategy) + _precision("float32", remat, attention))


def peer_points() -> list[tuple[str, str, Point]]:
  """(configuration, decoder strategy, point) of the peer section: fp32, each of PEER_SETTINGS
  (lvmae/models/vit.py's remat choices, lvmae/models/attention.py's blockwise attention)."""
  return [(config, strategy, peer_point(config, strategy, remat, attention))
          for config in PEER for strategy in (EQUAL_WORK, METHOD) for remat, attention in PEER_SETTINGS]


# The device check's shapes: name -> (model and clips at `frames` frames, the frames measured).
DEVICE_SHAPES = {
    "paper": (lambda frames: _VIT_B + _clips(224, (2, 16, 16), frames, 512 // frames), (16, 32, 128)),
    "tiny": (lambda frames: _model(32, 2, 2, (32, 1, 2)) + _clips(32, (2, 8, 8), frames, 32 // frames), (4, 8, 16)),
}


def device_points(shapes: str, backend: str, frames: Sequence[int] | None = None) -> list[Point]:
  """The device check's points: ViT-B at 16, 32 and 128 frames, 512 frames per step (tiny: a small
  model at 4, 8 and 16 frames, 32 per step), or only `frames` of those, each with the whole decoder
  (100%) and the 15% budget; bf16, remat full, cuDNN attention on a GPU."""
  if shapes not in DEVICE_SHAPES:
    raise ValueError(f"shapes={shapes!r}; choose one of {tuple(DEVICE_SHAPES)}")
  model_and_clips, frame_counts = DEVICE_SHAPES[shapes]
  unknown = sorted(set(frames or ()) - set(frame_counts))
  if unknown:
    raise ValueError(f"frames {unknown}: the {shapes} device check measures {list(frame_counts)}")
  frame_counts = [f for f in frame_counts if frames is None or f in frames]
  attention = "cudnn" if backend == "gpu" else "xla"
  return [Point(f"{frames} frames, {'100%' if strategy == EQUAL_WORK else '15%'}",
                model_and_clips(frames) + _strategy(strategy) + _precision("bfloat16", "full", attention))
          for frames in frame_counts for strategy in (EQUAL_WORK, METHOD)]


def memory_budget_bytes() -> int:
  """What a point may use: the first device's memory limit, or 60% of a CPU machine's RAM."""
  import jax
  stats = jax.devices()[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return int(stats["bytes_limit"])
  return int(0.6 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def measure(sets: tuple[str, ...], warmup: int, steps: int) -> dict:
  """In this process: the step's time after warm-up and XLA's predicted memory (lvmae.bench.
  train_step_times, one compilation; not run beyond `memory_budget_bytes`), the process's peak RSS
  and the device's peak memory."""
  import jax

  import experiments
  from lvmae import bench, runs
  stage = runs.build(experiments.get("pretrain", "paper", sets=sets))
  budget = memory_budget_bytes()
  out = bench.train_step_times(stage, warmup=warmup, steps=steps, memory_budget=budget)
  out.update(predicted_gib=out.pop("predicted_bytes") / GIB, budget_gib=budget / GIB, grid=list(stage.grid),
             batch_size=stage.schedule.batch_size)
  if not out["run"]:
    return out
  out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
  stats = jax.devices()[0].memory_stats() or {}
  out["device_peak_gib"] = stats["peak_bytes_in_use"] / GIB if "peak_bytes_in_use" in stats else None
  out["gflops_per_second"] = out["model_flops_per_second"] / 1e9
  return out


def measure_in_subprocess(point: Point, warmup: int, steps: int, timeout: float = 1800) -> dict:
  """`measure` in a fresh Python process (its own peak memory); a failure is reported, not raised."""
  command = [sys.executable, "-m", "experiments.bench_points", json.dumps(list(point.sets)), str(warmup), str(steps)]
  try:
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
  except subprocess.TimeoutExpired:
    return {"run": False, "error": f"timed out after {timeout:.0f} s"}
  lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
  if proc.returncode != 0 or not lines:
    return {"run": False, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
  return json.loads(lines[-1])


if __name__ == "__main__":
  sets_json, warmup_steps, timed_steps = sys.argv[1:]
  print(json.dumps(measure(tuple(json.loads(sets_json)), int(warmup_steps), int(timed_steps))), flush=True)
