"""Pre-training's token-type losses (lvmae/train/pretrain.py) and per-token event ids
(lvmae/masking/events.py) against plain numpy loops."""
import json

import jax.numpy as jnp
import numpy as np
import pytest

from lvmae.masking.events import event_token_ids
from lvmae.train import loop
from lvmae.train.pretrain import TOKEN_TYPES, token_loss_curves, token_type_losses, token_types


def test_event_token_ids_take_each_tubelets_largest_id():
  ids = np.zeros((2, 8, 8, 12), np.uint8)
  ids[0, 1, 2, 3] = 5
  ids[1, 7, 7, 11] = 2
  ids[1, 6, 4, 0] = 3
  grid = (2, 2, 3)  # tubelets of 4 x 4 x 4 pixels
  expected = np.zeros((2, 12), np.int32)
  for b, t, y, x in zip(*np.nonzero(ids)):
    token = (t // 4) * 6 + (y // 4) * 3 + x // 4
    expected[b, token] = max(expected[b, token], ids[b, t, y, x])
  np.testing.assert_array_equal(event_token_ids(ids, grid), expected)
  np.testing.assert_array_equal(np.asarray(event_token_ids(jnp.asarray(ids), grid)), expected)


def test_token_types_and_their_losses_match_a_numpy_loop():
  rng = np.random.default_rng(1)
  b, n, k, d = 3, 24, 10, 5
  ids = rng.choice([0, 0, 0, 1, 2, 3], size=(b, n)).astype(np.int32)
  visible = np.stack([np.sort(rng.permutation(n)[:6]) for _ in range(b)]).astype(np.int32)
  selected = np.stack([np.sort(rng.permutation(n)[:k]) for _ in range(b)]).astype(np.int32)
  targets = rng.normal(size=(b, k, d)).astype(np.float32)
  predictions = rng.normal(size=(b, k, d)).astype(np.float32)
  per_token = np.mean((predictions - targets) ** 2, -1)
  weight = np.stack([~np.isin(selected[i], visible[i]) for i in range(b)]).astype(np.float32)

  types = {name: np.asarray(m) for name, m in token_types(jnp.asarray(ids), jnp.asarray(visible),
                                                             jnp.asarray(selected)).items()}
  got = {name: float(v) for name, v in token_type_losses(jnp.asarray(per_token), jnp.asarray(targets),
                                                         jnp.asarray(weight), types).items()}
  for name in TOKEN_TYPES:
    rows = []
    for i in range(b):
      seen_events = set(ids[i, visible[i]]) - {0}
      for j in range(k):
        event = ids[i, selected[i, j]]
        kind = "background" if event == 0 else ("event_seen" if event in seen_events else "event_hidden")
        assert types[kind][i, j] and sum(types[t][i, j] for t in TOKEN_TYPES) == 1
        if kind == name and weight[i, j]:
          rows.append((per_token[i, j], targets[i, j]))
    assert got[f"count_{name}"] == pytest.approx(len(rows) / b)
    if not rows:
      assert np.isnan(got[f"loss_{name}"]) and np.isnan(got[f"trivial_{name}"])
      continue
    losses, chosen = np.array([r[0] for r in rows]), np.stack([r[1] for r in rows])
    assert got[f"loss_{name}"] == pytest.approx(losses.mean(), rel=1e-5)
    assert got[f"trivial_{name}"] == pytest.approx(np.mean((chosen - chosen.mean(0)) ** 2), rel=1e-5)


def test_loss_curves_and_last_quarter_means_read_the_metrics_log(tmp_path):
  lines = [{"step": s, "loss": 1.0, "loss_event_seen": 1.0 / s, "trivial_event_seen": 2.0,
            "loss_background": float("nan") if s == 2 else 0.5, "trivial_background": 1.0} for s in (1, 2, 3, 4)]
  (tmp_path / loop.METRICS).write_text("".join(json.dumps(l) + "\n" for l in lines))
  curves = token_loss_curves(tmp_path)
  assert set(curves) == {"event_seen", "background"}
  assert curves["event_seen"] == ([1, 2, 3, 4], [1.0, 0.5, 1 / 3, 0.25], [2.0] * 4)
  assert curves["background"][0] == [1, 3, 4]  # the step without such tokens is skipped
  assert loop.logged_mean(tmp_path / loop.METRICS, "loss_event_seen", last_share=0.25) == pytest.approx(0.25)
  assert loop.logged_mean(tmp_path / loop.METRICS, "loss_event_seen") == pytest.approx((1 + .5 + 1 / 3 + .25) / 4)
