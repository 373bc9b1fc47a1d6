"""Video decoding with PyAV: probing a file and reading frames at given times, frame-accurately.

Frames are addressed by time (seconds from the stream's start), so constant and variable frame
rates are read alike: the frame shown at time t is the last one whose timestamp is at most
t + a quarter of the average frame period (a margin for timestamp rounding). A read seeks to the keyframe before the first wanted time, decodes forward and
keeps only the wanted frames; it seeks again when the next wanted time is far ahead (sparse
sampling of long videos). Frames come back as uint8 RGB, resized on decode to a short side.
`write_frames` encodes frames as h264 mp4 or VP9 webm (generated test and benchmark videos).
"""
from __future__ import annotations

import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SEEK_GAP_SECONDS = 2.0     # decode forward through gaps up to this long; seek over longer ones
END_SLACK_FRAMES = 3       # how far past the last decoded frame a wanted time may fall


class VideoError(RuntimeError):
  """A missing, unreadable, corrupt or truncated video; the message names the file."""

  def __init__(self, path: Path | str, reason: str):
    self.path, self.reason = Path(path), reason
    super().__init__(f"{path}: {reason}")


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  num_frames: int   # frames at `fps` over `duration` (the header's count where it has one)
  fps: float        # average frame rate
  duration: float   # seconds
  width: int
  height: int


def _open(path: Path | str):
  if not Path(path).is_file():
    raise VideoError(path, "file not found")
  try:
    container = av.open(str(path))
  except (av.error.FFmpegError, OSError) as e:
    raise VideoError(path, f"cannot open ({e})") from None
  if not container.streams.video:
    container.close()
    raise VideoError(path, "has no video stream")
  return container


def _fps(stream) -> float:
  rate = stream.average_rate or stream.guessed_rate or stream.base_rate
  if not rate:
    raise ValueError("no frame rate")
  return float(rate)


def _start(stream) -> float:
  return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def probe(path: Path | str) -> VideoInfo:
  """Frame rate, length and size from the container's header (no decoding)."""
  with _open(path) as container:
    stream = container.streams.video[0]
    try:
      fps = _fps(stream)
    except ValueError:
      raise VideoError(path, "no frame rate in the header") from None
    if stream.duration is not None:
      duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
      duration = container.duration / av.time_base
    else:
      raise VideoError(path, "no duration in the header")
    num_frames = stream.frames or int(round(duration * fps))
    if num_frames <= 0:
      raise VideoError(path, "has no frames")
    return VideoInfo(num_frames, fps, duration, stream.codec_context.width, stream.codec_context.height)


def short_side_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
  """(width, height) scaled so the shorter side is `short_side` (unchanged for None)."""
  if short_side is None:
    return width, height
  scale = short_side / min(width, height)
  return max(1, round(width * scale)), max(1, round(height * scale))


def read_frames(path: Path | str, times: np.ndarray, short_side: int | None = None) -> np.ndarray:
  """The frames shown at `times` (seconds from the start, any order, repeats allowed) as
  (len(times), H, W, 3) uint8, the short side resized to `short_side`. Raises VideoError for
  unreadable data or a stream that ends well before a wanted time (a truncated file)."""
  times = np.asarray(times, dtype=np.float64)
  order = np.argsort(times, kind="stable")
  wanted = times[order]
  out: list[np.ndarray | None] = [None] * len(times)
  with _open(path) as container:
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    try:
      margin = 0.25 / _fps(stream)
    except ValueError:
      raise VideoError(path, "no frame rate in the header") from None
    start = _start(stream)
    size = short_side_size(stream.codec_context.width, stream.codec_context.height, short_side)
    latest: list = [None, None]  # (frame, its array): frames arrive in order, only it can repeat

    def convert(frame) -> np.ndarray:
      if latest[0] is not frame:
        latest[:] = frame, frame.to_ndarray(format="rgb24", width=size[0], height=size[1],
                                            interpolation="AREA")
      return latest[1]

    j, last_time = 0, None
    try:
      while j < len(wanted):
        container.seek(int((wanted[j] + start) / stream.time_base), stream=stream, backward=True)
        previous, ended, sought = None, True, j
        for frame in container.decode(stream):
          t = frame.time - start if frame.time is not None else (last_time or 0.0) + 4 * margin
          last_time = t
          while j < len(wanted) and t > wanted[j] + margin:
            out[order[j]] = convert(previous if previous is not None else frame)
            j += 1
          previous = frame
          if j == len(wanted) or (j != sought and wanted[j] - t > SEEK_GAP_SECONDS):
            ended = False
            break
        if ended:  # the stream ended: times past its end get the last frame, unless far past
          if previous is None:
            raise VideoError(path, f"no frames decoded at or after {wanted[j]:.3f} s")
          if wanted[-1] > last_time + 4 * margin * END_SLACK_FRAMES:
            raise VideoError(path, f"stream ends at {last_time:.3f} s, before the wanted "
                                   f"{wanted[-1]:.3f} s (truncated?)")
          while j < len(wanted):
            out[order[j]] = convert(previous)
            j += 1
    except av.error.FFmpegError as e:
      raise VideoError(path, f"decoding failed ({e})") from None
  return np.stack(out)


def read_indices(path: Path | str, indices: np.ndarray, fps: float, first_frame: int = 0,
                 short_side: int | None = None) -> np.ndarray:
  """Frames `first_frame + indices` of a video counted at `fps` (see read_frames)."""
  return read_frames(path, (first_frame + np.asarray(indices)) / fps, short_side)


ENCODERS = {".mp4": "libx264", ".webm": "libvpx-vp9"}


def write_frames(path: Path | str, frames, fps: float = 25.0, times: np.ndarray | None = None,
                 keyframe_every: int = 12) -> Path:
  """Encodes uint8 RGB frames (an array or an iterable of (H, W, 3)) as h264 mp4 or VP9 webm, by
  the file's suffix. `times` (seconds, increasing) gives a variable frame rate; by default frames
  are 1 / fps apart."""
  path = Path(path)
  if path.suffix.lower() not in ENCODERS:
    raise ValueError(f"{path}: write .mp4 (h264) or .webm (VP9)")
  path.parent.mkdir(parents=True, exist_ok=True)
  millis = Fraction(1, 1000)
  with av.open(str(path), mode="w") as container:
    stream = container.add_stream(ENCODERS[path.suffix.lower()], rate=Fraction(fps).limit_denominator(1001))
    stream.pix_fmt = "yuv420p"
    stream.codec_context.gop_size = keyframe_every
    if times is not None:
      stream.codec_context.time_base = millis
    for i, frame in enumerate(frames):
      if i == 0:
        stream.height, stream.width = frame.shape[:2]
      picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
      if times is not None:
        picture.pts, picture.time_base = int(round(times[i] * 1000)), millis
      for packet in stream.encode(picture):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  return path
