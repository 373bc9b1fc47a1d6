"""The data loader benchmark: clips/s per core of decoding videos vs reading converted ArrayRecord
shards, at several clip lengths, on generated videos (real datasets cannot be downloaded here).

The videos are SLC clips upscaled to 320x240 and written as 30 fps h264, three clips back to back
(384 frames, 12.8 s); a training view decodes `frames` frames at stride 2, resized to a 256 short
side, then the training augmentation crops 224x224. The process is pinned to one core while it
measures, so the rates are per core even though the decoder may start threads of its own.
"""
from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from lvmae.data.arrayrecord import ArrayRecordSource, convert, loader_benchmark
from lvmae.data.augment import Augmentation, augment_clip
from lvmae.data.manifest import Head, Manifest, Segment
from lvmae.data.pipeline import Sampling
from lvmae.data.slc import NUM_CLASSES, SLCSource
from lvmae.data.video import write_frames
from lvmae.data.videos import VideoSource

WIDTH, HEIGHT, FPS, CLIPS_PER_VIDEO, SHORT_SIDE, CROP, STRIDE = 320, 240, 30.0, 3, 256, 224, 2


def write_videos(root: Path, num_videos: int) -> Manifest:
  """`num_videos` generated videos under `root` and the manifest that lists them."""
  slc = SLCSource("train", size=64, num_clips=num_videos * CLIPS_PER_VIDEO)
  segments = []
  for v in range(num_videos):
    clips = [slc[v * CLIPS_PER_VIDEO + c] for c in range(CLIPS_PER_VIDEO)]
    frames = (cv2.resize(f, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR)
              for clip in clips for f in clip["video"])
    write_frames(root / f"video{v:03d}.mp4", frames, FPS)
    segments.append(Segment(f"video{v:03d}.mp4", (int(clips[0]["label"]),), id=str(v)))
  head = Head("count", tuple(str(c) for c in range(NUM_CLASSES)))
  return Manifest("generated", "train", (head,), tuple(segments))


def run(frames: tuple[int, ...] = (32, 128), num_videos: int = 6, num_clips: int = 8,
        workdir: Path | None = None) -> dict:
  """{"video": {frames: result}, "arrayrecord": {...}, "setup": {...}} (see loader_benchmark)."""
  with tempfile.TemporaryDirectory(dir=workdir) as tmp:
    root = Path(tmp)
    manifest = write_videos(root, num_videos)
    videos = VideoSource(manifest, root, short_side=SHORT_SIDE)
    convert(videos, root / "arrayrecord", short_side=SHORT_SIDE, progress=False)
    sources = {"video": videos, "arrayrecord": ArrayRecordSource(root / "arrayrecord", "train")}
    spatial = functools.partial(_augment, aug=Augmentation())
    with _one_core():  # per core: the decoder's own threads share it too
      out = {name: {str(f): loader_benchmark(source, Sampling(num_frames=f, stride=STRIDE), num_clips=num_clips,
                                             spatial=spatial)
                    for f in frames}
             for name, source in sources.items()}
  out["setup"] = {"videos": num_videos, "frames_per_video": CLIPS_PER_VIDEO * 128, "size": [WIDTH, HEIGHT],
                  "fps": FPS, "codec": "h264", "stride": STRIDE, "short_side": SHORT_SIDE, "crop": CROP}
  return out


@contextlib.contextmanager
def _one_core():
  """Pins this process to one CPU core while measuring (Linux), then restores its cores."""
  if not hasattr(os, "sched_setaffinity"):
    yield
    return
  cores = os.sched_getaffinity(0)
  os.sched_setaffinity(0, {min(cores)})
  try:
    yield
  finally:
    os.sched_setaffinity(0, cores)


def _augment(frames: np.ndarray, rng: np.random.Generator, *, aug: Augmentation) -> np.ndarray:
  return augment_clip(frames, CROP, aug, rng)
