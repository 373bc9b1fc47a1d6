"""The `lvmae` command: list, show, run and reproduce experiments; collect tables and the report."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

RESULTS = Path("results")


def _parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="lvmae", description=__doc__)
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
  run.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="stop after N steps of this call; the next call resumes the run")
  run.add_argument("--runs-dir", type=Path, default=RESULTS / "runs")

  rep = sub.add_parser("reproduce", help="run a table's grid, then collect it")
  rep.add_argument("table", help="table id, e.g. 1 or table1")
  rep.add_argument("--profile", default="smoke")
  rep.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED",
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
  bench.add_argument("--frames", type=int, nargs="+", default=[32, 128],
                     help="clip lengths for the precompute benchmark (default: 32 128)")
  bench.add_argument("--out", type=Path, default=RESULTS / "bench.json")
  bench.add_argument("--skip-loader", action="store_true", help="skip the video / ArrayRecord loader benchmark")

  data = sub.add_parser("data", help="real datasets: check annotation files and videos, convert to ArrayRecord")
  data_sub = data.add_subparsers(dest="data_command", required=True)
  check = data_sub.add_parser("check", help="counts, missing and unreadable files; exits 1 on problems")
  check.add_argument("dataset", help="e.g. epic_kitchens_100, diving48, ssv2, kinetics_400, finegym288")
  check.add_argument("root", type=Path, help="the dataset's directory (in its official layout)")
  check.add_argument("--split", action="append", default=None, help="check only this split (repeatable)")
  check.add_argument("--decode", default="videos", choices=("none", "videos", "segments"),
                     help="decode the first and last frame of every video (default) or every segment")

  convert = data_sub.add_parser("convert", help="decode a dataset's segments once into JPEG frames in "
                                                "ArrayRecord shards (read with data.source_format='arrayrecord')")
  convert.add_argument("dataset")
  convert.add_argument("root", type=Path, help="the dataset's directory (in its official layout)")
  convert.add_argument("--split", action="append", default=None, help="convert only this split (repeatable)")
  convert.add_argument("--short-side", type=int, default=256, help="frames resized to this short side (default 256)")
  convert.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
  convert.add_argument("--out", type=Path, default=None, help="default: ROOT/arrayrecord, where the source looks")

  report = sub.add_parser("report", help="rebuild results/REPORT.md from the collected tables")
  report.add_argument("--results-dir", type=Path, default=RESULTS)
  return p


def _enable_compilation_cache(runs_dir: Path) -> None:
  import jax
  jax.config.update("jax_compilation_cache_dir", str((runs_dir / ".jax_cache").absolute()))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def cmd_list(_args) -> None:
  import ablations
  import experiments
  experiments.registry._load()
  print("experiments:")
  for name, fn in experiments.EXPERIMENTS.items():
    print(f"  {name:12s} {(fn.__doc__ or '').strip().splitlines()[0]}")
  print("profiles: " + ", ".join(experiments.PROFILES))
  print("tables:")
  for table_id, table in ablations.tables().items():
    print(f"  {table_id:4s} {table.title}")


def cmd_show(args) -> None:
  import experiments
  from lvmae import runs
  cfg = experiments.get(args.name, args.profile, args.sets, args.data_root)
  runs.build(cfg)  # validate
  print(f"# {args.name} at profile {args.profile}; run id {runs.run_id(cfg)}")
  print(runs.config_text(cfg), end="")


def _select_stage(cfg, stage: str | None):
  """The upstream stage at a dotted path (`pretrained`, `pretrained.tokens.tokenizer`)."""
  if stage is None:
    return cfg
  sub = cfg
  for name in stage.split("."):
    sub = getattr(sub, name, None)
    if sub is None:
      raise ValueError(f"--stage {stage}: this experiment has no such upstream stage")
  return sub


def cmd_run(args) -> None:
  import experiments
  from lvmae import runs
  cfg = _select_stage(experiments.get(args.name, args.profile, args.sets, args.data_root), args.stage)
  _enable_compilation_cache(args.runs_dir)
  run_dir = runs.execute(cfg, args.runs_dir, stop_after=args.stop_after)
  if runs.is_finished(run_dir):
    print(f"finished: {run_dir}")
    print(json.dumps(runs.read_result(run_dir), indent=1))
  else:
    print(f"stopped (resumable): {run_dir}")


def _stage_chain(cfg, path: str | None = None) -> list:
  """(stage path, config) of a config and all its upstream stages, upstream first."""
  from lvmae import runs
  chain = []
  for name, sub in runs.upstream_configs(cfg).items():
    chain += _stage_chain(sub, f"{path}.{name}" if path else name)
  return chain + [(path, cfg)]


def _unique_runs(cfgs) -> list:
  """(run id, cell, stage path, config) of every stage, upstream first, each run once: a
  scheduler that runs the printed commands in order never runs a shared stage twice."""
  from lvmae import runs
  seen, out = set(), []
  for cell, cfg in cfgs:
    for stage, stage_cfg in _stage_chain(cfg):
      rid = runs.run_id(stage_cfg)
      if rid not in seen:
        seen.add(rid)
        out.append((rid, cell, stage, stage_cfg))
  return out


def _selected(table, cells: list, args) -> list:
  """The cells of `--seeds` and `--rows` when given (all otherwise); a deterministic floor's one
  run (seed None) is in whatever the seeds."""
  rows = list(table.rows) + list(getattr(table, "floors", None) or {})
  for option, chosen, known in (("--seeds", args.seeds, table.seeds), ("--rows", args.rows, rows)):
    unknown = [c for c in chosen or () if c not in known]
    if unknown:
      raise ValueError(f"{option} {unknown}: table {table.id} has {list(known)}")
  return [cell for cell in cells if (args.seeds is None or cell.seed is None or cell.seed in args.seeds)
          and (args.rows is None or cell.row in args.rows)]


def _cell_configs(table, cells: list, profile: str, args) -> list:
  """(cell, config) of the selected `cells` at `profile`, pointed at `--data-root`."""
  import experiments
  cfgs = [(cell, cell.config(profile)) for cell in _selected(table, cells, args)]
  if args.data_root is not None:
    cfgs = [(cell, experiments.set_data_root(cfg, args.data_root)) for cell, cfg in cfgs]
  return cfgs


def _print_commands(todo, profile: str, args) -> None:
  """One self-contained `lvmae run` command per run, upstream first."""
  root = f" --data-root {args.data_root}" if args.data_root is not None else ""
  for rid, cell, stage, _ in todo:
    print(f"{cell.command(profile, stage)}{root} --runs-dir {args.runs_dir}  # {rid}")


def _time_left(seconds: float | None) -> str:
  """' (grid: about 2.5 h left, ...)' for a progress line, or '' while the estimate is unknown."""
  if seconds is None:
    return ""
  amount = f"{seconds / 60:.0f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"
  return f" (grid: about {amount} left, from its finished runs' times)"


def _execute_all(table, todo, runs_dir) -> None:
  """Runs every run not finished yet, in order, with a progress line each."""
  from lvmae import runs
  run_dirs = [runs_dir / rid for rid, *_ in todo]
  for i, (rid, cell, _, cfg) in enumerate(todo, 1):
    state = "reused"
    if not runs.is_finished(runs_dir / rid):
      state = "running" + _time_left(runs.seconds_left(run_dirs))
    seed = "-" if cell.seed is None else cell.seed  # None: a deterministic floor's one run
    print(f"[table {table.id}: run {i}/{len(todo)}] {rid} ({cell.row} | {cell.column} | seed {seed}) {state}",
          flush=True)
    runs.execute(cfg, runs_dir)


def cmd_reproduce(args) -> None:
  import ablations
  import experiments
  from ablations.spec import CardTable, CostFigure, FramesFitTable, RealDataTable, SelectionFigure
  from lvmae import collect, report, runs
  table = ablations.get(args.table)
  results = args.results_dir
  if args.finished_only and isinstance(table, (CardTable, FramesFitTable, CostFigure, SelectionFigure)):
    raise ValueError(f"--finished-only collects the finished cells of a grid; {args.table} is a "
                     f"{type(table).__name__}, which trains no grid")
  if isinstance(table, CardTable):
    collect.card(table, experiments.get(table.experiment, table.profile), results)
  elif isinstance(table, FramesFitTable):
    if args.print_commands:
      ref_size, ref_frames = table.reference
      sets = " ".join(f"--set {s}" for s in table.sets(ref_size, ref_frames))
      print(f"lvmae cost {table.experiment} --profile {table.profile} {sets}  # the memory budget")
      return
    _enable_compilation_cache(args.runs_dir)  # a second call loads the compiled steps
    collect.frames_fit(table, table.config, table.finetune_config, args.runs_dir, results)
  elif isinstance(table, CostFigure):
    if args.print_commands:
      for label in table.points:
        sets = " ".join(f"--set {s}" for s in (*table.base, *table.points[label]))
        print(f"lvmae cost {table.experiment} --profile {table.profile} {sets}  # {label}")
      return
    _enable_compilation_cache(args.runs_dir)
    collect.cost_figure(table, {label: table.config(label) for label in table.points}, results)
  elif isinstance(table, RealDataTable):
    cfgs = _cell_configs(table, table.cells(), table.profile, args)
    if args.profile == table.profile and not args.finished_only:  # real data: run the cells (or print commands)
      if args.print_commands:
        _print_commands(_unique_runs(cfgs), table.profile, args)
        return
      _execute_all(table, _unique_runs(cfgs), args.runs_dir)
    else:
      print(f"table {table.id}: cells are {table.profile}-profile runs on real data; collecting finished ones only")
    collect.real_data(table, cfgs, args.runs_dir, results, args.paper_dir)
  elif isinstance(table, SelectionFigure):
    if args.print_commands:
      for name in table.sources():
        print(f"lvmae run {name} --profile {args.profile} --runs-dir {args.runs_dir}")
      return
    _enable_compilation_cache(args.runs_dir)
    collect.selection_figure(table, {name: experiments.get(name, args.profile) for name in table.sources()},
                             args.profile, args.runs_dir, results)
  else:
    table = table.at(args.profile)  # e.g. probes with floors where the table is Probed
    cfgs = _cell_configs(table, table.cells(args.profile), args.profile, args)
    for _, cfg in cfgs:
      runs.build(cfg)  # every cell validates before anything runs
    todo = _unique_runs(cfgs)
    if args.print_commands:
      _print_commands(todo, args.profile, args)
      return
    _enable_compilation_cache(args.runs_dir)
    start, cells = time.perf_counter(), len(cfgs)
    if args.finished_only:
      cfgs = [(cell, cfg) for cell, cfg in cfgs if runs.is_finished(args.runs_dir / runs.run_id(cfg))]
      todo = [run for run in todo if runs.is_finished(args.runs_dir / run[0])]
    else:
      _execute_all(table, todo, args.runs_dir)
    collect.grid(table, args.profile, cfgs, args.runs_dir, results, args.paper_dir, [rid for rid, *_ in todo],
                 cost_cfgs=table.cost_configs(), memory_cfgs=table.memory_configs(), cells=cells)
    print(f"table {table.id}: {len(cfgs)} of {cells} cells, {len(todo)} runs, {time.perf_counter() - start:.0f} s "
          f"this call{' (finished runs only: nothing run)' if args.finished_only else ''}")
  path = report.write_report(results / "tables", results / "REPORT.md")
  folder = results / ("figures" if table.id.startswith("figure") else "tables")
  print(f"wrote {report.table_path(folder, table.id, '.md')} and {path}")


def cmd_cost(args) -> None:
  import experiments
  from lvmae import cost, runs
  stage = runs.build(_select_stage(experiments.get(args.name, args.profile, args.sets, args.data_root), args.stage))
  result = cost.analyse(stage, compiled=not args.analytic_only)
  print(f"{args.name}{' ' + args.stage if args.stage else ''} at profile {args.profile}: {result['stage']}, "
        f"grid {tuple(result['grid'])}, batch {result['batch_size']}")
  print(f"{'component':12s} {'GMACs/clip':>12s} {'params (M)':>12s}")
  for name, macs in result["macs_per_clip"].items():
    params = result["params"].get(name)
    print(f"{name:12s} {macs / 1e9:12.3f} {'' if params is None else f'{params / 1e6:12.3f}'}")
  if "compiled" in result:
    c = result["compiled"]
    print(f"XLA ({c['backend']}), one train step: {c['flops'] / 1e9:.1f} GFLOPs "
          f"({c['flops_over_analytic_step']:.2f} x 6 x MACs x batch); memory: arguments "
          f"{c['argument_bytes'] / 2**30:.3f} GiB, temporaries {c['temp_bytes'] / 2**30:.3f} GiB, "
          f"total {c['total_bytes'] / 2**30:.3f} GiB")
  if args.out:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


def cmd_bench(args) -> None:
  import experiments
  from lvmae import bench, runs
  machine = bench.machine()
  print(f"bench ({args.profile}) on {machine['devices']} x {machine['device_kind']}, "
        f"load average {machine['load_average_1min']:.2f}", flush=True)
  steps = {}
  for name in ("pretrain", "finetune"):
    steps[name] = bench.train_step_times(runs.build(experiments.get(name, args.profile)))
    mfu = steps[name]["mfu"]
    print(f"{name} step: {steps[name]['seconds_per_step'] * 1e3:.1f} ms, {steps[name]['clips_per_second']:.1f} clips/s, "
          f"{steps[name]['tokens_per_second']:.0f} tokens/s, MFU {'n/a' if mfu is None else f'{100 * mfu:.1f}%'}",
          flush=True)
  bench.update_bench(args.out, "train_steps", args.profile, {**machine, **steps})
  stage = runs.build(experiments.get("tokens_adaptive_fsq_magvit", args.profile))
  per_clip = {}
  for frames in args.frames:
    per_clip[str(frames)] = bench.precompute_ms_per_clip(stage, frames)
    print(f"precompute: {frames} frames: {per_clip[str(frames)]:.1f} ms per clip", flush=True)
  shortest, longest = min(args.frames), max(args.frames)
  values = {**machine, "ms_per_clip": per_clip,
            "time_ratio_longest_to_shortest": per_clip[str(longest)] / per_clip[str(shortest)],
            "frame_ratio_longest_to_shortest": longest / shortest}
  bench.update_bench(args.out, "precompute", args.profile, values)
  flow = runs.build(experiments.get("flow_scores", args.profile))
  flow_ms = {str(frames): bench.flow_ms_per_clip(flow, frames) for frames in args.frames}
  print(f"flow scores ({flow.method}): " + ", ".join(f"{f} frames {ms:.1f} ms per clip" for f, ms in flow_ms.items()),
        flush=True)
  bench.update_bench(args.out, "flow_scores", args.profile, {**machine, "method": flow.method, "ms_per_clip": flow_ms})
  if not args.skip_loader:
    from lvmae.data import loader_bench
    loader = loader_bench.run(tuple(args.frames))
    for name in ("video", "arrayrecord"):
      rates = ", ".join(f"{f} frames {r['clips_per_s_per_core']:.2f}" for f, r in loader[name].items())
      print(f"loader ({name}): clips/s per core: {rates}", flush=True)
    bench.update_bench(args.out, "loader", "any", {**machine, **loader})
  print(f"wrote {args.out}")


def cmd_data(args) -> int:
  if args.data_command == "convert":
    return _convert(args)
  from lvmae.data.check import check_dataset
  reports = check_dataset(args.dataset, args.root, args.split, args.decode)
  for split_report in reports:
    print("\n".join(split_report.lines()))
  problems = sum(r.problems for r in reports)
  print(f"{args.dataset} at {args.root}: {'OK' if not problems else f'{problems} problem(s)'}")
  return 1 if problems else 0


def _convert(args) -> int:
  from lvmae.data.arrayrecord import convert
  from lvmae.data.readers import read_manifest, splits
  from lvmae.data.videos import CONVERTED_DIR, VideoSource
  out = args.out or args.root / CONVERTED_DIR
  for split in args.split or splits(args.dataset):
    source = VideoSource(read_manifest(args.dataset, args.root, split), args.root, max_skip_share=1.0)
    index = convert(source, out, short_side=args.short_side, quality=args.quality)
    print(f"{args.dataset} {split}: {index['records']} clips in {len(index['shards'])} shards under {out}; "
          f"{len(index['skipped'])} skipped")
  return 0


def cmd_report(args) -> None:
  from lvmae import report
  print(f"wrote {report.write_report(args.results_dir / 'tables', args.results_dir / 'REPORT.md')}")


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  from lvmae.validation import ConfigError
  try:
    status = {"list": cmd_list, "show": cmd_show, "run": cmd_run, "reproduce": cmd_reproduce,
              "cost": cmd_cost, "bench": cmd_bench, "data": cmd_data, "report": cmd_report}[args.command](args)
  except (ConfigError, ValueError, NotImplementedError, FileNotFoundError) as e:
    print(f"lvmae: error: {e}", file=sys.stderr)
    return 2
  return status or 0


if __name__ == "__main__":
  sys.exit(main())
