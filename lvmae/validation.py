"""Config validation: one error type that names the offending field, raised before anything runs.

Two layers, both run by `runs.build` before a stage (or any of its upstream stages) starts:
- `check_config`, generic and driven by the stage dataclasses' annotations: every argument of every
  config in the tree against its declared type (`int` takes no bool and no float, not even 4.0;
  `float` takes an int but no bool, nan or inf; tuples by shape and element) and, where a field is
  annotated with a `Range` (the aliases below: `PositiveInt`, `OpenUnit`, ...), its valid range;
- the semantic checks that need several fields, in each dataclass's `__post_init__` (the
  `check_*` helpers below), which run when Fiddle builds the tree.

Hand-written rather than typeguard/beartype/pydantic: those follow PEP 484's numeric tower (a bool
is an int; pydantic's lax mode even turns '4' into 4), while a config wants the stricter rules
above and errors that name the config path, which a 60-line walker over `typing.get_type_hints`
gives directly.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Annotated, Any, Iterable

INT_LIMIT = 2 ** 31  # every int field is an int32 somewhere (XLA, grain, numpy seeds)


class ConfigError(ValueError):
  """A bad config value. `field` is the dataclass field; the CLI prefixes the config path."""

  def __init__(self, field: str, value: Any, reason: str):
    self.field, self.value, self.reason = field, value, reason
    super().__init__(f"{field}={value!r}: {reason}")


@dataclasses.dataclass(frozen=True)
class Range:
  """A field's valid interval, read by `check_config` from `Annotated[type, Range(...)]`; None
  leaves a side unbounded; `open_low`/`open_high` exclude the bound itself."""
  low: float | None = None
  high: float | None = None
  open_low: bool = False
  open_high: bool = False

  def contains(self, value: float) -> bool:
    return ((self.low is None or value > self.low or (value == self.low and not self.open_low))
            and (self.high is None or value < self.high or (value == self.high and not self.open_high)))

  def describe(self) -> str:
    if self.high is None:
      return f"must be {'>' if self.open_low else '>='} {self.low:g}"
    if self.low is None:
      return f"must be {'<' if self.open_high else '<='} {self.high:g}"
    return f"must be in {'(['[not self.open_low]}{self.low:g}, {self.high:g}{')]'[not self.open_high]}"


PositiveInt = Annotated[int, Range(1)]
NonNegativeInt = Annotated[int, Range(0)]
PositiveFloat = Annotated[float, Range(0, open_low=True)]
NonNegativeFloat = Annotated[float, Range(0)]
OpenUnit = Annotated[float, Range(0, 1, open_low=True, open_high=True)]  # (0, 1)
UnitInterval = Annotated[float, Range(0, 1)]  # [0, 1]
HalfOpenUnit = Annotated[float, Range(0, 1, open_high=True)]  # [0, 1)
Seed = NonNegativeInt
Shape3 = tuple[PositiveInt, PositiveInt, PositiveInt]  # a (time, height, width) size, e.g. a tubelet


def check_config(cfg: Any, path: str = "") -> None:
  """Checks every argument of a Fiddle config tree (defaults included) of dataclass stages against
  its annotation; raises ConfigError naming the full dotted path. Non-dataclass callables are not
  checked (their own code validates)."""
  import fiddle as fdl
  target = fdl.get_callable(cfg)
  if not dataclasses.is_dataclass(target):
    return
  hints = _hints(target)
  for name, value in fdl.ordered_arguments(cfg, include_defaults=True).items():
    if name in hints:
      _check(f"{path}{name}", value, hints[name])


def check_fields(instance: Any) -> None:
  """The same type and range checks on a dataclass instance's own fields (without the path a
  config tree gives): called first in each stage dataclass's `__post_init__`, so a dataclass built
  directly in Python is held to the rules the config check applies."""
  hints = _hints(type(instance))
  for field in dataclasses.fields(instance):
    if field.init and field.name in hints:
      _check(field.name, getattr(instance, field.name), hints[field.name])


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
  return typing.get_type_hints(cls, include_extras=True)


def _describe(hint: Any) -> str:
  if typing.get_origin(hint) is Annotated:
    return _describe(typing.get_args(hint)[0])
  if typing.get_origin(hint) is tuple:
    args = typing.get_args(hint)
    if len(args) == 2 and args[1] is Ellipsis:
      return f"a tuple of {_plural(args[0])}"
    if len(set(map(_describe, args))) == 1:
      return f"a tuple of {len(args)} {_plural(args[0])}"
    return f"a tuple ({', '.join(_describe(a) for a in args)})"
  if typing.get_origin(hint) in (typing.Union, types.UnionType):
    return " or ".join(_describe(a) for a in typing.get_args(hint))
  if hint is type(None):
    return "None"
  if dataclasses.is_dataclass(hint):
    return f"a {hint.__name__} config"
  return {int: "an int", float: "a number", bool: "a bool", str: "a string"}.get(hint, str(hint))


def _plural(hint: Any) -> str:
  """'ints', 'numbers', ...: the plural of `_describe`'s noun."""
  noun = _describe(hint)
  return noun.split(" ", 1)[1] + "s" if noun.startswith(("a ", "an ")) else noun


