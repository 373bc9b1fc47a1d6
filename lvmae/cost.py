"""What a training step costs, without running it: analytic multiply-accumulates (MACs) per
component, parameter counts, and XLA's compiled FLOPs and memory. Nothing is allocated: the step
is lowered from shapes alone, so a ViT-B 128-frame step can be analysed on a laptop CPU.

Analytic MACs are per clip, forward pass, matmuls only (what dominates a ViT). A transformer layer
over L tokens of width D and MLP ratio r costs 4LD^2 (qkv and output projections) + 2rLD^2 (MLP)
+ 2L^2D (attention scores and their weighted sum); layer norms, softmax, GELU and position
embeddings are left out. Components:
- pre-training: embedding (the V visible tokens' tubelet projection), encoder (V tokens), decoder
  (its input projection of V tokens + a transformer over the V visible and K selected tokens),
  heads (the K predictions);
- fine-tuning: embedding and encoder over the kept tokens (all, or 1 - token_drop), the head.

XLA's FLOPs come from a lowering with the layer scans unrolled (`cost_analysis()` counts a scan
body once); memory (arguments, outputs, temporaries) from the configured lowering, scanned and
rematerialised as it will run, on the default backend.

A compiled analysis of a paper-scale step takes seconds to minutes (lowering alone is ~1 s per ViT-B
128-frame step); `memoised` keeps its numbers on disk, keyed by what determines them: the config's
hash, lvmae's source files, jax's version, the backend and XLA's flags.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import jax
from flax import nnx

from lvmae.atomic import write_atomic
from lvmae.models.specs import TransformerSpec
from lvmae.models.vit import count_params
from lvmae.train.finetune import Finetune
from lvmae.train.pretrain import Pretrain


def transformer_macs(tokens: int, spec: TransformerSpec) -> int:
  """Forward MACs of `spec.depth` layers over `tokens` tokens (see the module docstring)."""
  d, r = spec.width, spec.mlp_ratio
  per_layer = (4 + 2 * r) * tokens * d * d + 2 * tokens * tokens * d
  return int(round(spec.depth * per_layer))


def component_macs(stage: Pretrain | Finetune) -> dict[str, int]:
  """Forward MACs per clip of each component of the stage's model."""
  enc = stage.encoder
  if isinstance(stage, Pretrain):
    tokens = stage.num_tokens()
    v, k, dec = tokens["visible"], tokens["selected"], stage.decoder
    return {"embedding": v * stage.patch_dim * enc.width,
            "encoder": transformer_macs(v, enc),
            "decoder": v * enc.width * dec.width + transformer_macs(v + k, dec),
            "heads": k * dec.width * stage.target_dim}
  if isinstance(stage, Finetune):
    n = stage.grid[0] * stage.grid[1] * stage.grid[2]
    kept = n - int(round(n * stage.token_drop))
    return {"embedding": kept * stage.patch_dim * enc.width,
            "encoder": transformer_macs(kept, enc),
            "heads": enc.width * stage.data.num_classes}
  raise TypeError(f"cost analysis covers pre-training and fine-tuning stages, not {type(stage).__name__}")


def component_params(stage: Pretrain | Finetune) -> dict[str, int]:
  """Parameter counts of the stage's model (from shapes; nothing is allocated)."""
  model = nnx.eval_shape(lambda: stage.build_model(nnx.Rngs(0)))
  if isinstance(stage, Pretrain):
    return {"encoder": count_params(model.encoder), "decoder": count_params(model.decoder)}
  encoder = count_params(model.encoder)
  return {"encoder": encoder, "heads": count_params(model) - encoder}


def unrolled(stage: Pretrain | Finetune) -> Pretrain | Finetune:
  """The same stage with every layer scan unrolled (identical numbers, every layer visible to XLA);
  blockwise attention counted as the same attention in one piece (its key-block scan would be
  counted once)."""
  unroll = lambda spec: dataclasses.replace(  # noqa: E731
      spec, scan_unroll=True, attention_impl="xla" if spec.attention_impl == "blockwise" else spec.attention_impl)
  if isinstance(stage, Pretrain):
    return dataclasses.replace(stage, encoder=unroll(stage.encoder), decoder=unroll(stage.decoder))
  return dataclasses.replace(stage, encoder=unroll(stage.encoder), pretrained=None)


def compiled_memory(stage: Pretrain | Finetune) -> dict:
  """XLA's memory of one train step as configured (scanned, rematerialised), in bytes."""
  return memory_of(stage.lower_train_step().compile())


