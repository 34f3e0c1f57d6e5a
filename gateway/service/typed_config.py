"""Typed configuration from TOML: frozen dataclasses, validated, every error naming its key.

The gateway's configuration (gateway.service.config) and the console's
(gateway.web.config) are both read with :func:`load_dataclass`.  Field
metadata drive the checks: ``range`` (lo, hi), ``choices``, ``pattern``,
``path`` (relative to the file), ``secret`` (never shown) with ``file_key``
(read from a file instead), ``key_pattern`` for the names of a table.  This
module imports nothing of the gateway, so a small process (the console)
can use it without loading the signal chain.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import json
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

#: Patient ids become MQTT topic levels and Home Assistant ids: no "/", "+", "#",
#: and no leading "_" (the gateway's own topics live under ``<prefix>/_gateway``).
PATIENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
TOPIC_PREFIX = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")


class ConfigError(ValueError):
    """A configuration mistake; the message starts with the key path."""


def _range(lo: float | None = None, hi: float | None = None, **more: Any) -> dict:
    return {"range": (lo, hi), **more}

@dataclass(frozen=True)
class TlsConfig:
    ca: str | None = field(default=None, metadata={"path": True})
    cert: str | None = field(default=None, metadata={"path": True})
    key: str | None = field(default=None, metadata={"path": True})

def _show(value: Any) -> str:
    """A value as the TOML author wrote it, for error messages."""
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


def _type_name(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


class _Loader:
    """Builds dataclasses from TOML tables, naming the key path in every error."""

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir

    def dataclass(self, cls: type, table: Any, path: str) -> Any:
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: expected a table, got {_show(table)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        file_keys = {f.metadata["file_key"]: f.name for f in fields.values() if "file_key" in f.metadata}
        unknown = sorted(set(table) - set(fields) - set(file_keys))
        if unknown:
            raise ConfigError(f"{self._join(path, unknown[0])}: unknown key (known keys: "
                              f"{', '.join(sorted([*fields, *file_keys]))})")
        values: dict[str, Any] = {}
        for name, f in fields.items():
            key = self._join(path, name)
            file_key = f.metadata.get("file_key")
            if file_key and file_key in table:
                if name in table:
                    raise ConfigError(f"{key}: give either {name} or {file_key}, not both")
                values[name] = self._secret_file(table[file_key], self._join(path, file_key))
            elif name in table:
                values[name] = self.value(hints[name], table[name], key, f.metadata)
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                alternative = f" (or {file_key})" if file_key else ""
                raise ConfigError(f"{key}: required key is missing{alternative}")
        try:
            return cls(**values)
        except (TypeError, ValueError) as e:  # the dataclass's own checks; they start with the field name
            message = str(e)
            named = re.match(r"[A-Za-z_][A-Za-z0-9_]*", message)
            joiner = "." if named and named.group(0) in fields else ": "
            raise ConfigError(f"{path}{joiner}{message}" if path else message) from None

    def value(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(options) != 1:
                raise TypeError(f"{key}: unsupported annotation {tp}")
            return self.value(options[0], value, key, meta)
        if dataclasses.is_dataclass(tp):
            return self.dataclass(tp, value, key)
        if origin in (dict, collections.abc.Mapping):
            _, item = typing.get_args(tp)
            if not isinstance(value, dict):
                raise ConfigError(f"{key}: expected a table, got {_show(value)}")
            pattern = meta.get("key_pattern")
            for name in value:
                if pattern and not pattern.fullmatch(name):
                    raise ConfigError(f"{key}.{name}: the name does not match {pattern.pattern}")
            return {name: self.value(item, v, f"{key}.{name}", {}) for name, v in value.items()}
        if origin is tuple:
            args = typing.get_args(tp)
            variable = len(args) == 2 and args[1] is Ellipsis
            if not isinstance(value, list) or (not variable and len(value) != len(args)):
                what = f"a list of {_type_name(args[0])}" if variable else f"a list of {len(args)} values"
                raise ConfigError(f"{key}: expected {what}, got {_show(value)}")
            items = [args[0]] * len(value) if variable else list(args)
            return tuple(self.value(t, v, f"{key}[{i}]", meta) for i, (t, v) in enumerate(zip(items, value)))
        return self.scalar(tp, value, key, meta)

    def scalar(self, tp: Any, value: Any, key: str, meta: Mapping[str, Any]) -> Any:
        lo, hi = meta.get("range", (None, None))
        span = f" {lo:g}..{hi:g}" if lo is not None and hi is not None else ""
        shown = "(hidden)" if meta.get("secret") else _show(value)
        if tp is bool:
            ok = isinstance(value, bool)
        elif tp is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif tp is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
            value = float(value) if ok else value
        elif tp is str:
            ok = isinstance(value, str)
        else:
            raise TypeError(f"{key}: unsupported annotation {tp}")
        if not ok:
            raise ConfigError(f"{key}: expected {_type_name(tp)}{span}, got {shown}")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise ConfigError(f"{key}: expected {_type_name(tp)}{span}, got {shown}")
        if "choices" in meta and value not in meta["choices"]:
            raise ConfigError(f"{key}: expected one of {', '.join(meta['choices'])}, got {shown}")
        if "pattern" in meta and not meta["pattern"].fullmatch(value):
            raise ConfigError(f"{key}: {shown} does not match {meta['pattern'].pattern}")
        if meta.get("path") and value:
            value = str(self.base_dir / Path(value).expanduser())
        return value

    def _secret_file(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a file path, got {_show(value)}")
        path = self.base_dir / Path(value).expanduser()
        try:
            secret = path.read_text().strip()
        except OSError as e:
            raise ConfigError(f"{key}: cannot read {path}: {e.strerror}") from None
        if not secret:
            raise ConfigError(f"{key}: {path} is empty")
        return secret

    @staticmethod
    def _join(path: str, name: str) -> str:
        return f"{path}.{name}" if path else name

def read_toml(path: str | Path) -> dict:
    """A TOML file as a table; a missing or broken file is a :class:`ConfigError` naming it."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the configuration: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None


def load_dataclass(cls: type, table: dict, base_dir: str | Path = ".") -> Any:
    """Any configuration dataclass from a table, with this module's checks (the console's config uses it)."""
    return _Loader(Path(base_dir)).dataclass(cls, table, "")
