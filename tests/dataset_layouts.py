"""Small annotation trees in each real dataset's official layout, for the reader and dataset tests.

Each `write_<dataset>(root, ...)` writes a handful of rows over a few classes, with the official
file names, column names and JSON keys, and returns

  {"heads": {head name: class names (index = class id)},
   "segments": {split: [expected Segment, in file order]},
   "videos": {video path relative to root: (num_frames, fps)}}

where "videos" gives, for every video a segment refers to, a frame count and frame rate for a
generated file long enough to hold all of its segments (segments counted at fps None use the
file's own frames; FineGym's fps 1.0 segments are seconds). No video files are written.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from lvmae.data.manifest import Segment

# ------------------------------------------------------------------------------------ helpers


def _write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(header)
    writer.writerows(rows)
  return path


def _write_json(path: Path, data) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(data, indent=1), encoding="utf-8")
  return path


def _write_lines(path: Path, lines: list[str]) -> Path:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
  return path


def _timestamp(frame: int, fps: float) -> str:
  seconds = frame / fps
  return f"{int(seconds // 3600):02d}:{int(seconds // 60 % 60):02d}:{seconds % 60:05.2f}"


# ---------------------------------------------------------------------------- EPIC-Kitchens-100

EPIC_VERBS = [(0, "take", "['take', 'grab', 'pick-up']", "retrieve"),
              (1, "put", "['put', 'place', 'put-down']", "leave"),
              (2, "wash", "['wash', 'rinse', 'clean']", "clean")]
EPIC_NOUNS = [(0, "tap", "['tap', 'tap:water']", "appliances"),
              (1, "plate", "['plate', 'dish']", "crockery"),
              (2, "cup", "['cup', 'mug']", "crockery"),
              (3, "knife", "['knife', 'knife:kitchen']", "cutlery")]
EPIC_VIDEOS = {"P01_01": (25.0, 8.0), "P02_102": (30.0, 6.0)}  # video_id: (fps, duration)
# split: (narration_id, video_id, 1-based start_frame, inclusive stop_frame, verb id, noun id)
EPIC_ROWS = {
    "train": [("P01_01_0", "P01_01", 1, 30, 0, 0), ("P01_01_1", "P01_01", 41, 90, 2, 1),
              ("P02_102_0", "P02_102", 12, 75, 1, 3)],
    "validation": [("P01_01_2", "P01_01", 100, 160, 1, 2), ("P02_102_1", "P02_102", 5, 48, 0, 3)],
}
EPIC_COLUMNS = ["narration_id", "participant_id", "video_id", "narration_timestamp", "start_timestamp",
                "stop_timestamp", "start_frame", "stop_frame", "narration", "verb", "verb_class", "noun",
                "noun_class", "all_nouns", "all_noun_classes"]


def write_epic_kitchens_100(root: Path) -> dict:
  annotations = Path(root) / "annotations"
  class_header = ["id", "key", "instances", "category"]
  _write_csv(annotations / "EPIC_100_verb_classes.csv", class_header, [list(v) for v in EPIC_VERBS])
  _write_csv(annotations / "EPIC_100_noun_classes.csv", class_header, [list(n) for n in EPIC_NOUNS])
  _write_csv(annotations / "EPIC_100_video_info.csv", ["video_id", "duration", "fps", "resolution"],
             [[v, duration, fps, "1920x1080"] for v, (fps, duration) in EPIC_VIDEOS.items()])
  segments = {}
  for split, rows in EPIC_ROWS.items():
    lines, segments[split] = [], []
    for narration_id, video_id, start, stop, verb, noun in rows:
      fps, participant = EPIC_VIDEOS[video_id][0], video_id.split("_")[0]
      verb_key, noun_key = EPIC_VERBS[verb][1], EPIC_NOUNS[noun][1]
      lines.append([narration_id, participant, video_id, _timestamp(start, fps), _timestamp(start, fps),
                    _timestamp(stop, fps), start, stop, f"{verb_key} {noun_key}", verb_key, verb,
                    noun_key, noun, f"['{noun_key}']", f"[{noun}]"])
      segments[split].append(Segment(f"{participant}/videos/{video_id}.MP4", (verb, noun), start - 1,
                                     stop, fps, narration_id))
    _write_csv(annotations / f"EPIC_100_{split}.csv", EPIC_COLUMNS, lines)
  videos = {f"{v.split('_')[0]}/videos/{v}.MP4": (round(fps * duration), fps)
            for v, (fps, duration) in EPIC_VIDEOS.items()}
  heads = {"verb": tuple(v[1] for v in EPIC_VERBS), "noun": tuple(n[1] for n in EPIC_NOUNS)}
  return {"heads": heads, "segments": segments, "videos": videos}


# ------------------------------------------------------------------------------------ Diving48

DIVING48_VOCAB = [["Back", "15som", "05Twis", "FREE"], ["Forward", "25som", "NoTwis", "PIKE"],
                  ["Inward", "15som", "NoTwis", "TUCK"]]
DIVING48_ROWS = {  # file split: (vid_name, label, start_frame, end_frame)
    "train": [("-mmq0PT-u8k_00000", 0, 0, 40), ("-mmq0PT-u8k_00001", 2, 0, 52),
              ("0a2k4nG3bCk_00012", 1, 3, 30)],
    "test": [("1JqOuaXW1Ks_00003", 1, 0, 36)],
}


def write_diving48(root: Path) -> dict:
  root = Path(root)
  _write_json(root / "Diving48_vocab.json", DIVING48_VOCAB)
  segments, videos = {}, {}
  for split, rows in DIVING48_ROWS.items():
    _write_json(root / f"Diving48_V2_{split}.json",
                [{"vid_name": n, "label": y, "start_frame": s, "end_frame": e} for n, y, s, e in rows])
    segments[split] = [Segment(f"rgb/{n}.mp4", (y,), s, e, None, n) for n, y, s, e in rows]
    videos.update({f"rgb/{n}.mp4": (e, 25.0) for n, _, _, e in rows})
  segments["validation"] = segments["test"]
  heads = {"class": tuple(" / ".join(entry) for entry in DIVING48_VOCAB)}
  return {"heads": heads, "segments": segments, "videos": videos}


# ------------------------------------------------------------------------ Something-Something v2

SSV2_LABELS = {"Putting something on a surface": "1", "Holding something next to something": "0",
               "Pushing something from left to right": "2"}  # ids are strings, not in file order
SSV2_ROWS = {  # split: (id, label, template, placeholders)
    "train": [("78687", "holding potato next to vicks vaporub bottle",
               "Holding [something] next to [something]", ["potato", "vicks vaporub bottle"]),
              ("42326", "putting a cup on a surface", "Putting [something] on a surface", ["a cup"])],
    "validation": [("74225", "pushing pen from left to right", "Pushing [something] from left to right",
                    ["pen"])],
}


def write_ssv2(root: Path) -> dict:
  labels = Path(root) / "labels"
  _write_json(labels / "something-something-v2-labels.json", SSV2_LABELS)
  segments, videos = {}, {}
  for split, rows in SSV2_ROWS.items():
    _write_json(labels / f"something-something-v2-{split}.json",
                [{"id": i, "label": l, "template": t, "placeholders": p} for i, l, t, p in rows])
    segments[split] = [
        Segment(f"20bn-something-something-v2/{i}.webm",
                (int(SSV2_LABELS[t.replace("[", "").replace("]", "")]),), id=i) for i, _, t, _ in rows]
    videos.update({s.video: (24, 12.0) for s in segments[split]})
  classes = tuple(sorted(SSV2_LABELS, key=lambda name: int(SSV2_LABELS[name])))
  return {"heads": {"class": classes}, "segments": segments, "videos": videos}


# ------------------------------------------------------------------------------------ Kinetics

KINETICS_ROWS = {  # split: (label, youtube_id, time_start, time_end)
    "train": [("abseiling", "--07WQ2iBlw", 10, 20), ("air drumming", "-0ZYJdDBI2w", 0, 10),
              ("zumba", "0a1b2c3d4e5", 125, 135), ("abseiling", "3kV_9LP_ab0", 30, 40)],
    "validation": [("air drumming", "5fQ_RUe_x1Y", 40, 50), ("zumba", "ZZtop_12345", 0, 10)],
    "test": [("abseiling", "tEsT-000001", 5, 15)],
}
KINETICS_LAYOUTS = ("flat", "by_label", "by_label_underscores")


def write_kinetics(root: Path, rows: dict | None = None, layout: str = "flat",
                   validation_csv: str = "validate.csv", validation_dir: str = "val",
                   is_cc: bool = True) -> dict:
  """A Kinetics-400/600/700 tree; `rows` as KINETICS_ROWS (the default).

  `layout` "by_label" makes a folder per label in each split dir (named as the label, or with
  underscores for spaces for "by_label_underscores"); "flat" makes none.
  """
  assert layout in KINETICS_LAYOUTS, layout
  root, rows = Path(root), rows or KINETICS_ROWS
  classes = tuple(sorted({label.strip() for label, *_ in rows["train"]}))
  csv_names = {"train": "train.csv", "validation": validation_csv, "test": "test.csv"}
  split_dirs = {"train": "train", "validation": validation_dir, "test": "test"}
  header = ["label", "youtube_id", "time_start", "time_end", "split"] + (["is_cc"] if is_cc else [])
  segments, videos = {}, {}
  for split, split_rows in rows.items():
    column = "val" if split == "validation" else split
    _write_csv(root / "annotations" / csv_names[split], header,
               [[l, y, s, e, column] + ([0] if is_cc else []) for l, y, s, e in split_rows])
    segments[split] = []
    for label, youtube_id, start, end in split_rows:
      folder = split_dirs[split]
      if layout != "flat":
        folder += "/" + (label.strip().replace(" ", "_") if layout.endswith("underscores") else label.strip())
        (root / folder).mkdir(parents=True, exist_ok=True)
      name = f"{youtube_id}_{start:06d}_{end:06d}"
      segments[split].append(Segment(f"{folder}/{name}.mp4", (classes.index(label.strip()),), id=name))
      videos[f"{folder}/{name}.mp4"] = (20, 10.0)
  return {"heads": {"class": classes}, "segments": segments, "videos": videos}


# ---------------------------------------------------------------------------------- Kinetics-710

K710_ROWS = {  # release: split: (label, youtube_id, time_start, time_end)
    "k400": {"train": [("abseiling", "aaaaaaaaaa1", 0, 10), ("air drumming", "bbbbbbbbbb2", 5, 15),
                       ("zumba", "cccccccccc3", 20, 30)],
             "validation": [("zumba", "vvvvvvvvvv1", 0, 10)]},
    "k600": {"train": [("Abseiling", "aaaaaaaaaa1", 0, 10),       # same video as k400: dropped
                       (" Air Drumming", "dddddddddd4", 1, 11),   # renamed by case: one class
                       ("baking cookies", "eeeeeeeeee5", 2, 12),
                       ("zumba", "vvvvvvvvvv1", 0, 10)],          # a k400 validation video: dropped
             "validation": [("baking cookies", "wwwwwwwwww2", 3, 13),
                            ("zumba", "vvvvvvvvvv1", 0, 10)]},    # same as k400's: kept once
    "k700": {"train": [("baking cookies", "eeeeeeeeee5", 2, 12),  # same video as k600: dropped
                       ("yoga", "ffffffffff6", 7, 17),
                       ("yoga", "wwwwwwwwww2", 3, 13)],           # a k600 validation video: dropped
             "validation": [("yoga", "xxxxxxxxxx3", 4, 14)]},
}
K710_LAYOUTS = {"k400": "flat", "k600": "by_label", "k700": "flat"}


def write_kinetics_710(root: Path) -> dict:
  """k400/, k600/ (by label) and k700/ trees whose union shows de-duplication and held-out removal."""
  classes = ("abseiling", "air drumming", "baking cookies", "yoga", "zumba")
  written = {r: write_kinetics(Path(root) / r, {**rows, "test": []}, K710_LAYOUTS[r], is_cc=r == "k400")
             for r, rows in K710_ROWS.items()}
  kept = {"train": [("k400", 0), ("k400", 1), ("k400", 2), ("k600", 1), ("k600", 2), ("k700", 1)],
          "validation": [("k400", 0), ("k600", 0), ("k700", 0)]}
  segments, videos = {}, {}
  for split, picks in kept.items():
    segments[split] = []
    for release, i in picks:
      label = " ".join(K710_ROWS[release][split][i][0].split()).lower()
      original = written[release]["segments"][split][i]
      segments[split].append(Segment(f"{release}/{original.video}", (classes.index(label),), id=original.id))
      videos[f"{release}/{original.video}"] = written[release]["videos"][original.video]
  return {"heads": {"class": classes}, "segments": segments, "videos": videos}


# ----------------------------------------------------------------------------------- FineGym288

FINEGYM_CATEGORIES = [
    "Clabel: 0; set: 1; Glabel: 1; (VT) round-off, flic-flac with 0.5 turn on, stretched salto forward "
    "with 0.5 turn off",
    "Clabel: 1; set: 21; Glabel: 10; (FX) split jump with 1 turn",
    "Clabel: 2; set: 31; Glabel: 65; (BB) wolf jump, hip angle at 45, knees together"]
FINEGYM_ROWS = {  # split: (youtube_id, event_start, event_end, action_start, action_end, label)
    "train": [("0LtLS9wROrk", 4, 20, 3, 5, 1), ("Zx_7d2Kq_AB", 2, 12, 1, 4, 0),
              ("0LtLS9wROrk", 4, 20, 10, 13, 2)],
    "validation": [("Zx_7d2Kq_AB", 15, 25, 2, 6, 1)],
}
FINEGYM_FILES = {"train": "gym288_train_element_v1.1.txt", "validation": "gym288_val_element.txt"}
FINEGYM_VIDEO_FPS = 4.0


def subaction_id(youtube_id: str, event_start: int, event_end: int, action_start: int,
                 action_end: int) -> str:
  return f"{youtube_id}_E_{event_start:06d}_{event_end:06d}_A_{action_start:04d}_{action_end:04d}"


def write_finegym288(root: Path) -> dict:
  annotations = Path(root) / "annotations"
  _write_lines(annotations / "gym288_categories.txt", FINEGYM_CATEGORIES)
  segments, seconds = {}, {}
  for split, rows in FINEGYM_ROWS.items():
    lines, segments[split] = [], []
    for youtube_id, es, ee, a_start, a_end, label in rows:
      name = subaction_id(youtube_id, es, ee, a_start, a_end)
      lines.append(f"{name} {label}")
      video = f"videos/{youtube_id}.mp4"
      segments[split].append(Segment(video, (label,), es + a_start, es + a_end, 1.0, name))
      seconds[video] = max(seconds.get(video, 0), ee)
    _write_lines(annotations / FINEGYM_FILES[split], lines)
  videos = {v: (int(s * FINEGYM_VIDEO_FPS), FINEGYM_VIDEO_FPS) for v, s in seconds.items()}
  classes = tuple(line.split(";", 3)[3].strip() for line in FINEGYM_CATEGORIES)
  return {"heads": {"class": classes}, "segments": segments, "videos": videos}
