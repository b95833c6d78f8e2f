"""Randomisable sensor parameters: declaration (:func:`param`), seeded draws and ``KEY=VALUE`` pins.

A family's parameters are a frozen dataclass whose fields are declared with :func:`param`: a default, the range a
data set's instance is drawn from (uniform; integers inclusive; or a tuple of choices), the unit, a one-line effect
and hard validity bounds for pinned values. :func:`draw_params` draws every field from one seeded numpy generator in
field order (a pinned field is still drawn, so pinning one parameter leaves the others' draws unchanged).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import MISSING, Field, fields
from typing import Any

import numpy as np

from volo_adapt.errors import ConfigError


def param(
    default: float | int | str,
    draw: tuple,
    unit: str,
    effect: str,
    valid: tuple[float, float] = (0.0, math.inf),
) -> Any:
    """A dataclass field of a randomisable sensor parameter.

    Args:
        default: value of the documented default instance (the type fixes the parsing of pins: float, int, str).
        draw: ``(lo, hi)`` for numbers (uniform, inclusive for ints) or a tuple of choices for strings.
        unit: ``"m"``, ``"px"``, ``"deg"``, ``"fraction"`` (dimensionless) or ``"choice"``.
        effect: one line: what the parameter does to the image.
        valid: hard bounds ``[vmin, vmax]`` a pinned number must respect (physically meaningful values).
    """
    meta = {"draw": tuple(draw), "unit": unit, "effect": effect, "valid": valid}
    return dataclasses.field(default=default, metadata=meta)


def param_fields(cls: type) -> list[Field]:
    """The fields of a parameter dataclass that were declared with :func:`param` (those with a ``draw``)."""
    return [f for f in fields(cls) if "draw" in f.metadata]


def _draw_one(f: Field, rng: np.random.Generator) -> float | int | str:
    draw = f.metadata["draw"]
    if isinstance(f.default, str):
        return str(draw[int(rng.integers(len(draw)))])
    lo, hi = draw
    if isinstance(f.default, int):
        return int(rng.integers(int(lo), int(hi) + 1))
    return float(lo + (hi - lo) * rng.random())


def parse_value(cls: type, key: str, text: str) -> float | int | str:
    """Parse and check a pinned value ``text`` for field ``key`` of ``cls``; :class:`ConfigError` if invalid."""
    by_name = {f.name: f for f in fields(cls)}
    if key not in by_name:
        raise ConfigError(f"unknown parameter {key!r} (known: {', '.join(by_name)})")
    f = by_name[key]
    default = f.default if f.default is not MISSING else None
    meta = f.metadata
    if isinstance(default, str):
        choices = meta.get("draw", ())
        if choices and text not in choices:
            raise ConfigError(f"{key}={text}: must be one of {', '.join(choices)}")
        return text
    try:
        value = int(text) if isinstance(default, int) and not isinstance(default, bool) else float(text)
    except ValueError:
        kind = "an integer" if isinstance(default, int) else "a number"
        raise ConfigError(f"{key}={text}: must be {kind}") from None
    vmin, vmax = meta.get("valid", (-math.inf, math.inf))
    if not (math.isfinite(value) and vmin <= value <= vmax):
        raise ConfigError(f"{key}={text}: must be in [{vmin:g}, {vmax:g}] {meta.get('unit', '')}".rstrip())
    return value


def parse_pins(cls: type, pins: list[str] | dict[str, str] | None) -> dict[str, float | int | str]:
    """``["KEY=VALUE", ...]`` (or a dict of strings) -> checked values by field name of ``cls``."""
    items: list[tuple[str, str]] = []
    if isinstance(pins, dict):
        items = [(k, str(v)) for k, v in pins.items()]
    else:
        for kv in pins or []:
            key, sep, value = kv.partition("=")
            if not sep or not key.strip():
                raise ConfigError(f"{kv!r}: expected KEY=VALUE")
            items.append((key.strip(), value.strip()))
    return {k: parse_value(cls, k, v) for k, v in items}


def draw_params(cls: type, rng: np.random.Generator | None, pins: dict[str, Any] | None = None) -> Any:
    """An instance of ``cls``: every :func:`param` field drawn from ``rng`` (``None``: defaults), then ``pins``."""
    values = {f.name: _draw_one(f, rng) for f in param_fields(cls)} if rng is not None else {}
    values.update(pins or {})
    return cls(**values)


def describe_params(cls: type) -> list[dict]:
    """Rows ``{name, unit, default, draw, effect}`` of every field of ``cls`` (for listings and the docs)."""
    rows = []
    for f in fields(cls):
        meta = f.metadata
        draw = meta.get("draw")
        if draw is None:
            rng_text = "fixed"
        elif isinstance(f.default, str):
            rng_text = "{" + ", ".join(draw) + "}"
        else:
            rng_text = f"[{draw[0]:g}, {draw[1]:g}]"
        rows.append({"name": f.name, "unit": meta.get("unit", ""), "default": f.default, "draw": rng_text,
                     "effect": meta.get("effect", "")})
    return rows
