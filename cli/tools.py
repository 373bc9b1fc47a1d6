"""The commands on the machine and the data, with no registry in between: benchmarks (`bench`) and
real datasets (`data check`, `data convert`)."""
from __future__ import annotations


def cmd_bench(args) -> None:
  from lvmae import bench
  if "parts" in args.sections:  # a bad --parts-config stops the command before any section runs
    from experiments import bench_points
    bench_points.peer_point(args.parts_config, bench_points.EQUAL_WORK, *bench_points.PARTS_SETTING)
  machine = bench.machine()
  print(f"bench ({', '.join(args.sections)}; profile {args.profile}) on {machine['devices']} x "
        f"{machine['device_kind']}, load average {machine['load_average_1min']:.2f}", flush=True)
  for section in args.sections:
    if not (section == "loader" and args.skip_loader):
      BENCH_SECTIONS[section](args, machine)
  print(f"wrote {args.out}")


def _bench_steps(args, machine: dict) -> None:
  import experiments
  from lvmae import bench, runs
  steps = {}
  for name in ("pretrain", "finetune"):
    steps[name] = bench.train_step_times(runs.build(experiments.get(name, args.profile)))
    mfu = steps[name]["mfu"]
    print(f"{name} step: {steps[name]['seconds_per_step'] * 1e3:.1f} ms, {steps[name]['clips_per_second']:.1f} clips/s, "
          f"{steps[name]['tokens_per_second']:.0f} tokens/s, MFU {'n/a' if mfu is None else f'{100 * mfu:.1f}%'}",
          flush=True)
  bench.update_bench(args.out, "train_steps", args.profile, {**machine, **steps})


def _bench_precompute(args, machine: dict) -> None:
  import experiments
  from lvmae import bench, runs
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


def _bench_flow(args, machine: dict) -> None:
  import experiments
  from lvmae import bench, runs
  flow = runs.build(experiments.get("flow_scores", args.profile))
  flow_ms = {str(frames): bench.flow_ms_per_clip(flow, frames) for frames in args.frames}
  print(f"flow scores ({flow.method}): " + ", ".join(f"{f} frames {ms:.1f} ms per clip" for f, ms in flow_ms.items()),
        flush=True)
  bench.update_bench(args.out, "flow_scores", args.profile, {**machine, "method": flow.method, "ms_per_clip": flow_ms})


def _bench_loader(args, machine: dict) -> None:
  from lvmae import bench
  from lvmae.data import loader_bench
  loader = loader_bench.run(tuple(args.frames))
  for name in ("video", "arrayrecord"):
    rates = ", ".join(f"{f} frames {r['clips_per_s_per_core']:.2f}" for f, r in loader[name].items())
    print(f"loader ({name}): clips/s per core: {rates}", flush=True)
  bench.update_bench(args.out, "loader", "any", {**machine, **loader})


def _point_line(name: str, result: dict) -> str:
  if not result.get("run"):
    why = result.get("error") or f"predicted {result['predicted_gib']:.1f} GiB > budget {result['budget_gib']:.1f} GiB"
    return f"{name}: not run ({why})"
  device = result["device_peak_gib"]
  mfu = result["mfu"]
  return (f"{name}: {result['seconds_per_step']:.3f} s/step, {result['clips_per_second']:.2f} clips/s, "
          f"{result['gflops_per_second']:.1f} GFLOP/s, peak RSS {result['peak_rss_gib']:.2f} GiB, device peak "
          f"{'n/a' if device is None else f'{device:.2f} GiB'} (XLA predicts {result['predicted_gib']:.2f}), "
          f"MFU {'n/a' if mfu is None else f'{100 * mfu:.1f}%'}")


