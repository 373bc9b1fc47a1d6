"""Dataset readers: one per real dataset, each turning official annotation files into a Manifest.

`read_manifest(dataset, root, split)` is the entry point; READERS and SPLITS list the datasets and
the splits each accepts. Readers never open videos: segment paths are relative to the root and
another component checks the files.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Callable

from lvmae.data.manifest import AnnotationError, Manifest
from lvmae.data.readers import diving48, epic_kitchens, finegym, kinetics, kinetics710, ssv2

READERS: dict[str, Callable[[Path, str], Manifest]] = {
    "epic_kitchens_100": epic_kitchens.read,
    "diving48": diving48.read,
    "ssv2": ssv2.read,
    "kinetics_400": functools.partial(kinetics.read, "kinetics_400"),
    "kinetics_600": functools.partial(kinetics.read, "kinetics_600"),
    "kinetics_700": functools.partial(kinetics.read, "kinetics_700"),
    "kinetics_710": kinetics710.read,
    "finegym288": finegym.read,
}

SPLITS: dict[str, tuple[str, ...]] = {
    "epic_kitchens_100": epic_kitchens.SPLITS,
    "diving48": diving48.SPLITS,
    "ssv2": ssv2.SPLITS,
    "kinetics_400": kinetics.SPLITS,
    "kinetics_600": kinetics.SPLITS,
    "kinetics_700": kinetics.SPLITS,
    "kinetics_710": kinetics710.SPLITS,
    "finegym288": finegym.SPLITS,
}


def splits(dataset: str) -> tuple[str, ...]:
  """The splits a dataset's reader accepts; an unknown dataset is a ValueError listing them all."""
  if dataset not in READERS:
    raise ValueError(f"unknown dataset {dataset!r}; choose one of {sorted(READERS)}")
  return SPLITS[dataset]


def read_manifest(dataset: str, root: Path | str, split: str) -> Manifest:
  """The validated manifest of one split of a dataset whose files lie under `root`."""
  if split not in splits(dataset):
    raise ValueError(f"unknown split {split!r} of {dataset}; choose one of {list(SPLITS[dataset])}")
  root = Path(root)
  if not root.is_dir():
    raise AnnotationError(root, f"{dataset} root directory not found")
  return READERS[dataset](root, split)
