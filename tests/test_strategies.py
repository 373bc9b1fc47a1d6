"""The decoder-strategy registry (lvmae.masking.decoder, lvmae.masking.strategies): every strategy
declares its score source consistently, its options fit its selection, a new strategy needs no
change to the pre-training stage, and that stage never switches on a strategy's name."""
import ast
import dataclasses
import inspect
import pkgutil
from pathlib import Path

import jax
import pytest

import experiments
from lvmae import runs
from lvmae.masking import decoder, strategies
from lvmae.masking.config import Masking
from lvmae.masking.strategies.base import ScoreSource, Strategy, cached_scores
from lvmae.masking.strategies.scored import Scored
from lvmae.train import pretrain
from lvmae.validation import ConfigError

UNSCORED = ("none", "random", "uniform", "running_cell")


def test_every_strategy_module_is_registered_under_its_own_name():
  modules = {m.name for m in pkgutil.iter_modules(strategies.__path__)}
  holding = {name for name in modules
             if hasattr(__import__(f"lvmae.masking.strategies.{name}", fromlist=["STRATEGY"]), "STRATEGY")}
  assert holding == set(decoder.REGISTERED) == set(decoder.STRATEGIES)
  for name, strategy in decoder.STRATEGIES.items():
    assert isinstance(strategy, Strategy) and strategy.name == name


@pytest.mark.parametrize("name", sorted(decoder.STRATEGIES))
def test_every_strategy_declares_its_score_source_consistently(name):
  strategy = decoder.STRATEGIES[name]
  source = strategy.source
  if name in UNSCORED:  # selects without scores: needs nothing
    assert source is None and name not in decoder.SCORED
    assert strategy.batch_keys == () and not strategy.needs_importance
    assert strategy.scores(jax.random.key(0), {}, None, grid=(1, 1, 1), embed=None) is None
    return
  assert isinstance(source, ScoreSource) and callable(source.compute) and name in decoder.SCORED
  assert strategy.batch_keys == source.batch_keys
  if source.importance is not None:  # an upstream stage caches its scores, read from the batch
    assert strategy.needs_importance and source.importance in pretrain.IMPORTANCE_STAGES
    assert source.batch_keys == ("scores",)
  else:
    assert not strategy.needs_importance and not source.scored_tokenizer and "scores" not in source.batch_keys
  assert source.needs_events == ("info" in source.batch_keys)


def test_the_scored_strategies_and_their_sources():
  assert set(decoder.SCORED) == {"adaptive", "flow", "everest", "oracle"}
  sources = {name: decoder.STRATEGIES[name].source for name in decoder.SCORED}
  assert (sources["adaptive"].importance, sources["adaptive"].scored_tokenizer) == ("precompute", True)
  assert sources["flow"].importance == "flow_scores"
  assert sources["everest"].batch_keys == () and sources["everest"].importance is None  # in the step
  assert sources["oracle"].needs_events


@pytest.mark.parametrize("name", sorted(decoder.STRATEGIES))
def test_every_strategys_options_are_keywords_of_its_selection(name):
  masking = Masking(decoder_strategy=name, decoder_budget=0.25, uniform_step=2)
  strategy = masking.strategy
  keywords = inspect.signature(strategy.select).parameters
  expected = {"top_share"} if name in decoder.SCORED else {"step"} if name == "uniform" else set()
  assert set(masking.options()) == expected and expected <= set(keywords)


def test_masking_config_keeps_its_fields_defaults_and_checks():
  fields = {f.name: f.default for f in dataclasses.fields(Masking)}
  assert fields == {"encoder_ratio": 0.9, "decoder_strategy": "random", "decoder_budget": 0.15,
                    "top_share": 2 / 3, "uniform_step": None}
  for bad, field in [({"decoder_strategy": "bogus"}, "decoder_strategy"), ({"top_share": 1.5}, "top_share"),
                     ({"decoder_budget": 0.0}, "decoder_budget"), ({"uniform_step": 0}, "uniform_step"),
                     ({"encoder_ratio": 1.0}, "encoder_ratio")]:
    with pytest.raises(ConfigError, match=field):
      Masking(**bad)


def test_pretrain_never_compares_the_strategy_name_with_a_literal():
  source = Path(pretrain.__file__).read_text()
  tree = ast.parse(source)
  literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
  assert not literals & set(decoder.STRATEGIES), "pretrain.py names a decoder strategy"
  for node in ast.walk(tree):
    if isinstance(node, ast.Compare):
      text = ast.get_source_segment(source, node)
      assert "decoder_strategy" not in text and "strategy.name" not in text, text
    if isinstance(node, ast.Match):
      assert "strategy" not in ast.get_source_segment(source, node.subject)


def _stage(strategy, *sets):
  return runs.build(experiments.get("pretrain", "smoke", [f"masking.decoder_strategy='{strategy}'", *sets]))


def test_a_new_strategy_needs_no_change_to_pretraining(monkeypatch):
  """Registered at run time: one with the flow stage's cached scores, one scored from SLC's events."""
  monkeypatch.setitem(decoder.STRATEGIES, "flow_copy", Scored("flow_copy", cached_scores("flow_scores")))
  stage = _stage("flow_copy", "importance=@flow_scores")
  assert stage.batch_keys == ("video", "scores", "info")
  with pytest.raises(ConfigError, match="flow_copy.*FlowScores"):
    _stage("flow_copy")
  oracle = decoder.STRATEGIES["oracle"]
  monkeypatch.setitem(decoder.STRATEGIES, "events_copy", Scored("events_copy", oracle.source))
  stage = _stage("events_copy")
  assert stage.batch_keys == ("video", "info")
  with pytest.raises(ConfigError, match="events_copy.*event masks"):
    runs.build(experiments.get("pretrain", "paper", ["masking.decoder_strategy='events_copy'"]))