def _bench_peer(args, machine: dict) -> None:
  from experiments import bench_points
  from lvmae import bench
  print(f"peer: {bench_points.PEER_SOURCE}", flush=True)
  points, summary = {}, {}
  for config, strategy, point in bench_points.peer_points():
    points[point.name] = bench_points.measure_in_subprocess(point, warmup=2, steps=args.peer_steps)
    print(_point_line(point.name, points[point.name]), flush=True)
  for config, (_, seconds, gib) in bench_points.PEER.items():
    summary[config] = {"peer_seconds": seconds, "peer_gib": gib}
    for strategy in (bench_points.EQUAL_WORK, bench_points.METHOD):
      ran = {name: r for name, r in points.items() if name.startswith(f"{config}, {strategy},") and r.get("run")}
      # The fastest setting within the peer's memory where one is, else the fastest.
      name = min(ran, key=lambda n: (ran[n]["peak_rss_gib"] > gib, ran[n]["seconds_per_step"]), default=None)
      summary[config][strategy] = None if name is None else {
          "setting": name.removeprefix(f"{config}, {strategy}, "),
          **{k: ran[name][k] for k in ("seconds_per_step", "peak_rss_gib", "gflops_per_second")},
          "speedup_over_peer": seconds / ran[name]["seconds_per_step"],
          "within_peer_memory": ran[name]["peak_rss_gib"] <= gib}
    equal, method = summary[config][bench_points.EQUAL_WORK], summary[config][bench_points.METHOD]
    ours, ours_method = (
        "not run" if r is None else f"{r['seconds_per_step']:.3f} s ({r['speedup_over_peer']:.2f}x), "
        f"{r['peak_rss_gib']:.2f} GiB ({r['setting']})" for r in (equal, method))
    print(f"{config}: peer {seconds} s, {gib} GiB; ours at equal work {ours}; ours, 15% decoder {ours_method}",
          flush=True)
  bench.update_bench(args.out, "peer", "any", {**machine, "peer": bench_points.PEER_SOURCE, "points": points,
                                               "summary": summary})


def _bench_parts(args, machine: dict) -> None:
  import experiments
  from experiments import bench_points
  from lvmae import bench, runs
  point = bench_points.peer_point(args.parts_config, bench_points.EQUAL_WORK, *bench_points.PARTS_SETTING)
  # The whole step as the peer section measures it (its own process), then the parts in this one;
  # the rest is the step less encoder, decoder and update (patches, masks, loss, and what running
  # them in one program saves or costs).
  step = bench_points.measure_in_subprocess(point, warmup=2, steps=args.peer_steps)
  if not step.get("run"):
    raise ValueError(f"parts: {_point_line(point.name, step)}")
  result = {"step": step["seconds_per_step"],
            **bench.step_parts(runs.build(experiments.get("pretrain", "paper", sets=point.sets)))}
  parts = result["parts"]
  result["rest"] = result["step"] - parts["encoder"] - parts["decoder"] - parts["optimizer_update"]
  print(f"{point.name}: step {result['step']:.3f} s = encoder {parts['encoder']:.3f} s (its attention "
        f"{parts['encoder_attention']:.3f} s, {result['tokens']['encoder']} tokens) + decoder {parts['decoder']:.3f} s "
        f"(its attention {parts['decoder_attention']:.3f} s, {result['tokens']['decoder']} tokens) + optimizer update "
        f"{parts['optimizer_update']:.3f} s + rest {result['rest']:.3f} s", flush=True)
  bench.update_bench(args.out, "parts", args.parts_config, {**machine, "point": point.name, **result})


def _bench_device(args, machine: dict) -> None:
  from experiments import bench_points
  from lvmae import bench
  shapes = args.shapes or ("tiny" if machine["backend"] == "cpu" else "paper")
  results = {}
  for point in bench_points.device_points(shapes, machine["backend"], args.device_frames):
    results[point.name] = bench_points.measure_in_subprocess(point, warmup=2, steps=args.device_steps)
    print(_point_line(point.name, results[point.name]), flush=True)
  bench.update_bench(args.out, "device", machine["device_kind"], {**machine, "shapes": shapes, "points": results})


BENCH_SECTIONS = {"steps": _bench_steps, "precompute": _bench_precompute, "flow": _bench_flow, "loader": _bench_loader,
                  "peer": _bench_peer, "parts": _bench_parts, "device": _bench_device}


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
