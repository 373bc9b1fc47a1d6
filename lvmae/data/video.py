"""Video decoding with PyAV: probing a file and reading frames at given times, frame-accurately.

Frames are addressed by time (seconds from the stream's start), so constant and variable frame
rates are read alike: the frame shown at time t is the last one whose timestamp is at most
t + a quarter of the average frame period (a margin for timestamp rounding). A read seeks to the
keyframe before the first wanted time, decodes forward and keeps only the wanted frames; it seeks
again when the next wanted time is far ahead (sparse sampling of long videos). Frames come back as
uint8 RGB, resized on decode to a short side.

Never a wrong frame: every packet the container holds is a frame it claims, so a wanted time whose
frame (a packet at or before it, after the frame found) did not come out of the decoder is an
error naming the file and that frame's time, never the earlier frame. A threaded decoder may drop
frames after a data error without saying so; such a read is retried without threads, which
decodes what can be decoded and reports each packet it refuses.
The tail slack rule: a wanted time past the stream's last frame gets that frame when it is at most
END_SLACK_FRAMES frame periods past it (headers round a stream's length up) and the header does
not say that the stream goes on further (a truncated file); any other time past the end is an
error. `decode_all` decodes every frame of a file (`lvmae data check --decode videos`).
`write_frames` encodes frames as h264 mp4 or VP9 webm (generated test and benchmark videos).
"""
from __future__ import annotations

import bisect
import dataclasses
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SEEK_GAP_SECONDS = 2.0     # decode forward through gaps up to this long; seek over longer ones
END_SLACK_FRAMES = 3       # how far past the last decoded frame a wanted time may fall
TIME_TOLERANCE = 1e-6      # seconds: a frame's and its packet's times are equal within this


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


def _header_end(container, stream, start: float) -> float | None:
  """Where the header says the stream ends (seconds from its start), None if it does not say."""
  if stream.duration is not None:
    return float(stream.duration * stream.time_base)
  if container.duration is not None:
    return container.duration / av.time_base - start
  return None


def _cut(header_end: float | None, packets: "_Packets", slack: float) -> bool:
  """Whether the header says the stream goes on past the last packet the file holds (truncated)."""
  return header_end is not None and bool(packets.times) and header_end > packets.times[-1] + slack


class _LostFrame(Exception):
  """A frame the container holds (its packet was read) that did not come out of the decoder."""

  def __init__(self, time: float, wanted: float, reason: str | None):
    self.time, self.wanted, self.reason = time, wanted, reason
    super().__init__(f"the frame at {time:.3f} s cannot be decoded{f' ({reason})' if reason else ''}, so the "
                     f"frame shown at {wanted:.3f} s is unknown")


class _Packets:
  """The presentation times of the packets read since the last seek (sorted) and the decoder's
  refusals by packet time: what `check` compares the decoded frames with."""

  def __init__(self):
    self.times: list[float] = []
    self.refused: dict[float, str] = {}
    self.ended = False  # the file's data has ended: the frames still to come are the decoder's flush

  def frames(self, container, stream, start: float):
    """The stream's frames from the current position, in presentation order; records each packet."""
    for packet in container.demux(stream):
      self.ended = self.ended or packet.size == 0
      time = None if packet.pts is None else float(packet.pts * packet.time_base) - start
      if time is not None:
        bisect.insort(self.times, time)
      try:
        decoded = packet.decode()
      except av.error.FFmpegError as e:  # as ffmpeg does: note it, go on (its frame is then missing)
        self.refused[time] = str(e)
        continue
      yield from decoded

  def check(self, shown: float, wanted: float, margin: float) -> None:
    """Raises _LostFrame if a packet lies after the frame `shown` (its time) and at or before
    `wanted` + `margin`: that packet's frame, not `shown`, is the one shown at `wanted`."""
    i = bisect.bisect_right(self.times, shown + TIME_TOLERANCE)
    if i < len(self.times) and self.times[i] <= wanted + margin:
      raise _LostFrame(self.times[i], wanted, self.refused.get(self.times[i]))


