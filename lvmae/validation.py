"""Config validation: one error type that names the offending field, raised before compilation."""
from __future__ import annotations

from typing import Any, Iterable


class ConfigError(ValueError):
  """A bad config value. `field` is the dataclass field; the CLI prefixes the config path."""

  def __init__(self, field: str, value: Any, reason: str):
    self.field, self.value, self.reason = field, value, reason
    super().__init__(f"{field}={value!r}: {reason}")


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
