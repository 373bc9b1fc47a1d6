"""Tests of decoding (lvmae/data/video.py), frame sampling and the real-video source and pipeline
(lvmae/data/videos.py) on generated videos whose frames show their own index."""
import itertools
import re
import logging

import numpy as np
import pytest

from lvmae.data.pipeline import Sampling, eval_batches, sample_indices, train_iterator
from lvmae.data.video import END_SLACK_FRAMES, VideoError, decode_all, probe, read_frames, read_indices
from lvmae.data.videos import TooManySkips, VideoData
from tests import dataset_layouts
from tests.video_fixtures import frame_index, truncate, write_video


def _indices(frames):
  return [frame_index(f) for f in frames]


# ---------------------------------------------------------------------------------- decoding


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_strided_reads_are_frame_accurate(tmp_path, suffix):
  path = write_video(tmp_path / f"v{suffix}", 120, fps=30.0, keyframe_every=10)
  info = probe(path)
  assert (info.num_frames, info.fps, info.width, info.height) == (120, 30.0, 64, 48)
  wanted = np.array([7, 9, 11, 13, 45, 119, 0, 9])  # any order, repeats, across keyframes
  assert _indices(read_indices(path, wanted, fps=30.0)) == wanted.tolist()
  assert _indices(read_indices(path, np.arange(4), fps=30.0, first_frame=100)) == [100, 101, 102, 103]


def test_sparse_reads_seek_over_long_gaps(tmp_path):
  path = write_video(tmp_path / "long.mp4", 250, fps=10.0, keyframe_every=10)  # 25 s
  wanted = np.round(np.linspace(0, 249, 5)).astype(int)  # 6 s apart: seeks between frames
  assert _indices(read_indices(path, wanted, fps=10.0)) == wanted.tolist()


def test_resize_to_short_side(tmp_path):
  path = write_video(tmp_path / "v.mp4", 10, width=64, height=48)
  frames = read_indices(path, np.array([3]), fps=25.0, short_side=24)
  assert frames.shape == (1, 24, 32, 3) and frames.dtype == np.uint8
  assert _indices(frames) == [3]


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_variable_frame_rate_reads_by_time(tmp_path, suffix):
  gaps = np.where(np.arange(59) % 2, 0.02, 0.06)  # alternating 20 ms and 60 ms frames
  times = np.concatenate([[0.0], np.cumsum(gaps)])
  path = write_video(tmp_path / f"vfr{suffix}", 60, fps=25.0, times=times)
  # At a frame's own time or after it: that frame; well before it (past the rounding margin of a
  # quarter frame): the previous one.
  query = np.array([times[3], times[10] + 0.005, times[40], times[59], times[7] - 0.03])
  assert _indices(read_frames(path, query)) == [3, 10, 40, 59, 6]


def test_unreadable_videos_raise_errors_naming_the_file(tmp_path):
  with pytest.raises(VideoError, match="missing.mp4: file not found"):
    probe(tmp_path / "missing.mp4")
  garbage = tmp_path / "garbage.mp4"
  garbage.write_bytes(b"\x00not a video" * 100)
  with pytest.raises(VideoError, match="garbage.mp4: cannot open"):
    read_frames(garbage, np.array([0.0]))
  cut = truncate(write_video(tmp_path / "cut.webm", 200, fps=25.0), keep=0.5)
  assert _indices(read_indices(cut, np.array([0, 10]), fps=25.0)) == [0, 10]  # what is left reads
  with pytest.raises(VideoError, match=r"cut.webm: stream ends at .* \(truncated\?\)"):
    read_indices(cut, np.array([0, 190]), fps=25.0)


def _decodable(path):
  """The frame indices a one-thread decode of every packet still gets from a (damaged) file,
  continuing past the packets the decoder refuses (as the ffmpeg tool does)."""
  import av
  found = []
  with av.open(str(path)) as container:
    for packet in container.demux(container.streams.video[0]):
      try:
        found += [frame_index(f.to_ndarray(format="rgb24")) for f in packet.decode()]
      except av.error.FFmpegError:
        pass
  return found


