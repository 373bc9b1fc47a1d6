"""lvmae.data.augment: one draw per clip, crops inside the frame, real flips, eval crops."""
import cv2
import fiddle as fdl
import numpy as np
import pytest

from lvmae.data import augment
from lvmae.data.augment import Augmentation, augment_clip, eval_crops, resize_short_side
from lvmae.validation import ConfigError, check_config

RANDAUG = Augmentation(rand_augment_ops=3, rand_augment_magnitude=9.0)


def _noise_clip(t=4, h=36, w=48, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _coordinate_clip(t=3, h=120, w=200):
  """Channel 0 holds the row, channel 1 the column, channel 2 the frame index."""
  ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
  frame = np.stack([ys, xs, np.zeros_like(ys)], -1)
  clip = np.repeat(frame[None], t, 0)
  clip[..., 2] = np.arange(t)[:, None, None]
  return clip.astype(np.uint8)


def test_shapes_and_dtypes():
  clip = _noise_clip()
  out = augment_clip(clip, 24, RANDAUG, np.random.default_rng(0))
  assert out.shape == (4, 24, 24, 3) and out.dtype == np.uint8
  assert resize_short_side(clip, 18).shape == (4, 18, 24, 3)
  assert resize_short_side(clip, 72).shape == (4, 72, 96, 3)
  assert resize_short_side(clip.transpose(0, 2, 1, 3), 18).shape == (4, 24, 18, 3)
  assert eval_crops(clip, 16, 1).shape == (1, 4, 16, 16, 3)
  assert eval_crops(clip, 16, 3).dtype == np.uint8


def test_one_parameter_draw_per_clip():
  frame = _noise_clip(t=1, seed=3)
  clip = np.repeat(frame, 5, 0)
  aug = Augmentation(rand_augment_ops=4, rand_augment_magnitude=9.0, rand_augment_std=1.0)
  for seed in range(12):
    out = augment_clip(clip, 20, aug, np.random.default_rng(seed))
    assert (out == out[:1]).all(), seed


@pytest.mark.parametrize("name", sorted(augment.RAND_AUGMENT_OPS))
def test_every_op_treats_frames_alike(name):
  clip = np.repeat(_noise_clip(t=1, h=20, w=20, seed=5), 3, 0)
  for sign in (-1, 1):
    out = augment.RAND_AUGMENT_OPS[name](clip, 0.9, sign)
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert (out == out[:1]).all()


def test_op_magnitudes():
  clip = _noise_clip(t=2, h=16, w=16)
  ops = augment.RAND_AUGMENT_OPS
  np.testing.assert_array_equal(ops["solarize"](clip, 1.0, 1), 255 - clip)
  np.testing.assert_array_equal(ops["solarize"](clip, 0.0, 1), clip)
  np.testing.assert_array_equal(ops["posterize"](clip, 1.0, 1), clip & 0xF0)
  np.testing.assert_array_equal(ops["brightness"](clip, 0.0, -1), clip)
  np.testing.assert_array_equal(ops["rotate"](clip, 0.0, 1), clip)
  dark = ops["brightness"](clip, 1.0, -1)
  np.testing.assert_array_equal(dark, np.rint(clip * np.float32(0.1)).astype(np.uint8))
  # A whole-width translation reveals only the fill colour.
  shifted = ops["translate_x"](np.full((1, 10, 10, 3), 7, np.uint8), 1.0, 1)
  assert (shifted[:, :, :4] == 128).all() and (shifted[:, :, 5:] == 7).all()


def test_identity_when_augmentation_is_off():
  clip = _noise_clip(h=24, w=24)
  aug = Augmentation(crop_scale=(1.0, 1.0), flip=False, rand_augment_ops=0)
  for seed in range(5):
    np.testing.assert_array_equal(augment_clip(clip, 24, aug, np.random.default_rng(seed)), clip)


def test_flip_mirrors_the_frame():
  clip = _noise_clip(h=24, w=32)  # ratio 4:3, so a whole-frame crop is always drawn
  aug = Augmentation(crop_scale=(1.0, 1.0), crop_ratio=(4 / 3, 4 / 3), flip=True)
  plain = np.stack([cv2.resize(f, (16, 16), interpolation=cv2.INTER_AREA) for f in clip])
  mirrored = plain[:, :, ::-1]
  assert not np.array_equal(plain, mirrored)
  seen = set()
  for seed in range(16):
    out = augment_clip(clip, 16, aug, np.random.default_rng(seed))
    if np.array_equal(out, mirrored):
      seen.add("flipped")
    else:
      np.testing.assert_array_equal(out, plain)
      seen.add("plain")
  assert seen == {"flipped", "plain"}


def test_crop_comes_from_inside_the_frame():
  clip = _coordinate_clip()
  aug = Augmentation(flip=False)
  boxes = set()
  for seed in range(30):
    top, left, h, w = augment.sample_crop(120, 200, aug, np.random.default_rng(seed))
    assert 0 <= top and top + h <= 120 and 0 <= left and left + w <= 200
    boxes.add((top, left, h, w))
    out = augment_clip(clip, 32, aug, np.random.default_rng(seed)).astype(int)
    rows, cols = out[..., 0], out[..., 1]
    tol = max(h, w) / 32 / 2 + 1  # area averaging blurs the edge rows by half a source span
    assert top <= rows.min() <= top + tol and top + h - 1 - tol <= rows.max() <= top + h - 1
    assert left <= cols.min() <= left + tol and left + w - 1 - tol <= cols.max() <= left + w - 1
    assert (np.diff(rows, axis=1) >= 0).all() and (np.diff(cols, axis=2) >= 0).all()
    np.testing.assert_array_equal(out[..., 2], np.arange(3)[:, None, None] + np.zeros_like(rows))
  assert len(boxes) > 20


def test_crop_shares_and_ratios_follow_the_config():
  aug = Augmentation(crop_scale=(0.25, 0.5), crop_ratio=(0.5, 2.0))
  for seed in range(30):
    _, _, h, w = augment.sample_crop(400, 400, aug, np.random.default_rng(seed))
    assert 0.24 <= h * w / 160000 <= 0.51 and 0.48 <= w / h <= 2.05


def test_centre_fallback_when_no_draw_fits():
  # A whole-frame crop at ratio 2 never fits a square frame: the largest centred 2:1 box.
  aug = Augmentation(crop_scale=(1.0, 1.0), crop_ratio=(2.0, 2.0))
  assert augment.sample_crop(40, 40, aug, np.random.default_rng(0)) == (10, 0, 20, 40)


def test_same_seed_same_output_different_seeds_differ():
  clip = _noise_clip()
  a = augment_clip(clip, 24, RANDAUG, np.random.default_rng(7))
  b = augment_clip(clip, 24, RANDAUG, np.random.default_rng(7))
  c = augment_clip(clip, 24, RANDAUG, np.random.default_rng(8))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


@pytest.mark.parametrize("transpose", [False, True])
def test_eval_crops_cover_start_centre_and_end(transpose):
  clip = _noise_clip(h=30, w=50)
  if transpose:
    clip = np.ascontiguousarray(clip.transpose(0, 2, 1, 3))
  resized = resize_short_side(clip, 12)
  long_side = 20
  assert resized.shape[1:3] == ((long_side, 12) if transpose else (12, long_side))
  flat = resized.transpose(0, 2, 1, 3) if transpose else resized  # long side on axis 2

  def crop(start):
    piece = flat[:, :, start:start + 12]
    return piece.transpose(0, 2, 1, 3) if transpose else piece

  three = eval_crops(clip, 12, 3)
  np.testing.assert_array_equal(three[0], crop(0))
  np.testing.assert_array_equal(three[1], crop(4))
  np.testing.assert_array_equal(three[2], crop(8))
  np.testing.assert_array_equal(eval_crops(clip, 12, 1)[0], crop(4))


def test_resize_short_side_interpolation():
  clip = _noise_clip(h=20, w=30)
  down = resize_short_side(clip, 10)
  expected = cv2.resize(clip[0], (15, 10), interpolation=cv2.INTER_AREA)
  np.testing.assert_array_equal(down[0], expected)
  up = resize_short_side(clip, 40)
  expected = cv2.resize(clip[1], (60, 40), interpolation=cv2.INTER_LINEAR)
  np.testing.assert_array_equal(up[1], expected)


def test_validation():
  """The order of each pair in the dataclass; types and ranges through the config check (as every
  config is built: runs.build)."""
  with pytest.raises(ConfigError, match="crop_scale"):
    Augmentation(crop_scale=(0.5, 0.2))
  with pytest.raises(ConfigError, match="crop_ratio"):
    Augmentation(crop_ratio=(2.0, 1.0))
  for field, value in (("crop_ratio", (0.0, 1.0)), ("rand_augment_ops", -1), ("rand_augment_magnitude", 11.0),
                       ("rand_augment_std", -0.1), ("flip", 1), ("crop_scale", (0.5,))):
    with pytest.raises(ConfigError, match=rf"^{field}[=[]"):
      check_config(fdl.Config(Augmentation, **{field: value}))
  with pytest.raises(ValueError, match="num_crops"):
    eval_crops(_noise_clip(), 16, 2)
  with pytest.raises(ValueError, match="uint8"):
    augment_clip(_noise_clip().astype(np.float32), 16, Augmentation(), np.random.default_rng(0))
