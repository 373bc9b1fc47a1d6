"""`--set a.b=value` overrides: a dotted path into a Fiddle config and a Python literal value.

A section left at its dataclass default (e.g. a stage's `parallel`) is turned into a config when
one of its fields is set. A value `@name` is the registered experiment `name` at the same
profile: it plugs a whole stage in as an upstream stage (e.g. `--set pretrained.tokens=@tokens_fsq_magvit`).
"""
from __future__ import annotations

import ast
import dataclasses
from typing import Any, Callable

import fiddle as fdl


def parse_value(text: str) -> Any:
  """A Python literal (1, 0.5, 'x', (2, 4, 4), None, True); anything else is taken as a string."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply(cfg: fdl.Config, assignment: str, resolve: Callable[[str], fdl.Config] | None = None) -> None:
  """Sets `path=value` in `cfg`; an unknown field raises a ValueError naming it.

  `resolve(name)` turns an `@name` value into a config.
  """
  path, sep, text = assignment.partition("=")
  if not sep or not path.strip():
    raise ValueError(f"--set {assignment!r}: expected FIELD=VALUE, e.g. masking.encoder_ratio=0.9")
  *parents, leaf = path.strip().split(".")
  node = cfg
  for i, name in enumerate(parents):
    parent = node
    node = getattr(parent, name, None) if isinstance(parent, fdl.Buildable) else None
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
      # A section left at its default value (e.g. `parallel`) becomes a config to set fields in.
      node = fdl.Config(type(node), **{f.name: getattr(node, f.name) for f in dataclasses.fields(node)
                                       if f.init and getattr(node, f.name) != f.default})
      setattr(parent, name, node)
    if not isinstance(node, fdl.Buildable):
      raise ValueError(f"--set {path}: {'.'.join(parents[:i + 1])} is not a config section")
  valid = fdl.ordered_arguments(node, include_defaults=True)
  if leaf not in valid:
    raise ValueError(f"--set {path}: unknown field {leaf!r}; valid fields here: {sorted(valid)}")
  text = text.strip()
  if text.startswith("@"):
    if resolve is None:
      raise ValueError(f"--set {path}: experiment references ({text}) are not available here")
    try:
      setattr(node, leaf, resolve(text[1:]))
    except ValueError as e:
      raise ValueError(f"--set {path}={text}: {e}") from None
    return
  if isinstance(valid[leaf], fdl.Buildable):
    raise ValueError(f"--set {path}: is a config section; set one of its fields or a stage (@name)")
  setattr(node, leaf, parse_value(text))
