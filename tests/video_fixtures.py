"""Small generated videos for the decoding and dataset tests: every frame shows its own index.

The index is drawn as 8 vertical black/white bars (bit k of the index in bar k), which survives
lossy coding and resizing, so a test can tell which frame a decoder returned.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lvmae.data.video import write_frames

BITS = 8


def index_frame(index: int, width: int = 64, height: int = 48) -> np.ndarray:
  """An RGB frame whose bars spell `index` in binary (bar 0 = least significant bit)."""
  bars = np.array([(index >> k) & 1 for k in range(BITS)], dtype=np.uint8) * 255
  columns = np.repeat(bars, -(-width // BITS))[:width]
  frame = np.broadcast_to(columns[None, :, None], (height, width, 3)).copy()
  frame[:, :, 1] = 128  # a constant channel keeps the frame from being pure grey
  return frame


def frame_index(frame: np.ndarray) -> int:
  """The index an index_frame shows (after coding and resizing)."""
  width = frame.shape[1]
  bits = [frame[:, int((k + 0.5) * width / BITS), 0].mean() > 127 for k in range(BITS)]
  return int(sum(int(b) << k for k, b in enumerate(bits)))


def write_video(path: Path, num_frames: int, fps: float = 25.0, width: int = 64, height: int = 48,
                times: np.ndarray | None = None, keyframe_every: int = 12, faststart: bool = False) -> Path:
  """Writes frames 0..num_frames-1 (each showing its index) as h264 mp4 or VP9 webm (by suffix;
  .MP4 as EPIC-Kitchens names its files). `times` (seconds, increasing): a variable frame rate;
  `faststart`: an mp4 with its index first (a truncated copy still opens)."""
  frames = (index_frame(i, width, height) for i in range(num_frames))
  return write_frames(path, frames, fps, times, keyframe_every, faststart)


def truncate(path: Path, keep: float = 0.5) -> Path:
  """Cuts a file to its first `keep` share of bytes (a truncated download)."""
  data = Path(path).read_bytes()
  Path(path).write_bytes(data[:int(len(data) * keep)])
  return path
