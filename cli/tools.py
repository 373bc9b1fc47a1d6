"""The commands on the machine and the data, with no registry in between: benchmarks (`bench`) and
real datasets (`data check`, `data convert`)."""
from __future__ import annotations


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
