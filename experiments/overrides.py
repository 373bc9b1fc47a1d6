"""`--set a.b=value` overrides: a dotted path into a Fiddle config and a Python literal value."""
from __future__ import annotations

import ast
from typing import Any

import fiddle as fdl


def parse_value(text: str) -> Any:
  """A Python literal (1, 0.5, 'x', (2, 4, 4), None, True); anything else is taken as a string."""
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply(cfg: fdl.Config, assignment: str) -> None:
  """Sets `path=value` in `cfg`; an unknown field raises a ValueError naming it."""
  path, sep, text = assignment.partition("=")
  if not sep or not path.strip():
    raise ValueError(f"--set {assignment!r}: expected FIELD=VALUE, e.g. masking.encoder_ratio=0.9")
  *parents, leaf = path.strip().split(".")
  node = cfg
  for i, name in enumerate(parents):
    node = getattr(node, name, None) if isinstance(node, fdl.Buildable) else None
    if not isinstance(node, fdl.Buildable):
      raise ValueError(f"--set {path}: {'.'.join(parents[:i + 1])} is not a config section")
  valid = fdl.ordered_arguments(node, include_defaults=True)
  if leaf not in valid:
    raise ValueError(f"--set {path}: unknown field {leaf!r}; valid fields here: {sorted(valid)}")
  if isinstance(valid[leaf], fdl.Buildable):
    raise ValueError(f"--set {path}: is a config section; set one of its fields instead")
  setattr(node, leaf, parse_value(text))
