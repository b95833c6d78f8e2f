"""volo_adapt/metrics/headline.py: the rows name registered metrics, and the target rules judge correctly."""

from __future__ import annotations

import math

import pytest

from volo_adapt.metrics.headline import HEADLINE_ROWS, TARGET_RULES, headline_metrics, meets_target
from volo_adapt.metrics.registry import get_metric


def test_rows_name_registered_metrics_and_known_rules():
    for row in HEADLINE_ROWS:
        get_metric(row.metric)  # raises for an unknown name
        assert row.better in ("lower", "higher") and (row.target == "" or row.target in TARGET_RULES)
    assert "c2st_rgbd_acc" in headline_metrics() and len(set(headline_metrics())) == len(headline_metrics())


@pytest.mark.parametrize(
    ("rule", "value", "identity", "sensor", "expected"),
    [
        ("<= 0.60 and < identity", 0.60, 0.70, None, True),
        ("<= 0.60 and < identity", 0.61, 0.70, None, False),
        ("<= 0.60 and < identity", 0.55, 0.50, None, False),
        ("< identity", 3.0, 3.0, None, False),
        (">= identity", 0.88, 0.88, None, True),
        ("<= identity + 10 %", 189.0, 172.0, None, True),
        ("<= identity + 10 %", 190.0, 172.0, None, False),
        ("<= sensor", 50.0, 0.0, 104.0, True),
        ("<= sensor", 50.0, 0.0, None, None),
        ("< identity", math.nan, 1.0, None, None),
        ("", 1.0, 2.0, None, None),
    ],
)
def test_meets_target(rule, value, identity, sensor, expected):
    assert meets_target(rule, value, identity, sensor) is expected


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown target rule"):
        meets_target("< floor", 1.0, 2.0)
