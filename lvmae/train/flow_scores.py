"""The flow-scores stage: optical-flow importance of every pre-training clip's tokens, cached per clip.

For each clip of the MAE's pre-training split it takes the frames the MAE sees (the fixed view:
its sampling from the clip's first frame, the centre crop of real videos) and scores each token by
its mean optical-flow magnitude (lvmae.data.flow.token_flow_scores, normalised per clip). The run
directory holds `scores.npy` (clips, t*h*w) float32 in the same format as an adaptive Precompute
run, so a pre-training stage reads it through its `importance` field (TokenCache) for the `flow`
decoder-masking strategy. Clips that cannot be read keep zero scores, so rows stay aligned with the
source. On SLC the run's result also gives the recall of event tokens among each clip's top
`recall_budget` scores (SLC.md: flow is fooled by the moving background and distractors).
The stage has no upstream stage; its run id hashes this config.
"""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lvmae.data.flow import FLOW_METHODS, token_flow_scores
from lvmae.data.pipeline import SLCData, Sampling, SkippedClip, fixed_views
from lvmae.data.videos import VideoData
from lvmae.masking.grid import token_grid
from lvmae.train.precompute import SCORES, ClipArrays, EventRecall
from lvmae.train.stage import check_clip_shape
from lvmae.validation import OpenUnit, PositiveInt, Shape3, check_choice, check_fields


@dataclasses.dataclass(frozen=True)
class FlowScores:
  """Optical-flow token scores of `data`'s pre-training split (the `flow` strategy's importance)."""
  data: SLCData | VideoData
  sampling: Sampling
  tubelet: Shape3 = (2, 8, 8)
  method: str = "farneback"
  batch_size: PositiveInt = 64          # clips per progress step / per write
  data_threads: PositiveInt = 2         # threads reading clips and computing flow (cv2 releases the GIL)
  recall_budget: OpenUnit = 0.15        # SLC: event recall of each clip's top scores

  def __post_init__(self):
    check_fields(self)
    check_choice("method", self.method, FLOW_METHODS)
    check_clip_shape(self.sampling, self.data, self.tubelet)

  @property
  def grid(self) -> tuple[int, int, int]:
    size = self.data.image_size
    return token_grid(self.sampling.num_frames, size, size, self.tubelet)

  def score_clip(self, source, index: int, crop) -> tuple[np.ndarray | None, np.ndarray | None]:
    """One clip's (N,) scores and (T, H, W) SLC event mask (None where the source has none);
    (None, None) when the clip cannot be read."""
    try:
      views = fixed_views(source, [index], self.sampling, crop)
    except SkippedClip:  # counted by the source (which raises once too many are skipped)
      return None, None
    scores = token_flow_scores(views["video"][0], self.tubelet, self.method)
    return scores, views["info"][0] if "info" in views else None

  def run(self, run_dir: Path, upstream: dict[str, Path], stop_after: int | None = None) -> dict:
    del upstream, stop_after  # no upstream stage; one pass
    run_dir = Path(run_dir)
    source, crop = self.data.source("train", fixed_view=True), self.data.spatial("fixed")
    n, (t, h, w) = len(source), self.grid
    arrays = ClipArrays(run_dir, {SCORES: (np.float32, (n, t * h * w))})
    recall = EventRecall(self.grid, self.recall_budget)
    start, warm, skipped = time.perf_counter(), None, 0
    with ThreadPoolExecutor(self.data_threads) as pool:
      for begin in tqdm(range(0, n, self.batch_size), desc=f"flow scores {run_dir.name}", unit="batch"):
        indices = range(begin, min(n, begin + self.batch_size))
        clips = list(pool.map(lambda i: self.score_clip(source, i, crop), indices))
        valid = [(i, s, info) for i, (s, info) in zip(indices, clips) if s is not None]
        skipped += len(indices) - len(valid)
        for i, scores, _ in valid:  # unreadable clips keep their zero rows
          arrays[SCORES][i] = scores
        if valid and valid[0][2] is not None:  # SLC: how many event tokens the top scores cover
          recall.add(np.stack([s for _, s, _ in valid]), np.stack([info for _, _, info in valid]))
        if warm is None:  # time after the first batch (thread start-up, first reads)
          warm = (time.perf_counter(), len(indices))
    seconds = time.perf_counter() - start
    arrays.commit()
    timed = n - warm[1]
    per_clip = (time.perf_counter() - warm[0]) / timed * 1e3 if timed else float("nan")
    result = {"clips": n, "grid": [t, h, w], "method": self.method, "seconds": seconds, "ms_per_clip": per_clip,
              "scores": True, "skipped": skipped}
    result.update(recall.summary())
    return result
