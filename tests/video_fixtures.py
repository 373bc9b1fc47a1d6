"""Small generated videos for the decoding and dataset tests: every frame shows its own index.

The index is drawn as 8 vertical black/white bars (bit k of the index in bar k), which survives
lossy coding and resizing, so a test can tell which frame a decoder returned.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 8
CODECS = {".mp4": "libx264", ".MP4": "libx264", ".webm": "libvpx-vp9"}


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
                times: np.ndarray | None = None, keyframe_every: int = 12) -> Path:
  """Writes frames 0..num_frames-1 (each showing its index) as h264 mp4 or VP9 webm.

  `times` (seconds, increasing) gives a variable frame rate; by default frames are 1 / fps apart.
  """
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  time_base = Fraction(1, 1000)
  with av.open(str(path), mode="w") as container:
    stream = container.add_stream(CODECS[path.suffix], rate=Fraction(fps).limit_denominator(1001))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = keyframe_every
    if times is not None:
      stream.codec_context.time_base = time_base
    for i in range(num_frames):
      frame = av.VideoFrame.from_ndarray(index_frame(i, width, height), format="rgb24")
      if times is not None:
        frame.pts, frame.time_base = int(round(times[i] * 1000)), time_base
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  return path


def truncate(path: Path, keep: float = 0.5) -> Path:
  """Cuts a file to its first `keep` share of bytes (a truncated download)."""
  data = Path(path).read_bytes()
  Path(path).write_bytes(data[:int(len(data) * keep)])
  return path
