"""volo_adapt/duration.py: the train.max_time (``volo train --max-time``) formats."""

from __future__ import annotations

from datetime import timedelta

import pytest

from volo_adapt.duration import parse_duration
from volo_adapt.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("10m", 600), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("2d3h", 183600), ("00:10:00", 600),
     ("10:00", 600), ("1:02:03:04", 93784), (" 7M ", 420)],
)
def test_accepted_forms(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "0m", "-5m", "10", "m10", "10x", "1m1h", "1h1h", "10:70", "1:25:00:00", "abc"])
def test_refused_forms_name_the_key(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^train\.max_time "):
        parse_duration(text)
    with pytest.raises(ConfigError, match=r"^budget "):
        parse_duration(text, "budget")
