"""Pre-decoded datasets: converting a video source to JPEG frames in ArrayRecord shards, the grain
source that reads them back, and a one-thread loader benchmark to compare the two.

`convert` writes every segment of a `VideoSource` (all of its frames, at the video's own frame
rate, the short side resized) as one record; `ArrayRecordSource` yields the same elements as the
video source, so the pipelines read either. Layout of `out_dir`:

  <split>-00000-of-000NN.array_record   shards written with "group_size:1" (cheap random access)
  <split>.json                          the index: {"dataset", "split", "heads": [[name, [class
                                        names]], ...], "shards": [file names], "records", "skipped":
                                        [reasons], "short_side", "quality"}

A record is a 4-byte little-endian header length, then a UTF-8 JSON header
{"row", "id", "labels", "duration", "fps", "num_frames", "frame_bytes": [length of each JPEG]},
then the frames' JPEG files concatenated in frame order.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import struct
import time
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
from array_record.python.array_record_data_source import ArrayRecordDataSource
from array_record.python.array_record_module import ArrayRecordWriter
from tqdm import tqdm

from lvmae.atomic import write_atomic
from lvmae.data.pipeline import Sampling, SkippedClip, sample_indices
from lvmae.data.video import VideoError, read_indices
from lvmae.data.videos import VideoSource
from lvmae.validation import ConfigError, check_positive

log = logging.getLogger(__name__)

WRITER_OPTIONS = "group_size:1,uncompressed"  # JPEGs do not compress further
DECODE_CHUNK = 64                              # frames decoded at once while converting
_LENGTH = struct.Struct("<I")


def index_path(out_dir: Path | str, split: str) -> Path:
  return Path(out_dir) / f"{split}.json"


def shard_name(split: str, shard: int, num_shards: int) -> str:
  return f"{split}-{shard:05d}-of-{num_shards:05d}.array_record"


# ---------------------------------------------------------------------------------- records


def encode_record(header: dict[str, Any], jpegs: list[bytes]) -> bytes:
  """One record: header length, JSON header (with "frame_bytes" added), the JPEGs."""
  header = {**header, "frame_bytes": [len(j) for j in jpegs]}
  head = json.dumps(header, separators=(",", ":")).encode("utf-8")
  return b"".join([_LENGTH.pack(len(head)), head, *jpegs])


def decode_header(record: bytes) -> tuple[dict[str, Any], int]:
  """The record's header and the offset of its first JPEG."""
  (length,) = _LENGTH.unpack_from(record, 0)
  start = _LENGTH.size + length
  return json.loads(bytes(record[_LENGTH.size:start]).decode("utf-8")), start


def encode_jpeg(frame: np.ndarray, quality: int) -> bytes:
  ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                          [cv2.IMWRITE_JPEG_QUALITY, quality])
  if not ok:
    raise ValueError(f"JPEG encoding of a {frame.shape} frame failed")
  return data.tobytes()


def decode_jpeg(data: memoryview | bytes) -> np.ndarray:
  frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if frame is None:
    raise ValueError("corrupt JPEG frame in an ArrayRecord record")
  return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


# ---------------------------------------------------------------------------------- converting


def _segment_jpegs(clip, short_side: int, quality: int) -> list[bytes]:
  """All frames of a source's lazy clip as JPEGs, decoded in chunks; raises VideoError or
  SkippedClip for an unreadable video."""
  if getattr(clip, "error", None) is not None:  # the source could not read the video's header
    raise SkippedClip(clip.error)
  jpegs = []
  for start in range(0, clip.shape[0], DECODE_CHUNK):
    indices = np.arange(start, min(start + DECODE_CHUNK, clip.shape[0]))
    frames = read_indices(clip.path, indices, clip.fps, clip.first_frame, short_side)
    jpegs.extend(encode_jpeg(frame, quality) for frame in frames)
  return jpegs


