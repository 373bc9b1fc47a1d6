"""Checked field access shared by the dataset readers: integers, non-empty text, class ids, vocabularies.

Every check raises `AnnotationError` naming the file and the row. Rows of a CSV or text file are
1-based lines; rows of a JSON list are the entry's 0-based index.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from lvmae.data.manifest import AnnotationError, read_json

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def integer(path: Path, row: Any, values: dict, name: str) -> int:
  """values[name] as an int: a JSON integer or a string of digits (never a float or a bool)."""
  if name not in values:
    raise AnnotationError(path, f"missing field {name!r}", row)
  value = values[name]
  if isinstance(value, int) and not isinstance(value, bool):
    return value
  if isinstance(value, str) and _INTEGER.fullmatch(value):
    return int(value)
  raise AnnotationError(path, f"{name}={value!r} is not an integer", row)


def text(path: Path, row: Any, values: dict, name: str) -> str:
  """values[name] as a non-empty string (surrounding whitespace stripped); JSON integers are accepted."""
  if name not in values:
    raise AnnotationError(path, f"missing field {name!r}", row)
  value = values[name]
  if isinstance(value, int) and not isinstance(value, bool):
    value = str(value)
  if not isinstance(value, str) or not value.strip():
    raise AnnotationError(path, f"{name}={value!r} is empty or not text", row)
  return value.strip()


def class_id(path: Path, row: Any, values: dict, name: str, classes: tuple[str, ...],
             vocabulary: Path | str) -> int:
  """values[name] as a class id, checked against the `classes` read from the `vocabulary` file."""
  label = integer(path, row, values, name)
  if not 0 <= label < len(classes):
    raise AnnotationError(
        path, f"{name}={label} is outside the {len(classes)} classes of {Path(vocabulary).name}", row)
  return label


def vocabulary(path: Path, entries: Iterable[tuple[Any, int, str]]) -> tuple[str, ...]:
  """Class names indexed by id from (row, id, name) entries; ids must be exactly 0 .. N-1."""
  names: dict[int, str] = {}
  for row, index, name in entries:
    if index in names:
      raise AnnotationError(path, f"class id {index} appears twice", row)
    if index < 0:
      raise AnnotationError(path, f"class id {index} is negative", row)
    names[index] = name
  if not names:
    raise AnnotationError(path, "no classes")
  missing = sorted(set(range(len(names))) - set(names))
  if missing:
    raise AnnotationError(path, f"class ids are not 0..{len(names) - 1}: missing {missing[:5]}")
  return tuple(names[i] for i in range(len(names)))


def json_list(path: Path) -> list:
  """A JSON file that must hold a list (the entries of a split or a vocabulary)."""
  data = read_json(path)
  if not isinstance(data, list):
    raise AnnotationError(path, f"expected a JSON list, found {type(data).__name__}")
  return data


def json_object(path: Path, row: int, entry: Any) -> dict:
  if not isinstance(entry, dict):
    raise AnnotationError(path, f"expected a JSON object, found {type(entry).__name__}", row)
  return entry
