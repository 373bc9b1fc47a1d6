"""The selection-figure kind (SelectionFigure, Panel): decoder selections drawn over the same first
clips of the pre-training data (Figures 3, 4); its score sources' commands and runs, the drawing,
each panel's event-token recall (SLC) and the verdicts on the recalls it claims.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import NamedTuple

import fiddle as fdl
import jax
import numpy as np

import experiments
from ablations.kinds.common import Options, trains_no_grid
from lvmae import figures, report, runs, verdicts
from lvmae.data.pipeline import fixed_views
from lvmae.masking import decoder
from lvmae.masking import events as metrics
from lvmae.verdicts import Bound, Claim


EVENTS = "events"  # a Panel source: SLC's event tokens of the figure's clips


class Panel(NamedTuple):
  """One row of a selection figure: a decoder strategy at a budget, and where its scores come from:
  a precompute-like experiment whose run holds scores.npy (e.g. 'tokens_adaptive_fsq_magvit',
  'flow_scores'), EVENTS (SLC's event tokens, the oracle) or None (a strategy without scores)."""
  strategy: str
  budget: float
  top_share: float | None = None      # score-based strategies: share of the budget from the top
  source: str | None = None

  @property
  def from_events(self) -> bool:
    return self.source == EVENTS


@dataclasses.dataclass(frozen=True)
class SelectionFigure:
  """Token selections drawn over the same first clips of the pre-training data (Figures 3, 4).

  Each source experiment runs at the figure's profile (reused when finished); the frames come from
  the first source's data and sampling, and every source must read the same clips. `claims` are
  Bounds on the panels' event-token recalls (SLC), by panel label.
  """
  id: str                              # "figure3"
  title: str
  panels: dict[str, Panel]
  num_clips: int = 3                   # clips drawn
  recall_clips: int = 256              # clips the event-token recalls pool over (at most the cache's)
  frames_shown: int = 8
  claim: str = ""
  claims: tuple[Claim, ...] = ()

  def __post_init__(self):
    if not self.sources():
      raise ValueError(f"{self.id}: no panel reads scores from an experiment, so there are no clips to draw")
    if any(not isinstance(check, Bound) for claim in self.claims for check in claim.checks):
      raise ValueError(f"{self.id}: a figure's claims are Bounds on its panels' recalls")
    names = {name for claim in self.claims for check in claim.checks for name in (check.left, check.right)
             if isinstance(name, str)}  # a number on a Bound's right is a constant
    if names - set(self.panels):
      raise ValueError(f"{self.id}: claims name panels it does not have: {sorted(names - set(self.panels))}")

  def sources(self) -> list[str]:
    """The experiments whose runs give scores, in panel order, each once."""
    return list(dict.fromkeys(p.source for p in self.panels.values() if p.source is not None and not p.from_events))

  def configs(self, profile: str) -> list[fdl.Config]:
    """The score sources' configs at `profile`."""
    return [experiments.get(name, profile) for name in self.sources()]

  def reproduce(self, options: Options) -> list[Path]:
    """Prints the sources' `lvmae run` commands, or runs them (reused when finished) at
    `options.profile` and draws the figure."""
    trains_no_grid(self, options)
    if options.print_commands:
      for name in self.sources():
        print(f"lvmae run {name} --profile {options.profile} --runs-dir {options.runs_dir}")
      return []
    runs.enable_compilation_cache(options.runs_dir)
    cfgs = {name: experiments.get(name, options.profile) for name in self.sources()}
    return [self.collect(cfgs, options.profile, options.runs_dir, options.results_dir)]

  def collect(self, cfgs: dict, profile: str, runs_dir: Path, results: Path) -> Path:
    """Runs the score sources (`cfgs`: experiment name -> config, in the order of `sources()`) where
    not finished, then draws each panel's selection over the same clips, with each panel's
    event-token recall (SLC) and the claims' verdicts on those recalls. Writes results/figures/."""
    return _collect(self, cfgs, profile, runs_dir, results)


def _collect(figure: SelectionFigure, cfgs: dict, profile, runs_dir, results) -> Path:
  """The body of SelectionFigure.collect (which see)."""
  start = time.perf_counter()
  stages = {name: runs.build(cfg) for name, cfg in cfgs.items()}
  run_dirs = {name: runs.execute(cfg, runs_dir) for name, cfg in cfgs.items()}
  first = _same_clips(stages)
  source = first.data.source("train", fixed_view=True)
  count = max(figure.num_clips, min(figure.recall_clips, len(source)))  # drawn: the first num_clips
  views = fixed_views(source, range(count), first.sampling, first.data.spatial("fixed"))
  frames, events = views["video"][:figure.num_clips], views.get("info")
  token_grid, n = first.grid, int(np.prod(first.grid))
  event_mask = None if events is None else np.stack([metrics.event_tokens(e, token_grid) for e in events])
  scores = {name: np.load(run_dirs[name] / "scores.npy", mmap_mode="r")[:count] for name in cfgs}
  for name, cached in scores.items():
    if cached.shape[1:] != (n,):
      raise ValueError(f"`{name}`'s scores.npy holds {cached.shape[1:]} scores per clip, not the {n} tokens "
                       f"of the grid {token_grid}")
  panels, recalls = {}, {}
  for label, panel in figure.panels.items():
    source_scores = _panel_scores(label, panel, scores, event_mask)
    options = {"top_share": panel.top_share} if panel.top_share is not None else {}
    clip_scores = (np.zeros((count, 0), np.float32) if source_scores is None
                   else np.asarray(source_scores, np.float32).reshape(count, n))
    chosen = np.asarray(jax.jit(jax.vmap(lambda key, s: decoder.select(  # clip c draws with key c
        panel.strategy, key, n, panel.budget, scores=s, grid=token_grid, **options)))(
            jax.vmap(jax.random.key)(np.arange(count)), clip_scores))
    keep = np.zeros((count, n), bool)
    np.put_along_axis(keep, chosen, True, axis=1)
    panels[label] = keep[:figure.num_clips].reshape(figure.num_clips, *token_grid)
    if event_mask is not None:
      recalls[label] = metrics.selection_recall(keep, event_mask)
  drawn_events = None if events is None else events[:figure.num_clips]
  png = figures.selection_figure(results / "figures" / f"{figure.id}.png", frames, panels, events=drawn_events,
                                 title=figure.title, frames_shown=figure.frames_shown)
  shown = ", ".join(f"`{name}` (run `{run_dir.name}`)" for name, run_dir in run_dirs.items())
  lines = [f"![{figure.title}]({png.name})", "",
           f"{figure.num_clips} clips of {shown}; SLC event cells outlined in yellow."]
  if recalls:
    lines += ["", f"Event-token recall: the share of SLC's event tokens each panel's selection holds, pooled over "
              f"the first {count} clips (the drawn ones included).", "", "| panel | event-token recall |", "|---|---|"]
    lines += [f"| {label} | {100 * value:.1f}% |" for label, value in recalls.items()]
  claims = verdicts.evaluate(figure.claims, {}, [], recalls)
  body = "\n".join(lines) + "\n" + verdicts.markdown(claims)
  return report.write_table(results / "figures", figure.id, figure.title, body, None,
                     {"profile": profile, "git_sha": runs.git_sha(), "compute_seconds": time.perf_counter() - start,
                      "num_runs": len(run_dirs), "claim": figure.claim, "claims": claims,
                      "run": next(iter(run_dirs.values())).name, "runs": {k: v.name for k, v in run_dirs.items()},
                      "recall": recalls, "recall_clips": count})


def _same_clips(stages: dict):
  """The first stage, after checking that every stage reads the same clips on the same token grid."""
  (first_name, first), *others = stages.items()
  for name, stage in others:
    if (stage.data, stage.sampling, tuple(stage.grid)) != (first.data, first.sampling, tuple(first.grid)):
      raise ValueError(f"`{name}` and `{first_name}` do not read the same clips (data, sampling and token grid "
                       "must match) so their selections cannot be drawn over the same frames")
  return first


def _panel_scores(label: str, panel, scores: dict, event_mask):
  """(clips, N) scores of a panel: its source's cached scores, SLC's event tokens, or None."""
  if panel.source is None:
    return None
  if panel.from_events:
    if event_mask is None:
      raise ValueError(f"panel {label!r}: event-token scores need SLC's event masks; this data has none")
    return np.asarray(decoder.oracle_scores(jax.random.key(0), event_mask))
  return scores[panel.source]