def memory_of(compiled: jax.stages.Compiled) -> dict:
  """XLA's memory analysis of a compiled step, in bytes (`total_bytes`: what the step needs)."""
  memory = compiled.memory_analysis()
  result = {"argument_bytes": int(memory.argument_size_in_bytes),
            "output_bytes": int(memory.output_size_in_bytes),
            "alias_bytes": int(memory.alias_size_in_bytes),
            "temp_bytes": int(memory.temp_size_in_bytes)}
  # Donated state aliases its outputs, so those bytes are counted once.
  result["total_bytes"] = (result["argument_bytes"] + result["output_bytes"] - result["alias_bytes"]
                           + result["temp_bytes"])
  return result


def compiled_cost(stage: Pretrain | Finetune) -> dict:
  """XLA's FLOPs of one train step (unrolled lowering) and its memory (as configured), in bytes."""
  start = time.perf_counter()
  flops = unrolled(stage).lower_train_step().compile().cost_analysis()["flops"]
  result = {"flops": float(flops), **compiled_memory(stage)}
  result["backend"] = jax.default_backend()
  result["compile_seconds"] = time.perf_counter() - start
  return result


def analyse(stage: Pretrain | Finetune, compiled: bool = True) -> dict:
  """Analytic MACs and parameters, and (unless `compiled` is False) XLA's compiled cost."""
  macs = component_macs(stage)
  result = {"stage": type(stage).__name__, "batch_size": stage.schedule.batch_size, "grid": list(stage.grid),
            "macs_per_clip": {**macs, "total": sum(macs.values())}, "params": component_params(stage)}
  result["params"]["total"] = sum(result["params"].values())
  if isinstance(stage, Pretrain):
    result["tokens"] = stage.num_tokens()
  if compiled:
    result["compiled"] = compiled_cost(stage)
    # A train step is about 3 forward passes (one forward, two for the backward), 2 FLOPs per MAC.
    analytic_step = 6 * result["macs_per_clip"]["total"] * stage.schedule.batch_size
    result["compiled"]["flops_over_analytic_step"] = result["compiled"]["flops"] / analytic_step
  return result


def most_frames_within(memory_at: Callable[[int], dict], budget_bytes: float,
                       choices: Sequence[int], measure: str = "total_bytes") -> tuple[int | None, dict[int, int]]:
  """The largest frame count of `choices` whose train step needs at most `budget_bytes` of `measure`
  (a key of `memory_at(frames)`, which is `compiled_memory` of that step's stage or its memoised
  value), by binary search (memory grows with frames), and the bytes measured on the way; None when
  even the smallest does not fit."""
  choices, measured = sorted(choices), {}
  low, high, best = 0, len(choices) - 1, None
  while low <= high:
    mid = (low + high) // 2
    measured[choices[mid]] = memory_at(choices[mid])[measure]
    if measured[choices[mid]] <= budget_bytes:
      best, low = choices[mid], mid + 1
    else:
      high = mid - 1
  return best, measured


@functools.cache
def code_fingerprint() -> str:
  """sha256 over lvmae's source files, jax's and jaxlib's versions, the default device's platform and
  kind and XLA's flags: everything a compiled analysis of a given config depends on."""
  root, digest = Path(__file__).resolve().parent, hashlib.sha256()
  for path in sorted(root.rglob("*.py")):
    digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
  import jaxlib
  device = jax.devices()[0]
  digest.update(f"{jax.__version__} {jaxlib.__version__} {device.platform} {device.device_kind}".encode())
  digest.update(os.environ.get("XLA_FLAGS", "").encode())
  return digest.hexdigest()


def memoised(directory: Path | None, kind: str, config_id: str, compute: Callable[[], dict]) -> dict:
  """`compute()` (a JSON-able dict: an analysis of the stage whose config's hash is `config_id`, a
  run id), kept under `directory` as `<kind>-<hash>.json`, the hash over `config_id` and
  `code_fingerprint()`: a later call with the same config, code and backend reads it instead of
  lowering and compiling again. Without a directory, `compute()`."""
  if directory is None:
    return compute()
  key = hashlib.sha256(f"{kind}\0{config_id}\0{code_fingerprint()}".encode()).hexdigest()[:20]
  path = Path(directory) / f"{kind}-{key}.json"
  if path.exists():
    return json.loads(path.read_text())
  result = compute()
  path.parent.mkdir(parents=True, exist_ok=True)
  write_atomic(path, json.dumps(result, sort_keys=True))
  return json.loads(path.read_text())  # what a later call reads (JSON's lists for tuples)
