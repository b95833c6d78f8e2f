"""Tests for volo_adapt/training/schedules.py: learning-rate multipliers at chosen epochs."""

from __future__ import annotations

import math

import pytest

from volo_adapt.training.schedules import (
    batch_to_epoch,
    constant,
    linear_decay,
    lr_multiplier,
    planned_batches,
    warmup_cosine,
)


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 0.0), (2.5, 0.25), (5, 0.5), (10, 1.0), (35, 0.5), (60, 0.0), (70, 0.0), (-1, 0.0)],
)
def test_warmup_cosine_original_60_epochs_10_warmup(epoch, expected):
    assert warmup_cosine(epoch, 60, 10) == pytest.approx(expected, abs=1e-12)


def test_warmup_cosine_is_half_cosine_after_warmup():
    e = 10 + 50 / 3
    assert warmup_cosine(e, 60, 10) == pytest.approx(0.5 * (1 + math.cos(math.pi / 3)))
    assert warmup_cosine(3, 6, 0) == pytest.approx(0.5)  # no warm-up: decay from epoch 0


@pytest.mark.parametrize(("epoch", "expected"), [(0, 1.0), (100, 1.0), (150, 0.5), (175, 0.25), (200, 0.0)])
def test_linear_decay_cyclegan_100_plus_100(epoch, expected):
    assert linear_decay(epoch, 200, 100) == pytest.approx(expected)


def test_constant_and_dispatch():
    assert constant(123.0) == 1.0
    assert lr_multiplier("constant", 5, 10) == 1.0
    assert lr_multiplier("warmup_cosine", 5, 60, warmup_epochs=10) == pytest.approx(0.5)
    assert lr_multiplier("linear_decay", 150, 200, decay_start_epoch=100) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_multiplier("cosine", 1, 2)


def test_batch_midpoints_and_planned_total():
    assert batch_to_epoch(0, 100, 10) == pytest.approx(0.05)
    assert batch_to_epoch(99, 100, 10) == pytest.approx(9.95)
    assert planned_batches(50, 60, -1) == 3000
    assert planned_batches(50, 60, 600) == 600  # max_steps-limited run: schedule compressed onto 600 batches
    assert planned_batches(50, 60, 10**9) == 3000


def test_max_steps_limited_run_still_warms_up_and_decays():
    planned = planned_batches(100, 60, 120)
    lrs = [lr_multiplier("warmup_cosine", batch_to_epoch(k, planned, 60), 60, 10) for k in range(planned)]
    peak = max(range(planned), key=lambda k: lrs[k])
    assert 0 < lrs[0] < 0.1 and lrs[-1] < 0.01 and abs(peak - 20) <= 1
