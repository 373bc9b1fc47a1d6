"""Content-addressed run directories: build a stage's config, run its upstream stages, reuse done work.

A run directory is named `<stage>-<hash>`, the hash taken over the stage's serialized Fiddle config
(which contains its upstream stages' configs, so a changed upstream changes every downstream hash).
A directory with a `result.json` is finished and is never recomputed; one without resumes from its
last checkpoint. Files are written atomically (temp file + rename).

A config is a tree of stages (its upstream fields, UPSTREAM_FIELDS): `stage_chain` is the one walk
of that tree (every stage with its dotted path, upstream first) and `stage_at` the one lookup of a
stage by dotted path; the experiments' profiles, `lvmae run --stage` and the tables use these.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import importlib.metadata
import json
import platform
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import fiddle as fdl
from fiddle.experimental import serialization

from lvmae import run_lock
from lvmae.atomic import write_atomic
from lvmae.validation import ConfigError, check_config

PACKAGES = ("jax", "jaxlib", "flax", "optax", "grain", "orbax-checkpoint", "fiddle", "numpy")
# Fields of a stage that hold another stage's config (run first; their run dirs are passed in).
UPSTREAM_FIELDS = ("pretrained", "tokens", "importance", "tokenizer", "features")
RESULT_FILE = "result.json"  # a run's outcome; its presence marks the run finished
PROVENANCE_FILE = "provenance.json"  # what ran a finished run, where, and for how long
# A run's small files, enough to audit its numbers (the config, the outcome, the logged curves and
# what ran it); a results directory carries them for every run its tables use (`archive`).
AUDIT_FILES = ("config.txt", RESULT_FILE, "metrics.jsonl", PROVENANCE_FILE)


def build(cfg: fdl.Buildable) -> Any:
  """fdl.build of a config tree checked first against its dataclasses' annotations (types and ranges,
  validation.check_config), with a bad value reported as one ConfigError naming the full field path."""
  check_config(cfg)
  try:
    return fdl.build(cfg)
  except ValueError as e:
    inner = e.args[0] if e.args and isinstance(e.args[0], ConfigError) else e
    if not isinstance(inner, ConfigError):
      raise
    match = re.search(r"at <root>((?:\.\w+)*)", str(e.args[1]) if len(e.args) > 1 else "")
    prefix = match.group(1).lstrip(".") + "." if match and match.group(1) else ""
    raise ConfigError(prefix + inner.field, inner.value, inner.reason) from None


def flatten(cfg: Any, prefix: str = "") -> list[tuple[str, Any]]:
  """(dotted path, value) for every argument of a config tree, defaults included."""
  if not isinstance(cfg, fdl.Buildable):
    return [(prefix.rstrip("."), cfg)]
  rows = []
  for name, value in fdl.ordered_arguments(cfg, include_defaults=True).items():
    rows += flatten(value, f"{prefix}{name}.")
  return rows


def config_text(cfg: fdl.Buildable) -> str:
  return "".join(f"{path} = {value!r}\n" for path, value in flatten(cfg))


def stage_name(cfg: fdl.Buildable) -> str:
  return fdl.get_callable(cfg).__name__.lower()


def _without_data_roots(cfg: fdl.Buildable) -> fdl.Buildable:
  """A copy of `cfg` with every real dataset's `root` blanked: where the data lies (a mount point)
  is not part of what a run is, so the same run has the same id on every machine."""
  cfg = copy.deepcopy(cfg)

  def blank(node):
    if not isinstance(node, fdl.Buildable):
      return
    arguments = fdl.ordered_arguments(node)
    if "root" in arguments and hasattr(fdl.get_callable(node), "dataset_root"):
      node.root = ""
    for value in arguments.values():
      blank(value)

  blank(cfg)
  return cfg


def run_id(cfg: fdl.Buildable) -> str:
  digest = hashlib.sha256(serialization.dump_json(_without_data_roots(cfg)).encode()).hexdigest()
  return f"{stage_name(cfg)}-{digest[:12]}"


def upstream_configs(cfg: fdl.Buildable) -> dict[str, fdl.Buildable]:
  """The stages a stage reads directly (one level of the tree; `stage_chain` walks all of it)."""
  return {name: getattr(cfg, name) for name in UPSTREAM_FIELDS
          if isinstance(getattr(cfg, name, None), fdl.Buildable)}


def stage_chain(cfg: fdl.Buildable, path: str = "") -> list[tuple[str, fdl.Buildable]]:
  """(dotted path, config) of a config and every upstream stage, upstream first, the config itself
  last at `path` ("" for the root): the one walk of the upstream-stage tree. A stage plugged in at
  two places appears at both."""
  chain = []
  for name, sub in upstream_configs(cfg).items():
    chain += stage_chain(sub, f"{path}.{name}" if path else name)
  return chain + [(path, cfg)]


def stage_at(cfg: fdl.Buildable, path: str | None) -> fdl.Buildable | None:
  """The config of the stage at a dotted upstream path (`pretrained`, `pretrained.tokens.tokenizer`;
  "" or None: the config itself); None where the config has no such stage (e.g. a floor's probe,
  which has no pre-training)."""
  for name in filter(None, (path or "").split(".")):
    cfg = getattr(cfg, name, None)
    if cfg is None:
      return None
  return cfg


def pretraining_path(cfg: fdl.Buildable) -> str | None:
  """The dotted path of a config's pre-training stage: its upstream field `pretrained` at any depth
  (`pretrained` in a fine-tuning, `features.pretrained` in a probe), the shallowest where several;
  None without one."""
  paths = [path for path, _ in stage_chain(cfg) if path.rpartition(".")[2] == "pretrained"]
  return min(paths, key=lambda path: path.count("."), default=None)


def is_finished(run_dir: Path) -> bool:
  return (Path(run_dir) / RESULT_FILE).exists()


def read_result(run_dir: Path) -> dict:
  return json.loads((Path(run_dir) / RESULT_FILE).read_text())


def wall_seconds(run_dir: Path) -> float:
  """A finished run's wall time, from its provenance."""
  return json.loads((Path(run_dir) / PROVENANCE_FILE).read_text())["wall_seconds"]


