"""Reading configs: YAML files, ``key.sub=value`` overrides, and the type check of every value.

The half of :mod:`volo_adapt.config` that turns untyped input (a YAML mapping, ``--set`` strings, command-line
values) into the typed, frozen dataclasses; value ranges and choices are checked afterwards, once, by
:func:`volo_adapt.config_checks.validate`. Every refusal is a one-line :class:`~volo_adapt.errors.ConfigError`
naming the dotted key (or the file).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from volo_adapt.errors import ConfigError, first_line


def _coerce_scalar(value: Any, tp: Any, key: str) -> Any:
    """``value`` as a bool, float (int accepted; finite only), int or str; raise ConfigError naming ``key``."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is float:
        if not number:
            raise ConfigError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
        try:
            x = float(value)
        except OverflowError:  # an int beyond float range
            x = math.inf
        if not math.isfinite(x):  # .nan/.inf would reach losses, learning rates and the depth codec
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
        return x
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
    if isinstance(value, str):  # tp is str
        return value
    if number:
        return str(value)
    if isinstance(value, bool):  # YAML 1.1 reads on/off/yes/no as booleans
        raise ConfigError(f"{key}: expected a string, got {value!r} (YAML reads on/off/yes/no as true/false; quote the "
                          "value or use the option's own names)")
    raise ConfigError(f"{key}: expected a string, got {type(value).__name__} {value!r}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; raise ConfigError naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if arg is type(None) and value is None:
                return None
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                pass
        raise ConfigError(f"{key}: expected {tp}, got {value!r}")
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp in (bool, float, int, str):
        return _coerce_scalar(value, tp, key)
    if dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, prefix=f"{key}.")
    raise AssertionError(f"unsupported config type {getattr(tp, '__name__', tp)} at {key}")


REMOVED_KEYS = {
    "model.sensor.sensing_grids": "removed: it replicated one built-in sensor's resampling (issue 21); use "
                                  "model.sensor.resample_factors (learned resampling); a checkpoint trained with "
                                  "it needs volo-adapt at commit 588276a or earlier",
}
"""Keys older configs (and the configs saved in older checkpoints) may hold, with why they went. An empty/false
value of a removed key is dropped silently (every older checkpoint saves the default ``[]``); any other value is an
error with this text."""


def build_dataclass(cls: type, d: Any, prefix: str = "") -> Any:
    """An instance of the config dataclass ``cls`` from the mapping ``d`` (None = all defaults), every value
    type-checked (nested sections recursively); keys absent from ``d`` keep their defaults.

    Raises:
        ConfigError: ``d`` is not a mapping, a key is unknown (with close names suggested), a value has the wrong
            type; the message names the dotted key (``prefix`` + key).
    """
    if d is None:
        d = {}
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in [k for k in d if f"{prefix}{k}" in REMOVED_KEYS and k not in names]:
        if d[k]:
            raise ConfigError(f"{prefix}{k}: {REMOVED_KEYS[f'{prefix}{k}']}")
        d = {key: v for key, v in d.items() if key != k}
    for k in d:
        if k not in names:
            close = [n for n in names if n.startswith(str(k)[:3])]
            hint = f" (did you mean {', '.join(sorted(close))}?)" if close else ""
            shown = k if isinstance(k, str) and k.isprintable() else repr(k)  # keep the message on one line
            raise ConfigError(f"{prefix}{shown}: unknown key{hint}")
    return cls(**{k: _coerce(v, hints[k], f"{prefix}{k}") for k, v in d.items()})


def _parse_override(item: str) -> tuple[str, Any]:
    """``"a.b=value"`` -> ``("a.b", value parsed as YAML)``; a value YAML cannot build stays the plain string."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. loss.cycle_weight=5")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except Exception:
        # not a YAML value: taken as the plain string, which the key's type check then judges. PyYAML's
        # constructors raise more than YAMLError on odd input: ValueError (2020-13-45, !!int abc, 5000 digits),
        # AttributeError (!!timestamp 1), KeyError (!!bool foo), RecursionError (brackets nested thousands deep)
        value = raw
    return key, value


def set_dotted(d: dict[str, Any], key: str, value: Any, item: str | None = None) -> None:
    """``d[a][b] = value`` for ``key = "a.b"``, creating missing sections, in place.

    Raises:
        ConfigError: a part of the key names a value, not a section (the message quotes the ``--set`` string
            ``item`` when given, else names ``key``).
    """
    *sections, name = key.split(".")
    where = f"--set {item!r}" if item is not None else key
    node = d
    for p in sections:
        nxt = node.get(p)
        if nxt is None:
            nxt = node[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"{where}: {p} is not a section")
        node = nxt
    node[name] = value


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``a.b=value`` strings (values parsed as YAML scalars/lists) to a nested dict, in place."""
    for item in overrides:
        key, value = _parse_override(item)
        set_dotted(d, key, value, item=item)
    return d


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file: ``{}``).

    Raises:
        ConfigError: the file cannot be read or parsed, or does not hold a mapping (one line naming the file).
    """
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception as e:
        # OSError, UnicodeDecodeError (not UTF-8 text), YAMLError, and what PyYAML's constructors raise on odd
        # values: ValueError (2020-13-45, !!int abc), AttributeError (!!timestamp 1), KeyError (!!bool foo),
        # RecursionError (brackets nested thousands deep)
        raise ConfigError(f"{path}: not a readable YAML file ({first_line(e)})") from e
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return loaded or {}
