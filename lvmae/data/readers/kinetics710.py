"""Kinetics-710: the de-duplicated union of Kinetics-400, -600 and -700.

Layout: root/k400/, root/k600/, root/k700/, each in the Kinetics layout (lvmae.data.readers.kinetics);
video paths are relative to the K710 root (e.g. `k600/train/<clip>.mp4`).

Classes are the sorted union of the three train label sets, names normalised (whitespace collapsed,
lower case) so a class renamed by case between releases is one class. A YouTube id is kept once per
split, from the first release that has it (k400, then k600, then k700), and the train split drops
every YouTube id found in any of the three validation CSVs.
"""
from __future__ import annotations

from pathlib import Path

from lvmae.data.manifest import Head, Manifest
from lvmae.data.readers import kinetics

SPLITS = ("train", "validation")
RELEASES = ("k400", "k600", "k700")


def normalise(label: str) -> str:
  return " ".join(label.split()).lower()


def read(root: Path, split: str) -> Manifest:
  root = Path(root)
  classes = tuple(sorted({normalise(c) for r in RELEASES for c in kinetics.train_labels(root / r)}))
  heads = (Head("class", classes),)
  held_out = set()
  if split == "train":
    held_out = {c.youtube_id for r in RELEASES for c in kinetics.read_clips(root / r, "validation")}
  seen, segments = set(held_out), []
  for release in RELEASES:
    clips = []
    for clip in kinetics.read_clips(root / release, split):
      if clip.youtube_id not in seen:
        seen.add(clip.youtube_id)
        clips.append(clip)
    segments += kinetics.segments(clips, heads, prefix=f"{release}/", name=normalise)
  sources = ", ".join(str(kinetics.csv_path(root / r, split)) for r in RELEASES)
  return Manifest("kinetics_710", split, heads, tuple(segments), source=sources)
