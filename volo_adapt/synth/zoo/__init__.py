"""The sensor zoo: a registry of target-sensor families for the synthetic benchmark (``volo data synth --sensor``).

Each family (one module each) is a sensor model plus a frozen dataclass of physical parameters (metres, pixels,
degrees or dimensionless fractions) with documented draw ranges. A data set's instance is drawn from those ranges
by the data set's seed (:func:`make_sensor`); ``KEY=VALUE`` pins override single parameters. ``builtin_lidar``
(today's sensor B, fixed) is the default target. See ``docs/sensor-zoo.md`` for the physics and sources.

Nothing outside :mod:`volo_adapt.synth` imports this package (models and losses never see a sensor model).
"""

from __future__ import annotations

from volo_adapt.errors import ConfigError
from volo_adapt.synth.seeding import numpy_rng
from volo_adapt.synth.zoo import builtin_lidar, filtered, phone_lidar, stereo, tof, zone_tof
from volo_adapt.synth.zoo.base import DrawnSensor, Family, SensorInputs
from volo_adapt.synth.zoo.params import describe_params, draw_params, parse_pins

DEFAULT_SENSOR = "builtin_lidar"
"""The target sensor of ``volo data synth`` without ``--sensor`` (byte-identical to the pre-zoo benchmark)."""

FAMILIES: dict[str, Family] = {
    f.name: f for f in (builtin_lidar.FAMILY, phone_lidar.FAMILY, tof.FAMILY, stereo.FAMILY, zone_tof.FAMILY,
                        filtered.FAMILY)
}
"""Every target-sensor family by name, in listing order."""

PARAM_STREAM = "zoo/params"
"""Random stream of the per-data-set parameter draw (purpose = the family name)."""


def get_family(name: str) -> Family:
    """The family called ``name``; :class:`ConfigError` naming the known ones otherwise."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown sensor {name!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def make_sensor(name: str, seed: int = 0, pins: list[str] | dict[str, str] | None = None) -> DrawnSensor:
    """Draw the instance of family ``name`` for a data set with ``seed``, then apply ``pins``.

    Args:
        name: family name (see :data:`FAMILIES`).
        seed: the data set's seed (``>= 0``); the same seed gives the same parameters.
        pins: ``["KEY=VALUE", ...]`` (or ``{KEY: VALUE}``) overriding drawn values.

    Raises:
        ConfigError: unknown family, unknown parameter key, or a value of the wrong type or out of bounds.
    """
    family = get_family(name)
    try:
        values = parse_pins(family.params, pins)
    except ConfigError as e:
        raise ConfigError(f"sensor {name}: {e}") from None
    rng = numpy_rng(seed, PARAM_STREAM, 0, name) if family.randomised else None
    try:
        params = draw_params(family.params, rng, values)
    except (AssertionError, ValueError) as e:
        raise ConfigError(f"sensor {name}: invalid parameters {values}: {e}") from None
    return DrawnSensor(family=family, params=params, seed=seed, pinned=tuple(values))


def describe_sensors() -> list[dict]:
    """One row per family: ``name``, ``kind``, ``description``, ``randomised`` and ``params`` (see
    :func:`~volo_adapt.synth.zoo.params.describe_params`; ``builtin_lidar``'s are fixed, with units)."""
    rows = []
    for f in FAMILIES.values():
        params = describe_params(f.params)
        if f is builtin_lidar.FAMILY:
            for p in params:
                p["unit"] = builtin_lidar.UNITS.get(p["name"], "")
        rows.append({"name": f.name, "kind": f.kind, "description": f.description, "randomised": f.randomised,
                     "params": params})
    return rows


__all__ = ["DEFAULT_SENSOR", "FAMILIES", "DrawnSensor", "Family", "SensorInputs", "describe_sensors", "get_family",
           "make_sensor"]