@pytest.mark.parametrize("keep", [0.6, 0.7, 0.8])
def test_a_truncated_mp4_never_gives_a_wrong_frame(tmp_path, keep):
  cut = truncate(write_video(tmp_path / "cut.mp4", 64, fps=25.0, faststart=True), keep=keep)
  decodable = _decodable(cut)
  assert 0 < len(decodable) < 64  # a damaged file, partly readable
  errors = []
  for k in range(64):  # every frame alone: exactly it, or an error naming the file and a time
    try:
      got = _indices(read_indices(cut, np.array([k]), fps=25.0))
    except VideoError as e:
      assert k not in decodable and re.match(r".*cut\.mp4: .*\d+\.\d{3} s.*(cannot be decoded|truncated|unknown)|.*cut\.mp4: no frames decoded at or after",
                                             str(e)), (k, e)
      errors.append(k)
      continue
    assert got == [k]
  assert errors and errors[-1] == 63
  # Together, in any order: the same frames (the threaded decoder alone drops the last decodable
  # ones without an error; the read then decodes on one thread).
  wanted = np.array([k for k in range(64) if k not in errors][::-1])
  assert _indices(read_indices(cut, wanted, fps=25.0)) == wanted.tolist()
  report = decode_all(cut)
  assert (report.header_frames, report.decoded) == (64, len(decodable)) and not report.ok
  assert any("truncated" in p for p in report.problems)


def test_a_frame_missing_mid_stream_is_an_error_naming_its_time(tmp_path):
  cut = truncate(write_video(tmp_path / "cut.mp4", 64, fps=25.0, faststart=True), keep=0.7)
  decodable = _decodable(cut)
  missing = [k for k in range(max(decodable)) if k not in decodable]
  assert missing  # this cut loses B-frames between frames that still decode
  k = missing[0]
  with pytest.raises(VideoError, match=rf"cut.mp4: the frame at {k / 25:.3f} s cannot be decoded"):
    read_indices(cut, np.array([0, k, max(decodable)]), fps=25.0)
  report = decode_all(cut)
  assert report.decoded == len(decodable) and any(f"at {k / 25:.3f} s" in p for p in report.problems)


def test_the_tail_slack_serves_the_last_frame_only_where_the_header_ends_there_too(tmp_path):
  path = write_video(tmp_path / "whole.mp4", 40, fps=25.0)
  assert decode_all(path).ok and decode_all(path).decoded == 40
  # Headers round a stream's length: up to END_SLACK_FRAMES periods past the last frame read as it.
  past = np.arange(39, 39 + END_SLACK_FRAMES + 1)
  assert _indices(read_indices(path, past, fps=25.0)) == [39] * len(past)
  with pytest.raises(VideoError, match=r"whole.mp4: stream ends at 1.560 s, before the wanted .* \(truncated\?\)"):
    read_indices(path, np.array([39 + END_SLACK_FRAMES + 1]), fps=25.0)
  # A file cut after whole packets: nothing refused, but its header says the stream goes on, so a
  # time just past what is left is an error, not the last frame again.
  cut = truncate(write_video(tmp_path / "cut.webm", 200, fps=25.0), keep=0.5)
  last = _decodable(cut)[-1]
  assert _indices(read_indices(cut, np.array([last]), fps=25.0)) == [last]
  with pytest.raises(VideoError, match=r"cut.webm: (stream ends at .* but its header says|the frame at)"):
    read_indices(cut, np.array([last + 1]), fps=25.0)


# ---------------------------------------------------------------------------------- sampling


def test_dense_sampling_is_strided_and_clamped_in_short_clips():
  sampling = Sampling(num_frames=4, stride=3, eval_clips=3)
  rng = np.random.default_rng(0)
  for _ in range(20):
    idx = sample_indices(50, sampling, rng)
    assert np.all(np.diff(idx) == 3) and 0 <= idx[0] and idx[-1] < 50
  assert [sample_indices(50, sampling, view=v)[0] for v in range(3)] == [0, 20, 40]
  assert sample_indices(5, sampling, rng).tolist() == [0, 3, 4, 4]  # span 10 > 5 frames