class _ShardWriter:
  """Writes records to numbered shards of at most `per_shard` records, under temporary names
  until `finish` renames them `<split>-XXXXX-of-NNNNN.array_record`."""

  def __init__(self, out_dir: Path, split: str, per_shard: int):
    self.out_dir, self.split, self.per_shard = out_dir, split, per_shard
    self.paths: list[Path] = []
    self.records = 0
    self._writer: ArrayRecordWriter | None = None

  def write(self, record: bytes) -> None:
    if self.records % self.per_shard == 0:
      self._close()
      self.paths.append(self.out_dir / f".{self.split}-{len(self.paths):05d}.array_record.partial")
      self._writer = ArrayRecordWriter(str(self.paths[-1]), WRITER_OPTIONS)
    self._writer.write(record)
    self.records += 1

  def _close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None

  def finish(self) -> list[str]:
    self._close()
    for stale in self.out_dir.glob(f"{self.split}-?????-of-?????.array_record"):
      stale.unlink()  # an earlier conversion's shards
    names = [shard_name(self.split, i, len(self.paths)) for i in range(len(self.paths))]
    for path, name in zip(self.paths, names):
      path.replace(self.out_dir / name)
    return names

  def abort(self) -> None:
    self._close()
    for path in self.paths:
      path.unlink(missing_ok=True)


def convert(source: VideoSource, out_dir: Path | str, *, short_side: int, quality: int = 90,
            records_per_shard: int = 1024, progress: bool = True) -> dict[str, Any]:
  """Writes every readable segment of `source` to ArrayRecord shards under `out_dir` (see the
  module docstring) and returns the index it writes to `<out_dir>/<split>.json`. Unreadable
  videos are skipped and listed in the index with the files the source found missing."""
  check_positive("short_side", short_side)
  check_positive("records_per_shard", records_per_shard)
  if not 1 <= quality <= 100:
    raise ConfigError("quality", quality, "must be in [1, 100]")
  manifest, out_dir = source.manifest, Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  skipped = list(source.skips.reasons.values()) if source.skips is not None else []
  shards = _ShardWriter(out_dir, manifest.split, records_per_shard)
  try:
    for i in tqdm(range(len(source)), desc=f"{manifest.dataset} {manifest.split}", unit="clip",
                  disable=not progress):
      element = source[i]
      clip, row = element["video"], int(element["index"])
      try:
        jpegs = _segment_jpegs(clip, short_side, quality)
      except (VideoError, SkippedClip) as e:
        log.warning("skipping row %d of %s %s: %s", row, manifest.dataset, manifest.split, e)
        skipped.append(str(e))
        continue
      header = {"row": row, "id": manifest.segments[row].id,
                "labels": np.asarray(element["label"]).tolist(),
                "duration": float(element["duration"]), "fps": float(clip.fps),
                "num_frames": len(jpegs)}
      shards.write(encode_record(header, jpegs))
    if not shards.records:
      raise RuntimeError(f"none of the {len(source)} clips of {manifest.dataset} {manifest.split} "
                         f"under {source.root} could be read; e.g. {skipped[:3]}")
  except BaseException:
    shards.abort()
    raise
  index = {"dataset": manifest.dataset, "split": manifest.split,
           "heads": [[head.name, list(head.classes)] for head in manifest.heads],
           "shards": shards.finish(), "records": shards.records, "skipped": skipped,
           "short_side": short_side, "quality": quality}
  write_atomic(index_path(out_dir, manifest.split), json.dumps(index, indent=1))
  if skipped:
    log.warning("%s %s: %d clips skipped, %d written to %s", manifest.dataset, manifest.split,
                len(skipped), shards.records, out_dir)
  return index


# ---------------------------------------------------------------------------------- reading


