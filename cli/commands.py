"""The commands on the two registries: list, show, run and cost an experiment (experiments/), reproduce
a table (ablations/: the table reproduces itself, `reproduce(options)`), rebuild the report."""
from __future__ import annotations

import json

import ablations
import experiments
from ablations.kinds import Options
from lvmae import report, runs


def cmd_list(_args) -> None:
  experiments.registry._load()
  print("experiments:")
  for name, fn in experiments.EXPERIMENTS.items():
    print(f"  {name:12s} {(fn.__doc__ or '').strip().splitlines()[0]}")
  print("profiles: " + ", ".join(experiments.PROFILES))
  print("tables:")
  for table_id, table in ablations.tables().items():
    print(f"  {table_id:4s} {table.title}")


def cmd_show(args) -> None:
  cfg = experiments.get(args.name, args.profile, args.sets, args.data_root)
  runs.build(cfg)  # validate
  print(f"# {args.name} at profile {args.profile}; run id {runs.run_id(cfg)}")
  print(runs.config_text(cfg), end="")


def _stage(args):
  """The config of `--stage` (a dotted upstream path) of the experiment, or the experiment's own."""
  cfg = runs.stage_at(experiments.get(args.name, args.profile, args.sets, args.data_root), args.stage)
  if cfg is None:
    raise ValueError(f"--stage {args.stage}: this experiment has no such upstream stage")
  return cfg


def cmd_run(args) -> None:
  cfg = _stage(args)
  runs.enable_compilation_cache(args.runs_dir)
  run_dir = runs.execute(cfg, args.runs_dir, stop_after=args.stop_after)
  if runs.is_finished(run_dir):
    print(f"finished: {run_dir}")
    print(json.dumps(runs.read_result(run_dir), indent=1))
  else:
    print(f"stopped (resumable): {run_dir}")


def cmd_reproduce(args) -> int | None:
  """Asks each table to reproduce itself (its kind knows its cells, commands and collection), in
  the order given and in this one process (so its compiled programs are shared), or with `--jobs`
  N > 1 in N worker processes, then rebuilds the report from every collected table."""
  tables = [ablations.get(table_id) for table_id in args.table]  # every id checked before anything runs
  if args.rows is not None and len(tables) > 1:
    raise ValueError(f"--rows names one table's rows; {len(tables)} tables were given")
  options = Options(profile=args.profile, runs_dir=args.runs_dir, results_dir=args.results_dir,
                    paper_dir=args.paper_dir, data_root=args.data_root, seeds=args.seeds, rows=args.rows,
                    print_commands=args.print_commands, finished_only=args.finished_only,
                    skip_claimed=args.skip_claimed)
  if args.jobs > 1 and len(tables) > 1 and not args.print_commands:
    return _reproduce_in_jobs(args, tables, options)
  written = [path for table in tables for path in table.reproduce(options)]
  if not written:  # commands printed, nothing collected
    return
  path = report.write_report(args.results_dir / "tables", args.results_dir / "REPORT.md")
  print(f"wrote {' and '.join(map(str, written))} and {path}")


def _reproduce_in_jobs(args, tables, options) -> int:
  """The tables dealt to `--jobs` worker processes (cli/jobs.py), then the report: 0, or 1 when a
  worker failed (the report is then not rebuilt)."""
  from cli import jobs
  groups = jobs.deal([(t, jobs.weight(table, options)) for t, table in zip(args.table, tables)], args.jobs)
  codes = jobs.run_workers(groups, jobs.forwarded(args), args.runs_dir / jobs.LOG_DIR)
  if any(codes):
    return 1
  print(f"wrote {report.write_report(args.results_dir / 'tables', args.results_dir / 'REPORT.md')}")
  return 0


def cmd_cost(args) -> None:
  from lvmae import cost
  stage = runs.build(_stage(args))
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


def cmd_report(args) -> None:
  print(f"wrote {report.write_report(args.results_dir / 'tables', args.results_dir / 'REPORT.md')}")