def test_segment_sampling_takes_one_frame_per_segment():
  sampling = Sampling(num_frames=4, mode="segment")
  rng = np.random.default_rng(1)
  for _ in range(20):
    idx = sample_indices(40, sampling, rng)
    assert (idx // 10).tolist() == [0, 1, 2, 3]  # one frame from each tenth... quarter
  assert sample_indices(40, sampling).tolist() == [5, 15, 25, 35]  # evaluation: the middles
  assert sample_indices(2, sampling).tolist() == [0, 0, 1, 1]       # fewer frames than wanted


def test_uniform_sampling_spans_first_to_last():
  sampling = Sampling(num_frames=5, mode="uniform")
  assert sample_indices(101, sampling).tolist() == [0, 25, 50, 75, 100]
  assert sample_indices(101, sampling, np.random.default_rng(0)).tolist() == [0, 25, 50, 75, 100]


# ---------------------------------------------------------------------- source and pipeline


def _dataset(tmp_path, name="epic_kitchens_100", writer=dataset_layouts.write_epic_kitchens_100, **size):
  root = tmp_path / name
  layout = writer(root)
  for video, (num_frames, fps) in layout["videos"].items():
    write_video(root / video, num_frames, fps=fps, **size)
  return root, layout


def test_source_reads_each_segment_from_its_start(tmp_path):
  root, layout = _dataset(tmp_path)
  data = VideoData(name="epic_kitchens_100", root=str(tmp_path), image_size=32)
  source = data.source("eval")
  segments = layout["segments"]["validation"]
  assert len(source) == len(segments)
  for i, segment in enumerate(segments):
    element = source[i]
    assert element["label"].tolist() == list(segment.labels)
    video_fps = layout["videos"][segment.video][1]
    start = round(segment.start_frame / segment.fps * video_fps)
    assert element["video"].shape[0] == round(segment.stop_frame / segment.fps * video_fps) - start
    assert element["duration"] == pytest.approx((segment.stop_frame - segment.start_frame) / segment.fps)
    frames = element["video"][np.array([0, 2])]
    assert frames.shape == (2, 32, 43, 3)  # the short side decoded at the image size
    assert _indices(frames) == [start, start + 2]


def test_train_batches_are_augmented_crops_of_the_segment(tmp_path):
  _dataset(tmp_path)
  data = VideoData(name="epic_kitchens_100", root=str(tmp_path), image_size=32)
  sampling = Sampling(num_frames=4, stride=2)
  it = train_iterator(data.source("train"), sampling, batch_size=2, seed=0, spatial=data.spatial("train"))
  for batch in itertools.islice(it, 3):
    assert batch["video"].shape == (2, 4, 32, 32, 3) and batch["video"].dtype == np.uint8
    assert batch["label"].shape == (2, 2)


def test_eval_batches_have_views_and_durations(tmp_path):
  _, layout = _dataset(tmp_path)
  data = VideoData(name="epic_kitchens_100", root=str(tmp_path), image_size=32, eval_crops=3)
  sampling = Sampling(num_frames=4, stride=2, eval_clips=2)
  (batch,) = list(eval_batches(data.source("eval"), sampling, batch_size=4, crops=data.spatial("eval")))
  assert batch["video"].shape == (2, 6, 4, 32, 32, 3)  # 2 clips x 3 crops per segment
  assert batch["index"].tolist() == [0, 1]
  seconds = [(s.stop_frame - s.start_frame) / s.fps for s in layout["segments"]["validation"]]
  np.testing.assert_allclose(batch["duration"], seconds, rtol=1e-6)


def test_unreadable_clips_are_skipped_counted_and_limited(tmp_path, caplog):
  root, layout = _dataset(tmp_path, "diving48", dataset_layouts.write_diving48)
  train = layout["segments"]["train"]
  (root / train[0].video).write_bytes(b"corrupt")
  (root / train[1].video).unlink()
  data = VideoData(name="diving48", root=str(tmp_path), image_size=16, max_skip_share=0.7)
  source = data.source("train")
  assert len(source) == len(train) - 1 and len(source.skips) == 1  # the missing file
  sampling = Sampling(num_frames=2, stride=1)
  with caplog.at_level(logging.WARNING):
    batches = list(itertools.islice(
        train_iterator(source, sampling, batch_size=1, seed=0, spatial=data.spatial("train")), 4))
  assert all(b["label"].tolist() == [[train[2].labels[0]]] for b in batches)  # only the good clip
  assert len(source.skips) == 2
  assert any(str(root / train[0].video) in r.getMessage() for r in caplog.records)
  strict = VideoData(name="diving48", root=str(tmp_path), image_size=16, max_skip_share=0.5)
  with pytest.raises(TooManySkips, match=r"2 of the 3 clips of diving48 train"):
    list(itertools.islice(train_iterator(strict.source("train"), sampling, batch_size=1, seed=0,
                                         spatial=strict.spatial("train")), 4))


def test_missing_root_and_unset_root_are_clear_errors(tmp_path):
  from lvmae.data.manifest import AnnotationError
  from lvmae.validation import ConfigError
  with pytest.raises(ConfigError, match="root=''"):
    VideoData(name="diving48").source("train")
  with pytest.raises(AnnotationError, match="diving48 root directory not found"):
    VideoData(name="diving48", root=str(tmp_path)).source("train")


# ------------------------------------------------------------------------------- stages on videos


def test_two_head_finetuning_on_videos_reports_verb_noun_and_action(tmp_path):
  """EPIC-Kitchens layout: a tiny classifier trains with Mixup/CutMix and RandAugment, then
  evaluates every validation segment; action top-1 requires both heads right."""
  from lvmae.data.augment import Augmentation
  from lvmae.models.specs import TransformerSpec
  from lvmae.train.finetune import Finetune
  from lvmae.train.optim import Schedule
  _dataset(tmp_path)
  data = VideoData(name="epic_kitchens_100", root=str(tmp_path), image_size=16,
                   augment=Augmentation(rand_augment_ops=2))
  stage = Finetune(data=data, sampling=Sampling(num_frames=4, stride=2), tubelet=(2, 8, 8),
                   encoder=TransformerSpec(width=16, depth=1, heads=2),
                   schedule=Schedule(steps=2, batch_size=2, learning_rate=1e-3, warmup_steps=1,
                                     checkpoint_every=2, log_every=1),
                   mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1, eval_batch_size=2)
  result = stage.run(tmp_path / "run", upstream={})
  predictions = np.load(tmp_path / "run" / "predictions.npz")
  labels, predicted = predictions["label"], predictions["prediction"]
  assert labels.shape == predicted.shape == (2, 2) and predictions["probs"].shape == (2, 97 + 300)
  np.testing.assert_allclose(predictions["probs"][:, :97].sum(-1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(predictions["probs"][:, 97:].sum(-1), 1.0, rtol=1e-5)
  assert result["top1_verb"] == np.mean(predicted[:, 0] == labels[:, 0])
  assert result["top1_noun"] == np.mean(predicted[:, 1] == labels[:, 1])
  assert result["top1"] == np.mean((predicted == labels).all(-1))
  assert result["num_eval"] == 2 and result["num_skipped"] == 0
  assert predictions["duration"].shape == (2,) and np.all(predictions["duration"] > 0)


def test_fixed_views_are_centre_crops_of_the_first_frames_with_unreadable_rows_zeroed(tmp_path):
  from lvmae.data.pipeline import fixed_views
  # Square frames: a centre crop keeps the whole index pattern.
  root, layout = _dataset(tmp_path, "diving48", dataset_layouts.write_diving48, width=64, height=64)
  train = layout["segments"]["train"]
  (root / train[1].video).write_bytes(b"corrupt")
  data = VideoData(name="diving48", root=str(tmp_path), image_size=16, max_skip_share=0.5)
  sampling = Sampling(num_frames=3, stride=4)
  views = fixed_views(data.source("train", fixed_view=True), range(3), sampling, data.spatial("fixed"))
  assert views["video"].shape == (3, 3, 16, 16, 3) and views["valid"].tolist() == [True, False, True]
  assert not views["video"][1].any()
  for row in (0, 2):
    first = train[row].start_frame
    assert _indices(views["video"][row]) == [first, first + 4, first + 8]


def test_ssv2_refuses_flips_that_would_change_its_classes():
  from lvmae.data.augment import Augmentation
  from lvmae.validation import ConfigError
  with pytest.raises(ConfigError, match="augment.flip=True: ssv2's classes name directions"):
    VideoData(name="ssv2")
  assert not VideoData(name="ssv2", augment=Augmentation(flip=False)).augment.flip


@pytest.mark.parametrize("name, writer", [
    ("epic_kitchens_100", dataset_layouts.write_epic_kitchens_100),
    ("diving48", dataset_layouts.write_diving48),
    ("ssv2", dataset_layouts.write_ssv2),            # VP9 webm
    ("kinetics_400", dataset_layouts.write_kinetics),
    ("kinetics_710", dataset_layouts.write_kinetics_710),
    ("finegym288", dataset_layouts.write_finegym288),  # seconds into full videos
])
def test_every_dataset_reads_its_segments_first_frames(tmp_path, name, writer):
  from lvmae.data.augment import Augmentation
  from lvmae.data.readers import SPLITS
  root, layout = _dataset(tmp_path, name, writer)
  data = VideoData(name=name, root=str(tmp_path), image_size=16, augment=Augmentation(flip=False),
                   train_split="train", eval_split=SPLITS[name][1])
  for which, split in (("train", "train"), ("eval", SPLITS[name][1])):
    source = data.source(which)
    expected = layout["segments"][split]
    assert len(source) == len(expected) and len(source.skips) == 0
    for i, segment in enumerate(expected):
      element = source[i]
      assert element["label"].tolist() == list(segment.labels)
      video_fps = layout["videos"][segment.video][1]
      first = round(segment.start_frame / (segment.fps or video_fps) * video_fps)
      assert _indices(element["video"][np.array([0, 1])]) == [first, first + 1]