def stage_of(run: str | Path) -> str:
  """The stage of a run id or directory (named <stage>-<hash>)."""
  return Path(run).name.split("-")[0]


def compute_seconds(runs_dir: Path, run_ids) -> float:
  """The summed wall time of finished runs (by run id under `runs_dir`), from their provenance."""
  return sum(wall_seconds(Path(runs_dir) / rid) for rid in run_ids)


def compute_by_stage(runs_dir: Path, run_ids) -> dict[str, float]:
  """`compute_seconds` split by stage (tokenizer, precompute, pretrain, ...), in first-seen order."""
  seconds: dict[str, float] = {}
  for rid in run_ids:
    stage = stage_of(rid)
    seconds[stage] = seconds.get(stage, 0.0) + wall_seconds(Path(runs_dir) / rid)
  return seconds


def seconds_left(run_dirs: list[Path]) -> float | None:
  """An estimate of how long the unfinished runs among `run_dirs` will take: each counts the mean
  wall time of the finished runs of its stage among them. None while some stage has none finished."""
  walls: dict[str, list[float]] = {}
  for run_dir in run_dirs:
    if is_finished(run_dir) and (Path(run_dir) / PROVENANCE_FILE).exists():
      walls.setdefault(stage_of(run_dir), []).append(wall_seconds(run_dir))
  left = 0.0
  for run_dir in run_dirs:
    if not is_finished(run_dir):
      stage_walls = walls.get(stage_of(run_dir))
      if not stage_walls:
        return None
      left += sum(stage_walls) / len(stage_walls)
  return left


def git(*args: str) -> str:
  """Output of a git command in the project's checkout; empty when git or the checkout is absent."""
  root = Path(__file__).resolve().parent.parent
  try:
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
  except (OSError, subprocess.SubprocessError):
    return ""


def git_sha() -> str:
  return git("rev-parse", "HEAD") or "unknown"


@functools.cache
def code_state() -> dict:
  """The commit the process's code came from and whether the tree had uncommitted changes, read
  once per process (the first run it executes): a run computes with the code the process imported,
  whatever is committed while a long grid runs."""
  return {"git_sha": git_sha(), "git_dirty": bool(git("status", "--porcelain"))}


