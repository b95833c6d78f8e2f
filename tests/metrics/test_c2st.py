"""Tests for volo_adapt/metrics/c2st.py: chance on identical sets, separation on different ones, seeding."""

from __future__ import annotations

import math

import pytest
import torch
from volo_metrics_scenes import network, scenes

from volo_adapt.metrics.c2st import c2st, wilson_interval


@pytest.fixture(scope="module")
def sets():
    clean = network(*scenes(24, 32, seed=0))
    clean2 = network(*scenes(24, 32, seed=1))
    noisy = network(*scenes(24, 32, seed=2, noise=0.02, holes=0.15))
    return clean, clean2, noisy


def test_identical_sets_give_exactly_chance(sets):
    clean, _, _ = sets
    r = c2st(clean, clean.clone(), epochs=5)
    assert r.acc == 0.5 and r.n_test == 24
    assert r.ci_low < 0.5 < r.ci_high


def test_same_distribution_is_near_chance(sets):
    clean, clean2, _ = sets
    r = c2st(clean, clean2, epochs=15)
    assert 0.2 <= r.acc <= 0.8


def test_sensor_noise_and_holes_are_detected_in_depth(sets):
    clean, _, noisy = sets
    depth = c2st(clean, noisy, channels="depth", epochs=30)
    assert depth.acc >= 0.8 and depth.ci_low > 0.5


def test_seeded_and_leaves_global_rng_alone(sets):
    clean, _, noisy = sets
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = c2st(clean, noisy, seed=3, epochs=3)
    after = torch.rand(1)
    b = c2st(clean, noisy, seed=3, epochs=3)
    assert a == b
    assert torch.equal(before, after)


def test_too_few_images_give_nan():
    x = torch.rand(1, 4, 16, 16)
    assert math.isnan(c2st(x, x).acc)


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.4038, abs=1e-3) and hi == pytest.approx(0.5962, abs=1e-3)
    lo, hi = wilson_interval(10, 10)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(0.7225, abs=1e-3)
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_repeats_report_the_mean_and_spread_of_single_seed_runs(sets):
    clean, _, noisy = sets
    singles = [c2st(clean, noisy, seed=s, epochs=3).acc for s in (5, 6, 7)]
    r = c2st(clean, noisy, seed=5, epochs=3, repeats=3)
    assert r.repeats == 3 and r.n_test == 24
    assert r.acc == pytest.approx(sum(singles) / 3)
    assert r.acc_std == pytest.approx(float(torch.tensor(singles, dtype=torch.float64).std()))
    assert r.ci_low <= r.acc <= r.ci_high
    assert c2st(clean, noisy, seed=5, epochs=3, repeats=1).acc == singles[0]


def test_repeats_below_one_are_refused(sets):
    clean, _, noisy = sets
    with pytest.raises(ValueError, match="repeats"):
        c2st(clean, noisy, repeats=0)