def _matches(value: Any, hint: Any) -> bool:
  """Whether `value` has `hint`'s type (ranges aside); configs match their dataclass."""
  import fiddle as fdl
  if hint is int:
    return type(value) is int
  if hint is float:
    return type(value) in (int, float)
  if hint in (bool, str) or hint is type(None):
    return type(value) is hint
  if typing.get_origin(hint) is Annotated:
    return _matches(value, typing.get_args(hint)[0])
  if typing.get_origin(hint) is tuple:
    elements = _tuple_elements(value, hint)
    return elements is not None and all(_matches(v, h) for v, h in zip(value, elements))
  if typing.get_origin(hint) in (typing.Union, types.UnionType):
    return any(_matches(value, a) for a in typing.get_args(hint))
  if dataclasses.is_dataclass(hint):
    if isinstance(value, fdl.Buildable):
      target = fdl.get_callable(value)
      return isinstance(target, type) and issubclass(target, hint)
    return isinstance(value, hint)
  return True  # an annotation this walker does not model (e.g. Any): the stage's own code checks it


def _check(path: str, value: Any, hint: Any) -> None:
  """Type, then range, then the nested configs, of one field's value (a dataclass instance, e.g. a
  field's default, checked its own fields when it was made: `check_fields`)."""
  import fiddle as fdl
  elements = _tuple_elements(value, hint)
  if elements is not None:  # a tuple of the right length: the first bad element is named
    for i, (v, h) in enumerate(zip(value, elements)):
      _check(f"{path}[{i}]", v, h)
    return
  if not _matches(value, hint):
    raise ConfigError(path, value, _mismatch(value, hint))
  _check_ranges(path, value, hint)
  if isinstance(value, fdl.Buildable):
    check_config(value, f"{path}.")


def _tuple_elements(value: Any, hint: Any) -> list | None:
  """The element annotations of a tuple annotation (Annotated unwrapped) when `value` is a tuple of
  its length; else None."""
  while typing.get_origin(hint) is Annotated:
    hint = typing.get_args(hint)[0]
  if typing.get_origin(hint) is not tuple or type(value) is not tuple:
    return None
  args = typing.get_args(hint)
  if len(args) == 2 and args[1] is Ellipsis:
    return [args[0]] * len(value)
  return list(args) if len(args) == len(value) else None


def _mismatch(value: Any, hint: Any) -> str:
  reason = f"expected {_describe(hint)}"
  if type(value) is float and value.is_integer() and abs(value) < INT_LIMIT and "an int" in reason:
    reason += f" (write {int(value)})"
  return reason


def _check_ranges(path: str, value: Any, hint: Any) -> None:
  origin = typing.get_origin(hint)
  if origin is Annotated:
    base, *metadata = typing.get_args(hint)
    _check_ranges(path, value, base)
    for bound in metadata:
      if isinstance(bound, Range) and not bound.contains(value):
        raise ConfigError(path, value, bound.describe())
  elif type(value) is int and not -INT_LIMIT <= value < INT_LIMIT:
    raise ConfigError(path, value, "out of range (an int32: |value| < 2**31)")
  elif type(value) is float and not math.isfinite(value):
    raise ConfigError(path, value, "must be a finite number")
  elif origin is tuple:
    for i, (v, h) in enumerate(zip(value, _tuple_elements(value, hint))):
      _check_ranges(f"{path}[{i}]", v, h)
  elif origin in (typing.Union, types.UnionType):
    for arg in typing.get_args(hint):
      if _matches(value, arg):
        _check_ranges(path, value, arg)
        break


def check_open_unit(field: str, value: float) -> None:
  if not 0.0 < value < 1.0:
    raise ConfigError(field, value, "must be in (0, 1)")


def check_choice(field: str, value: Any, choices: Iterable[Any]) -> None:
  choices = sorted(choices)
  if value not in choices:
    raise ConfigError(field, value, f"unknown choice; expected one of {choices}")


def check_positive(field: str, value: float) -> None:
  if not value > 0:
    raise ConfigError(field, value, "must be positive")


def check_divisible(field: str, value: int, by: int, by_name: str) -> None:
  if value % by:
    raise ConfigError(field, value, f"not divisible by {by_name}={by}")