def read_frames(path: Path | str, times: np.ndarray, short_side: int | None = None) -> np.ndarray:
  """The frames shown at `times` (seconds from the start, any order, repeats allowed) as
  (len(times), H, W, 3) uint8, the short side resized to `short_side`. Raises VideoError for
  unreadable data, a frame that cannot be decoded or a stream that ends before a wanted time
  (the tail slack rule: module docstring)."""
  times = np.asarray(times, dtype=np.float64)
  try:
    return _read_frames(path, times, short_side, threads=True)
  except (_LostFrame, VideoError):
    pass  # a threaded decoder drops frames after a data error without raising, and which ones depends
          # on timing (a lost frame may read as a cut): the one-thread decode below decides, the same each time
  try:
    return _read_frames(path, times, short_side, threads=False)
  except _LostFrame as e:
    raise VideoError(path, str(e)) from None


def _read_frames(path: Path | str, times: np.ndarray, short_side: int | None, threads: bool) -> np.ndarray:
  order = np.argsort(times, kind="stable")
  wanted = times[order]
  out: list[np.ndarray | None] = [None] * len(times)
  with _open(path) as container:
    stream = container.streams.video[0]
    if threads:
      stream.thread_type = "AUTO"
    try:
      period = 1.0 / _fps(stream)
    except ValueError:
      raise VideoError(path, "no frame rate in the header") from None
    margin, slack = 0.25 * period, END_SLACK_FRAMES * period
    start = _start(stream)
    header_end = _header_end(container, stream, start)
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
        packets = _Packets()
        previous, previous_time, ended, sought = None, None, True, j
        for frame in packets.frames(container, stream, start):
          t = frame.time - start if frame.time is not None else (last_time or 0.0) + period
          last_time = t
          while j < len(wanted) and t > wanted[j] + margin:
            if previous is not None:
              packets.check(previous_time, wanted[j], margin)
              if packets.ended and wanted[j] + margin >= previous_time + period and _cut(header_end, packets, slack):
                raise VideoError(path, f"the file's data ends at {packets.times[-1]:.3f} s but its header says "
                                       f"{header_end:.3f} s (truncated): frames lost with the cut may lie between "
                                       f"{previous_time:.3f} s and {t:.3f} s, so the frame shown at {wanted[j]:.3f} s "
                                       f"is unknown")
            out[order[j]] = convert(previous if previous is not None else frame)
            j += 1
          previous, previous_time = frame, t
          if j == len(wanted) or (j != sought and wanted[j] - t > SEEK_GAP_SECONDS):
            ended = False
            break
        if ended:  # the stream ended: times past its end get the last frame, within the tail slack
          if previous is None:
            if packets.times:  # frames the container holds, none decoded
              held = [t for t in packets.times if t <= wanted[j] + margin] or packets.times
              raise _LostFrame(held[-1], wanted[j], packets.refused.get(held[-1]))
            raise VideoError(path, f"no frames decoded at or after {wanted[j]:.3f} s")
          for time in wanted[j:]:
            packets.check(previous_time, time, margin)
          if wanted[-1] > previous_time + slack:
            raise VideoError(path, f"stream ends at {previous_time:.3f} s, before the wanted "
                                   f"{wanted[-1]:.3f} s (truncated?)")
          if wanted[-1] > previous_time + margin and header_end is not None and header_end > previous_time + slack:
            raise VideoError(path, f"stream ends at {previous_time:.3f} s but its header says {header_end:.3f} s "
                                   f"(truncated): no frame for {wanted[-1]:.3f} s")
          while j < len(wanted):
            out[order[j]] = convert(previous)
            j += 1
    except av.error.FFmpegError as e:
      raise VideoError(path, f"decoding failed ({e})") from None
  return np.stack(out)


