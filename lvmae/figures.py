"""Figures: token selections over clips (Figures 3 and 4: frames above, kept tokens below), cost
curves (Figure 1: memory and FLOPs across settings) and pre-training loss curves by token type.

Rendering only: for selections, callers pass the frames, one boolean keep mask per panel on the
token grid and, for SLC, the event pixel mask, which is outlined so a reader sees whether
selection follows events; for costs, the measured values.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from lvmae.atomic import write_atomic  # noqa: E402


def token_mask_to_pixels(keep: np.ndarray, frames_shape: tuple[int, int, int]) -> np.ndarray:
  """(t, h, w) bool token mask -> (T, H, W) bool pixel mask (each token covers its tubelet)."""
  t, h, w = keep.shape
  big_t, big_h, big_w = frames_shape
  return np.repeat(np.repeat(np.repeat(keep, big_t // t, 0), big_h // h, 1), big_w // w, 2)


def shown_frames(num_frames: int, count: int) -> np.ndarray:
  return np.unique(np.linspace(0, num_frames - 1, min(count, num_frames)).round().astype(int))


def selection_figure(path: Path, frames: np.ndarray, panels: dict[str, np.ndarray], *,
                     events: np.ndarray | None = None, title: str = "", frames_shown: int = 8) -> Path:
  """Writes a PNG: for each clip, its frames, then one row per panel (kept tokens in colour, the
  rest dimmed; SLC event pixels outlined in yellow).

  frames (C, T, H, W, 3) uint8; panels: name -> (C, t, h, w) bool keep masks; events (C, T, H, W).
  """
  clips, num_frames = frames.shape[:2]
  cols = shown_frames(num_frames, frames_shown)
  rows = clips * (1 + len(panels))
  fig, axes = plt.subplots(rows, len(cols), figsize=(1.2 * len(cols), 1.25 * rows), squeeze=False)
  for c in range(clips):
    base = c * (1 + len(panels))
    layers = [("clip %d" % c, frames[c])]
    for name, keep in panels.items():
      pixels = token_mask_to_pixels(keep[c], frames.shape[1:4])
      layers.append((name, np.where(pixels[..., None], frames[c], (frames[c] * 0.2).astype(np.uint8))))
    for r, (label, video) in enumerate(layers):
      for j, f in enumerate(cols):
        ax = axes[base + r, j]
        ax.imshow(video[f], interpolation="nearest")
        if events is not None and events[c, f].any():
          ax.contour(events[c, f], levels=[0.5], colors="yellow", linewidths=0.8)
        ax.set_xticks([])
        ax.set_yticks([])
        if j == 0:
          ax.set_ylabel(label, fontsize=7)
        if base + r == 0:
          ax.set_title(f"frame {f}", fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  return _save(fig, path)


def cost_figure(path: Path, labels: list[str], memory_gib: np.ndarray, gflops: np.ndarray, *,
                budget_gib: float, budget_label: str, x_label: str, title: str = "") -> Path:
  """Writes a PNG of two bar charts over `labels`: memory (GiB, with the budget as a line) and FLOPs."""
  fig, (mem_ax, flop_ax) = plt.subplots(1, 2, figsize=(9, 3.4))
  x = np.arange(len(labels))
  mem_ax.bar(x, memory_gib, color=["tab:red" if m > budget_gib else "tab:blue" for m in memory_gib])
  mem_ax.axhline(budget_gib, color="black", linestyle="--", linewidth=1, label=budget_label)
  mem_ax.set_ylabel("memory of a train step (GiB)")
  mem_ax.legend(fontsize=8)
  flop_ax.bar(x, np.asarray(gflops) / 1e3, color="tab:gray")
  flop_ax.set_ylabel("train-step TFLOPs")
  for ax in (mem_ax, flop_ax):
    ax.set_xticks(x, labels)
    ax.set_xlabel(x_label)
  if title:
    fig.suptitle(title, fontsize=9)
  return _save(fig, path)


def token_loss_figure(path: Path, curves: dict[str, dict[str, tuple]], *, title: str = "") -> Path:
  """Writes a PNG with one panel per token type: each run's loss over steps (solid) beside its
  trivial, predict-the-mean level (dashed, same colour).

  curves: run label -> token type -> (steps, losses, trivial levels), three equal-length sequences.
  """
  types = list(dict.fromkeys(t for by_type in curves.values() for t in by_type))
  fig, axes = plt.subplots(1, len(types), figsize=(3.6 * len(types), 3.2), squeeze=False)
  colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for ax, kind in zip(axes[0], types):
    for i, (label, by_type) in enumerate(curves.items()):
      if kind not in by_type:
        continue
      steps, losses, trivial = (np.asarray(v, float) for v in by_type[kind])
      colour = colours[i % len(colours)]
      ax.plot(steps, losses, color=colour, linewidth=1.2, label=label)
      ax.plot(steps, trivial, color=colour, linewidth=1.0, linestyle="--")
    ax.set_title(kind.replace("_", " "), fontsize=9)
    ax.set_xlabel("pre-training step")
    ax.set_ylabel("loss (dashed: trivial level)")
  axes[0][0].legend(fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  return _save(fig, path)


def _save(fig, path: Path) -> Path:
  fig.tight_layout()
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_suffix(".partial.png")
  fig.savefig(tmp, dpi=110)
  plt.close(fig)
  write_atomic(path, tmp.read_bytes())
  tmp.unlink()
  return path