def provenance(wall_seconds: float, resumed: bool) -> dict:
  import jax  # imported here so that listing and hashing configs stays light
  versions = {}
  for package in PACKAGES:
    try:
      versions[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      versions[package] = None
  return {**code_state(), "packages": versions, "python": platform.python_version(), "backend": jax.default_backend(),
          "devices": [str(d) for d in jax.devices()], "wall_seconds": wall_seconds, "resumed": resumed,
          "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def predicted_one_class(run_dir: Path) -> bool | None:
  """Did a classifier run predict one class (one tuple of classes, for several heads) for every
  evaluated clip? Such a classifier never left chance, whatever its top-1 (which is then that
  class's share). None for a run without predictions (not judged)."""
  import numpy as np
  from lvmae.train.evaluate import PREDICTIONS  # imported here so that hashing configs stays light
  path = Path(run_dir) / PREDICTIONS
  if not path.exists():
    return None
  with np.load(path) as p:
    prediction = p["prediction"].reshape(len(p["prediction"]), -1)
  return len(np.unique(prediction, axis=0)) == 1


def enable_compilation_cache(runs_dir: Path) -> None:
  """JAX's persistent compilation cache under `runs_dir/.jax_cache`: a second call loads the
  compiled steps instead of compiling them again. Every executable is kept, however quick to
  compile: a smoke pre-training's ~90 compilations (model initialisation, small ops) are mostly
  under half a second each; keeping them took a second such run in a fresh process from 8.5 to
  5.4 s."""
  import jax
  jax.config.update("jax_compilation_cache_dir", str((Path(runs_dir) / ".jax_cache").absolute()))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)


def execute(cfg: fdl.Buildable, runs_root: Path, stop_after: int | None = None, wait: bool = True) -> Path:
  """Runs `cfg`'s stage (after its upstream stages) unless finished; returns its run directory.
  Each run is computed by one process at a time (lvmae.run_lock): a run another process is
  computing is waited for, or, wait=False, raises run_lock.RunClaimed."""
  stage = build(cfg)  # validates the whole tree before anything compiles
  code_state()  # the code this process runs, before any run takes time
  upstream = {name: execute(sub, runs_root, wait=wait) for name, sub in upstream_configs(cfg).items()}
  run_dir = Path(runs_root) / run_id(cfg)
  if is_finished(run_dir):
    return run_dir
  with run_lock.claim(run_dir, wait=wait):
    if is_finished(run_dir):  # its writer finished it while this process waited
      return run_dir
    resumed = (run_dir / "checkpoints").exists()
    write_atomic(run_dir / "config.json", serialization.dump_json(cfg, indent=1))
    write_atomic(run_dir / "config.txt", config_text(cfg))
    start = time.perf_counter()
    result = stage.run(run_dir, upstream, stop_after=stop_after)
    if result.get("finished", True):
      result["upstream"] = {name: Path(path).name for name, path in upstream.items()}
      write_atomic(run_dir / PROVENANCE_FILE, json.dumps(provenance(time.perf_counter() - start, resumed), indent=1))
      write_atomic(run_dir / RESULT_FILE, json.dumps(result, indent=1))
  return run_dir


def prune_archive(dest: Path, runs_dir: Path, keep) -> list[str]:
  """Removes the archived runs under `dest` that `keep` does not name (archived by an earlier
  collection, used by no table now); returns their ids. Nothing is removed where `dest` is
  `runs_dir` itself, nor any directory holding more than the AUDIT_FILES (a real run)."""
  dest, keep = Path(dest), set(keep)
  if not dest.is_dir() or dest.resolve() == Path(runs_dir).resolve():
    return []
  stale = sorted(d.name for d in dest.iterdir() if d.is_dir() and d.name not in keep
                 and all(f.name in AUDIT_FILES for f in d.iterdir()))
  for name in stale:
    shutil.rmtree(dest / name)
  return stale


def archive(run_ids, runs_dir: Path, dest: Path) -> list[str]:
  """Copies the small files (AUDIT_FILES; no checkpoints, caches or predictions) of each finished
  run of `run_ids` to dest/<run id>/, the audit trail a results directory carries; returns the run
  ids archived. Nothing is copied where `dest` is `runs_dir` itself (the files are already there)."""
  runs_dir, dest = Path(runs_dir), Path(dest)
  archived = [rid for rid in dict.fromkeys(run_ids) if is_finished(runs_dir / rid)]
  if dest.resolve() == runs_dir.resolve():
    return archived
  for rid in archived:
    (dest / rid).mkdir(parents=True, exist_ok=True)
    for name in AUDIT_FILES:
      source = runs_dir / rid / name
      if source.exists():
        write_atomic(dest / rid / name, source.read_bytes())
  return archived
