"""The `lvmae` command line's arguments (argparse): list, show, run, reproduce, cost, bench, data, report."""
from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = "The `lvmae` command: list, show, run and reproduce experiments; collect tables and the report."
RESULTS = Path("results")


class OneLineErrors(argparse.ArgumentParser):
  """argparse with a bad argument reported as the one line `lvmae: error: ...` (exit status 2), as
  every other error of the command is (`--help` shows the usage)."""

  def error(self, message: str):
    command = self.prog.removeprefix("lvmae").strip()
    self.exit(2, f"lvmae: error: {command + ': ' if command else ''}{message}\n")


def int_at_least(low: int):
  """An argparse type: an int >= low."""
  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"expected an int, got {text!r}") from None
    if value < low:
      raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
    return value
  parse.__name__ = f"int >= {low}"
  return parse


def parser() -> argparse.ArgumentParser:
  """The `lvmae` command line: one subcommand per command of cli/commands.py and cli/tools.py."""
  p = OneLineErrors(prog="lvmae", description=DESCRIPTION)
  sub = p.add_subparsers(dest="command", required=True)
  sub.add_parser("list", help="registered experiments, profiles and tables")

  def data_root_arg(q):
    q.add_argument("--data-root", default=None, metavar="DIR",
                   help="directory holding the real datasets (paper profile), one directory each: "
                        "DIR/epic_kitchens_100, DIR/diving48, DIR/ssv2, DIR/kinetics_600, ...")

  def experiment_args(q):
    q.add_argument("name", help="experiment name (see `lvmae list`)")
    q.add_argument("--profile", default="smoke", help="smoke, cpu or paper (default: smoke)")
    q.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field, e.g. --set pretrained.masking.decoder_budget=0.25")
    data_root_arg(q)

  experiment_args(sub.add_parser("show", help="the flattened config of an experiment"))
  run = sub.add_parser("run", help="run an experiment (and its upstream stages), reusing finished runs")
  experiment_args(run)
  run.add_argument("--stage", default=None, help="run only this upstream stage, e.g. `pretrained`")
  run.add_argument("--stop-after", type=int_at_least(1), default=None, metavar="N",
                   help="stop after N steps of this call; the next call resumes the run")
  run.add_argument("--runs-dir", type=Path, default=RESULTS / "runs")

  rep = sub.add_parser("reproduce", help="run tables' grids, then collect them")
  rep.add_argument("table", nargs="+",
                   help="table ids, e.g. 1 or table1 (several: each in turn, one process, unless --jobs)")
  rep.add_argument("--profile", default="smoke")
  rep.add_argument("--seeds", type=int_at_least(0), nargs="+", default=None, metavar="SEED",
                   help="run and collect only these of the table's seeds (its pre-training seeds where its runs "
                        "pre-train; a quick look: n per cell drops)")
  rep.add_argument("--rows", nargs="+", default=None, metavar="ROW",
                   help="run and collect only these rows (labels as in the table, e.g. 'random (15%%)'); "
                        "the other rows show '-'")
  rep.add_argument("--print-commands", action="store_true",
                   help="print one self-contained `lvmae run` command per run instead of running")
  rep.add_argument("--finished-only", action="store_true",
                   help="run nothing: collect the cells whose runs have finished (a look at a grid still "
                        "running; the table says how many cells it has)")
  rep.add_argument("--skip-claimed", action="store_true",
                   help="skip the runs another process is computing (and the runs that need them) instead of "
                        "waiting for them; the table then collects the finished cells")
  rep.add_argument("--jobs", type=int_at_least(1), default=1, metavar="N",
                   help="reproduce several tables in N worker processes at once, dealt by their runs "
                        "(default 1: one process, in the given order)")
  rep.add_argument("--runs-dir", type=Path, default=RESULTS / "runs")
  rep.add_argument("--results-dir", type=Path, default=RESULTS,
                   help="where tables/ and REPORT.md are written (default: results)")
  rep.add_argument("--paper-dir", type=Path, default=RESULTS / "paper",
                   help="the paper's reported numbers, one CSV per table")
  data_root_arg(rep)

  cost = sub.add_parser("cost", help="MACs, parameters, compiled FLOPs and memory of a train step (runs nothing)")
  experiment_args(cost)
  cost.add_argument("--stage", default=None, help="analyse this upstream stage, e.g. `pretrained`")
  cost.add_argument("--analytic-only", action="store_true", help="skip XLA's compilation")
  cost.add_argument("--out", type=Path, default=None, help="also write the analysis as JSON here")

  bench = sub.add_parser("bench", help="benchmarks after warm-up; writes results/bench.json")
  bench.add_argument("--profile", default="cpu")
  bench.add_argument("--frames", type=int_at_least(1), nargs="+", default=[32, 128],
                     help="clip lengths for the precompute benchmark (default: 32 128)")
  bench.add_argument("--out", type=Path, default=RESULTS / "bench.json")
  bench.add_argument("--skip-loader", action="store_true", help="skip the video / ArrayRecord loader benchmark")
  bench.add_argument("--sections", nargs="+", default=["steps", "precompute", "flow", "loader"],
                     choices=("steps", "precompute", "flow", "loader", "peer", "parts", "device"),
                     help="what to measure (default: steps precompute flow loader); peer: four configurations "
                          "beside a peer implementation's published numbers; parts: where one of them spends its "
                          "step (--parts-config); device: the accelerator check")
  bench.add_argument("--shapes", choices=("paper", "tiny"), default=None,
                     help="the device check's shapes (default: paper on an accelerator, tiny on a CPU)")
  bench.add_argument("--peer-steps", type=int_at_least(1), default=3, help="timed steps per peer point (default 3)")
  bench.add_argument("--parts-config", default="ViT-B, 128 frames", metavar="CONFIG",
                     help="the peer configuration the parts section takes apart: 'tiny, 32 frames', 'tiny, 128 "
                          "frames', 'ViT-B, 16 frames' or 'ViT-B, 128 frames' (the default)")
  bench.add_argument("--device-steps", type=int_at_least(1), default=5,
                     help="timed steps per device point (default 5)")
  bench.add_argument("--device-frames", type=int_at_least(1), nargs="+", default=None, metavar="N",
                     help="measure only these of the device check's clip lengths (default: all)")

  data = sub.add_parser("data", help="real datasets: check annotation files and videos, convert to ArrayRecord")
  data_sub = data.add_subparsers(dest="data_command", required=True)
  check = data_sub.add_parser("check", help="counts, missing and unreadable files; exits 1 on problems")
  check.add_argument("dataset", help="e.g. epic_kitchens_100, diving48, ssv2, kinetics_400, finegym288")
  check.add_argument("root", type=Path, help="the dataset's directory (in its official layout)")
  check.add_argument("--split", action="append", default=None, help="check only this split (repeatable)")
  check.add_argument("--decode", default="videos", choices=("none", "videos", "segments"),
                     help="videos (default): decode every frame of every video, reporting frames that cannot be "
                          "decoded and truncated files; segments: also read each segment's first and last frame; "
                          "none: headers only")

  convert = data_sub.add_parser("convert", help="decode a dataset's segments once into JPEG frames in "
                                                "ArrayRecord shards (read with data.source_format='arrayrecord')")
  convert.add_argument("dataset")
  convert.add_argument("root", type=Path, help="the dataset's directory (in its official layout)")
  convert.add_argument("--split", action="append", default=None, help="convert only this split (repeatable)")
  convert.add_argument("--short-side", type=int_at_least(1), default=256, help="frames resized to this short side (default 256)")
  convert.add_argument("--quality", type=int_at_least(1), default=90, help="JPEG quality (default 90)")
  convert.add_argument("--out", type=Path, default=None, help="default: ROOT/arrayrecord, where the source looks")

  report = sub.add_parser("report", help="rebuild results/REPORT.md from the collected tables")
  report.add_argument("--results-dir", type=Path, default=RESULTS)
  return p
