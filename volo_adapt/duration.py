"""Wall-clock durations as users type them: ``10m``, ``1h30m``, ``90s``, ``HH:MM:SS`` or ``DD:HH:MM:SS``."""

from __future__ import annotations

import re
from datetime import timedelta

from volo_adapt.errors import ConfigError

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_UNIT_RE = re.compile(r"(\d+(?:\.\d+)?)([dhms])")


def parse_duration(text: str, key: str = "train.max_time") -> timedelta:
    """Parse a positive duration.

    Accepted forms: unit groups in decreasing order (``2d``, ``1h30m``, ``10m``, ``90s``, ``1.5h``), or colon
    forms ``MM:SS``, ``HH:MM:SS``, ``DD:HH:MM:SS`` (Lightning's ``max_time`` string).

    Args:
        text: the duration.
        key: the config key named in the error (a command-line tool maps it to its own option).

    Returns:
        A positive :class:`datetime.timedelta`.

    Raises:
        ConfigError: anything else, naming ``key`` and the text: ``train.max_time '10 minutes': expected ...``.

    Example:
        >>> parse_duration("1h30m"), parse_duration("00:10:00")
        (datetime.timedelta(seconds=5400), datetime.timedelta(seconds=600))
    """
    s = str(text).strip().lower()
    seconds: float | None = None
    if re.fullmatch(r"\d+(:\d{1,2}){1,3}", s):
        parts = [int(p) for p in s.split(":")]
        if all(p < 60 for p in parts[1:]) and not (len(parts) == 4 and parts[1] >= 24):
            seconds = 0.0
            for p, unit in zip(reversed(parts), (1, 60, 3600, 86400), strict=False):
                seconds += p * unit
    elif s and _UNIT_RE.sub("", s) == "":
        groups = _UNIT_RE.findall(s)
        units = [u for _, u in groups]
        if units == sorted(set(units), key="dhms".index):  # each unit once, largest first
            seconds = sum(float(v) * _UNITS[u] for v, u in groups)
    if seconds is None or seconds <= 0:
        raise ConfigError(f"{key} {text!r}: expected a positive duration such as 10m, 1h30m, 90s or HH:MM:SS")
    return timedelta(seconds=seconds)
