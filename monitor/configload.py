"""Turn TOML tables into frozen dataclasses, with errors that name file, line and field.

The type annotations of the target dataclass are the schema: str, int, float, bool,
Literal[...], X | None, tuple[X, ...], dict[str, X] and nested dataclasses. Validation
beyond types lives in each dataclass's `__post_init__` (raising ValueError).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from monitor.errors import ConfigError

T = TypeVar("T")
PathItem = str | int
FieldPath = tuple[PathItem, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)


def _split_key(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", text)
    return tuple(p.strip("\"'") for p in parts)


def field_name(path: FieldPath) -> str:
    """Human name of a field: arrays count from 1, as people count tables in a file."""
    out = ""
    for item in path:
        out += f"[{item + 1}]" if isinstance(item, int) else (f".{item}" if out else item)
    return out


class Locator:
    """Finds the line of a field in the TOML text (tomllib keeps no positions)."""

    def __init__(self, text: str):
        self.keys: dict[FieldPath, int] = {}
        self.tables: dict[FieldPath, int] = {}
        counts: dict[tuple[str, ...], int] = {}
        current: FieldPath = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                name = _split_key(header.group(2))
                if header.group(1) == "[[":
                    index = counts.get(name, 0)
                    counts[name] = index + 1
                    current = (*name, index)
                else:
                    current = name
                self.tables.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                self.keys.setdefault((*current, *_split_key(key.group(1))), number)

    def line(self, path: FieldPath) -> int | None:
        if path in self.keys:
            return self.keys[path]
        for end in range(len(path), 0, -1):
            if path[:end] in self.tables:
                return self.tables[path[:end]]
            if path[:end] in self.keys:
                return self.keys[path[:end]]
        return None


class Builder:
    """Builds dataclasses from parsed TOML, raising ConfigError with file, line and field."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.locator = Locator(text)

    def error(self, at: FieldPath, message: str) -> ConfigError:
        return ConfigError(self.path, message, self.locator.line(at), field_name(at) or None)

    def build(self, cls: type[T], data: Any, at: FieldPath, **given: Any) -> T:
        if not isinstance(data, Mapping):
            raise self.error(at, f"expected a table, got {_describe(data)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - set(fields) - set(given))
        if unknown:
            allowed = ", ".join(n for n in fields if n not in given)
            raise self.error((*at, unknown[0]), f"unknown field '{unknown[0]}' (expected one of: {allowed})")
        kwargs = dict(given)
        for name, f in fields.items():
            if name in given:
                continue
            if name in data:
                kwargs[name] = self.convert(hints[name], data[name], (*at, name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise self.error((*at, name), f"missing required field '{name}'")
        try:
            return cls(**kwargs)
        except ValueError as exc:
            message = str(exc)
            first = message.split(" ", 1)[0].strip("'\"")
            raise self.error((*at, first) if first in fields else at, message) from None

    def convert(self, tp: Any, value: Any, at: FieldPath) -> Any:
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is Literal:
            if value not in args:
                choices = ", ".join(repr(a) for a in args)
                raise self.error(at, f"{value!r} is not one of {choices}")
            return value
        if origin in (typing.Union, types.UnionType):
            inner = [a for a in args if a is not type(None)]
            return self.convert(inner[0], value, at)
        if origin is tuple:
            if not isinstance(value, list):
                raise self.error(at, f"expected a list, got {_describe(value)}")
            return tuple(self.convert(args[0], v, (*at, i)) for i, v in enumerate(value))
        if origin is dict:
            if not isinstance(value, Mapping):
                raise self.error(at, f"expected a table, got {_describe(value)}")
            return {str(k): self.convert(args[1], v, (*at, k)) for k, v in value.items()}
        if dataclasses.is_dataclass(tp):
            return self.build(tp, value, at)  # type: ignore[arg-type]
        return self._scalar(tp, value, at)

    def _scalar(self, tp: Any, value: Any, at: FieldPath) -> Any:
        ok = {
            bool: isinstance(value, bool),
            int: isinstance(value, int) and not isinstance(value, bool),
            float: isinstance(value, int | float) and not isinstance(value, bool),
            str: isinstance(value, str),
        }.get(tp)
        if ok is None:
            raise TypeError(f"unsupported config type {tp!r}")
        if not ok:
            raise self.error(at, f"expected {_NAMES[tp]}, got {_describe(value)}")
        return float(value) if tp is float else value


_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _describe(value: Any) -> str:
    kind = {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)
    shown = repr(value) if not isinstance(value, dict | list) else ""
    return f"{kind} {shown}".strip() if len(shown) < 60 else kind
