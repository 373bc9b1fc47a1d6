"""Registry of named experiments; `get` applies a profile and `--set` overrides to one of them.

An experiment is a function returning a `fdl.Config` of a stage (lvmae.train.Pretrain or
Finetune). A profile is a fiddler applied to every stage of the config tree.
"""
from __future__ import annotations

from typing import Callable, Iterable

import fiddle as fdl

from experiments import overrides
from lvmae.runs import stage_chain

EXPERIMENTS: dict[str, Callable[[], fdl.Config]] = {}
PROFILES: dict[str, Callable[[fdl.Config], None]] = {}


def register(fn: Callable[[], fdl.Config]) -> Callable[[], fdl.Config]:
  EXPERIMENTS[fn.__name__] = fn
  return fn


def register_profile(fn: Callable[[fdl.Config], None]) -> Callable[[fdl.Config], None]:
  PROFILES[fn.__name__] = fn
  return fn


def apply_profile(cfg: fdl.Config, profile: str) -> fdl.Config:
  if profile not in PROFILES:
    raise ValueError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
  PROFILES[profile](cfg)
  return cfg


def get(name: str, profile: str = "smoke", sets: Iterable[str] = (), data_root: str | None = None) -> fdl.Config:
  """The named experiment at a profile, with `a.b=value` overrides applied last (and the real
  datasets' root, when given)."""
  _load()
  if name not in EXPERIMENTS:
    raise ValueError(f"unknown experiment {name!r}; `lvmae list` shows {sorted(EXPERIMENTS)}")
  cfg = apply_profile(EXPERIMENTS[name](), profile)
  for assignment in sets:
    overrides.apply(cfg, assignment, resolve=lambda other: get(other, profile))
  return cfg if data_root is None else set_data_root(cfg, data_root)


def set_data_root(cfg: fdl.Config, root: str) -> fdl.Config:
  """Points every real-video dataset of a config tree at `root` (the directory holding one
  directory per dataset); a tree that reads no real videos is an error."""
  from lvmae.data.videos import VideoData
  found = [stage.data for _, stage in stage_chain(cfg)
           if isinstance(getattr(stage, "data", None), fdl.Buildable) and fdl.get_callable(stage.data) is VideoData]
  if not found:
    raise ValueError("--data-root: this experiment reads no real videos (the smoke and cpu profiles use the "
                     "embedded SLC benchmark); use it with --profile paper")
  for data in found:
    data.root = str(root)
  return cfg


def _load() -> None:
  """Imports the modules that register experiments and profiles."""
  from experiments import base, profiles  # noqa: F401