@dataclasses.dataclass(frozen=True)
class JpegClip:
  """The frames of one record, decoded on indexing: clip[indices] -> (len, H, W, 3) uint8 RGB.

  Only the wanted JPEGs are decoded (each distinct index once)."""
  record: bytes
  offsets: np.ndarray  # (num_frames + 1,) byte offsets of the JPEGs in `record`

  @property
  def shape(self) -> tuple[int]:
    return (len(self.offsets) - 1,)

  def __getitem__(self, indices) -> np.ndarray:
    indices = np.asarray(indices, dtype=np.int64)
    if indices.ndim == 0:
      return self[indices[None]][0]
    n = self.shape[0]
    if not indices.size or indices.min() < 0 or indices.max() >= n:
      raise IndexError(f"frame indices {indices.tolist()} not in a clip of {n} frames")
    unique, inverse = np.unique(indices, return_inverse=True)
    view = memoryview(self.record)
    frames = [decode_jpeg(view[self.offsets[i]:self.offsets[i + 1]]) for i in unique]
    return np.stack(frames)[inverse.reshape(indices.shape)]


def _missing(path: Path, what: str) -> FileNotFoundError:
  return FileNotFoundError(f"{path}: {what} not found; write it with `lvmae data convert`")


class ArrayRecordSource:
  """Random access to the records `convert` wrote for one split (a grain data source).

  Elements, as VideoSource's: {"video": JpegClip, "label": (heads,) int32, "index": manifest row,
  "duration": float32 seconds}.
  """
  may_skip = False  # unreadable videos were dropped at conversion
  skips = None

  def __init__(self, out_dir: Path | str, split: str):
    self.out_dir, self.split = Path(out_dir), split
    path = index_path(self.out_dir, split)
    if not path.is_file():
      raise _missing(path, f"ArrayRecord index of split {split!r}")
    self.index: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    shards = [self.out_dir / name for name in self.index["shards"]]
    for shard in shards:
      if not shard.is_file():
        raise _missing(shard, f"ArrayRecord shard listed in {path}")
    self._records = ArrayRecordDataSource([str(s) for s in shards])
    if len(self._records) != self.index["records"]:
      raise ValueError(f"{self.out_dir}: the shards of {split} hold {len(self._records)} records, "
                       f"the index {self.index['records']}; convert again")

  @property
  def heads(self) -> list[tuple[str, list[str]]]:
    return [(name, classes) for name, classes in self.index["heads"]]

  def __len__(self) -> int:
    return len(self._records)

  def __repr__(self) -> str:
    return (f"ArrayRecordSource({self.index['dataset']} {self.split}, {len(self)} clips, "
            f"short side {self.index['short_side']}, dir={self.out_dir})")

  def __getitem__(self, index: int) -> dict[str, Any]:
    record = self._records[int(index)]
    header, start = decode_header(record)
    offsets = start + np.concatenate([[0], np.cumsum(header["frame_bytes"])]).astype(np.int64)
    return {"video": JpegClip(record, offsets), "label": np.asarray(header["labels"], np.int32),
            "index": int(header["row"]), "duration": np.float32(header["duration"])}


# ---------------------------------------------------------------------------------- benchmark


def loader_benchmark(source: VideoSource | ArrayRecordSource, sampling: Sampling, *, num_clips: int,
                     spatial: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
                     seed: int = 0) -> dict[str, Any]:
  """Times reading `num_clips` random training views of `source` on this one thread (frame
  indices as training samples them, decoding, then `spatial` when given), after one warm-up
  clip. Clips that cannot be read are not counted."""
  check_positive("num_clips", num_clips)
  rng = np.random.default_rng(seed)

  def read_one() -> bool:
    clip = source[int(rng.integers(len(source)))]["video"]
    try:
      frames = clip[sample_indices(clip.shape[0], sampling, rng)]
    except SkippedClip:
      return False
    if spatial is not None:
      spatial(frames, rng)
    return True

  read_one()  # warm-up: opens files, fills caches
  start = time.perf_counter()
  clips = sum(read_one() for _ in range(num_clips))
  seconds = time.perf_counter() - start
  if not clips:
    raise RuntimeError(f"none of {num_clips} clips of {source!r} could be read")
  return {"clips": clips, "seconds": seconds, "clips_per_s_per_core": clips / seconds,
          "frames": sampling.num_frames}