@dataclasses.dataclass(frozen=True)
class DecodeReport:
  """What decoding every frame of a file found (`decode_all`)."""
  header_frames: int          # the header's frame count (VideoInfo.num_frames)
  packets: int                # frames the container holds
  decoded: int                # frames that came out of the decoder
  last_time: float | None     # the last decoded frame's time (seconds from the start)
  problems: tuple[str, ...]   # one line each; empty for a sound file

  @property
  def ok(self) -> bool:
    return not self.problems


def _unmatched(times: list[float], found: list[float]) -> list[float]:
  """The times in `times` with no time in `found` within TIME_TOLERANCE."""
  if not found:
    return list(times)
  found_sorted, wanted = np.sort(np.asarray(found, dtype=np.float64)), np.asarray(times, dtype=np.float64)
  after = np.clip(np.searchsorted(found_sorted, wanted), 0, len(found_sorted) - 1)
  before = np.clip(after - 1, 0, len(found_sorted) - 1)
  nearest = np.minimum(np.abs(found_sorted[after] - wanted), np.abs(found_sorted[before] - wanted))
  return [t for t, d in zip(times, nearest) if d > TIME_TOLERANCE]


def decode_all(path: Path | str) -> DecodeReport:
  """Decodes every frame of a video (one thread, no conversion) and compares them with its
  packets and its header: refused packets, frames that never came out, a stream that ends
  before its header says (truncated). Raises VideoError only when the file cannot be opened."""
  info = probe(path)
  problems = []
  with _open(path) as container:
    stream = container.streams.video[0]
    start, packets, decoded = _start(stream), _Packets(), []
    try:
      for frame in packets.frames(container, stream, start):
        if frame.time is not None:
          decoded.append(frame.time - start)
    except av.error.FFmpegError as e:
      problems.append(f"decoding stopped after {len(decoded)} frames ({e})")
    header_end = _header_end(container, stream, start)
  missing = _unmatched(packets.times, decoded)
  if missing:
    first = missing[0]
    reason = f" ({packets.refused[first]})" if first in packets.refused else ""
    problems.append(f"{len(missing)} of {len(packets.times)} frames cannot be decoded, the first at {first:.3f} s{reason}")
  last = max(decoded) if decoded else None
  slack = END_SLACK_FRAMES / info.fps
  if last is None:
    problems.append("no frame can be decoded")
  elif header_end is not None and header_end > last + slack:
    problems.append(f"stream ends at {last:.3f} s but its header says {header_end:.3f} s ({info.num_frames} frames): "
                    f"truncated")
  return DecodeReport(info.num_frames, len(packets.times), len(decoded), last, tuple(problems))


def read_indices(path: Path | str, indices: np.ndarray, fps: float, first_frame: int = 0,
                 short_side: int | None = None) -> np.ndarray:
  """Frames `first_frame + indices` of a video counted at `fps` (see read_frames)."""
  return read_frames(path, (first_frame + np.asarray(indices)) / fps, short_side)


ENCODERS = {".mp4": "libx264", ".webm": "libvpx-vp9"}


def write_frames(path: Path | str, frames, fps: float = 25.0, times: np.ndarray | None = None,
                 keyframe_every: int = 12, faststart: bool = False) -> Path:
  """Encodes uint8 RGB frames (an array or an iterable of (H, W, 3)) as h264 mp4 or VP9 webm, by
  the file's suffix. `times` (seconds, increasing) gives a variable frame rate; by default frames
  are 1 / fps apart. `faststart` puts an mp4's index before its data (as streamed files have it,
  so a truncated copy still opens)."""
  path = Path(path)
  if path.suffix.lower() not in ENCODERS:
    raise ValueError(f"{path}: write .mp4 (h264) or .webm (VP9)")
  path.parent.mkdir(parents=True, exist_ok=True)
  millis = Fraction(1, 1000)
  options = {"movflags": "faststart"} if faststart and path.suffix.lower() == ".mp4" else {}
  with av.open(str(path), mode="w", options=options) as container:
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
