"""Tests for volo_adapt/metrics/geometry.py: unchanged geometry scores perfectly, a moved subject does not."""

from __future__ import annotations

import math

import pytest
import torch
from volo_metrics_scenes import scenes

from volo_adapt.metrics.geometry import geometry_errors, masked_median


def test_identical_depth_is_perfect():
    _, d, v = scenes(4, 48, seed=0, noise=0.01, holes=0.1)
    r = geometry_errors(d, v, d.clone(), v.clone())
    assert r["mae_mm"] == 0.0 and r["absrel"] == 0.0 and r["delta125"] == 1.0 and r["valid_iou"] == 1.0


def test_sensor_noise_alone_barely_moves_the_low_passed_geometry():
    _, d, v = scenes(4, 48, seed=0)
    _, dn, vn = scenes(4, 48, seed=0, noise=0.01, holes=0.1)
    r = geometry_errors(dn, vn, d, v)
    assert r["mae_mm"] < 10.0  # 5x5 median of 1 cm noise, plus the few edge pixels
    assert r["delta125"] > 0.97


def test_shifted_subject_reports_the_shift():
    _, d0, v0 = scenes(4, 48, seed=5)
    maes = []
    for shift in (2, 4):
        _, d1, v1 = scenes(4, 48, seed=5, shift=shift)
        expected_mm = float((d1 - d0).abs().mean()) * 1000  # the subject/wall swap on the moved band
        r = geometry_errors(d1, v1, d0, v0)
        assert r["mae_mm"] == pytest.approx(expected_mm, rel=0.15)
        assert r["delta125"] < 0.99
        maes.append(r["mae_mm"])
    assert maes[1] == pytest.approx(2 * maes[0], rel=0.2)  # twice the shift, twice the moved band


def test_no_overlap_gives_nan_not_zero():
    _, d, v = scenes(2, 32, seed=0)
    r = geometry_errors(d, v, d, torch.zeros_like(v))
    assert math.isnan(r["mae_mm"]) and r["pixels"] == 0.0


def test_masked_median_ignores_invalid_pixels_and_keeps_steps():
    d = torch.full((1, 1, 9, 9), 2.0)
    d[..., :, 5:] = 1.0  # a sharp step
    v = torch.ones_like(d, dtype=torch.bool)
    v[..., 4, 2] = False
    d = torch.where(v, d, torch.zeros_like(d))
    f, ok = masked_median(d, v, k=3)
    assert not bool(ok[..., 4, 2])
    assert bool((f[ok] > 0.5).all())  # the invalid 0 never entered a median
    assert torch.equal(f[..., 1:-1, 6:][ok[..., 1:-1, 6:]], torch.ones(int(ok[..., 1:-1, 6:].sum())))
