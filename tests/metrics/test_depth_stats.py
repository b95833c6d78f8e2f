"""Tests for volo_adapt/metrics/depth_stats.py on inputs whose answer is known."""

from __future__ import annotations

import math

import pytest
import torch
from volo_metrics_scenes import scenes

from volo_adapt.metrics import depth_stats as ds


def _plane(n: int = 4, size: int = 48, sigma: float = 0.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    d = (1.2 + 0.01 * xx + 0.02 * yy).float().expand(n, 1, size, size).clone()
    d += sigma * torch.randn(d.shape, generator=g)
    return d, torch.ones_like(d, dtype=torch.bool)


@pytest.mark.parametrize("sigma", [0.0, 0.003, 0.01, 0.03])
def test_noise_sigma_recovers_known_gaussian_noise(sigma):
    _, d, v = scenes(8, 48, seed=1, noise=sigma)
    est = ds.overall_noise_sigma(d, v)
    assert est == pytest.approx(sigma, rel=0.08, abs=1e-4)


def test_noise_curve_bins_by_range_and_recovers_sigma_per_bin():
    _, d, v = scenes(8, 48, seed=2, noise=0.01, flying=True, holes=0.05)
    curve = ds.noise_curve(d, v, ds.depth_bins(0.25, 5.0, 0.5))
    assert len(curve["centers_m"]) == len(curve["sigma_m"]) == 10
    defined = [s for s in curve["sigma_m"] if math.isfinite(s)]
    assert len(defined) >= 2  # the subject (about 1.5 m) and the wall (about 3 m) bins
    for s in defined:
        assert s == pytest.approx(0.01, rel=0.1)
    assert math.isnan(curve["sigma_m"][0])  # nothing at 0.25-0.75 m


def test_curve_distance_of_identical_curves_is_zero_and_ignores_undefined_bins():
    assert ds.curve_distance([math.nan, 0.01, 0.02], [0.5, 0.01, 0.02]) == 0.0
    assert ds.curve_distance([0.01, math.nan], [0.03, 0.02]) == pytest.approx(0.02)
    assert math.isnan(ds.curve_distance([math.nan], [1.0]))


@pytest.mark.parametrize("fraction", [0.05, 0.2])
def test_invalid_fraction_in_subject_recovers_known_hole_fraction(fraction):
    # Subject on an invalid background: the closing of the valid mask is the disc, holes are speckle inside it.
    _, d, v = scenes(8, 48, seed=3, holes=fraction, wall=False)
    assert ds.invalid_fraction_in_subject(v) == pytest.approx(fraction, abs=0.025)


def test_invalid_fraction_is_zero_without_holes_and_subject_contains_valid():
    _, d, v = scenes(4, 48, seed=3, wall=False)
    assert ds.invalid_fraction_in_subject(v) == 0.0
    assert bool((ds.subject_mask(v) | ~v).all()) and bool(ds.subject_mask(v)[v].all())


def test_tail_fraction_rises_with_flying_pixels_at_edges():
    _, d, v = scenes(8, 48, seed=4, noise=0.002)
    _, df, vf = scenes(8, 48, seed=4, noise=0.002, flying=True)
    clean, tails = ds.tail_fraction(d, v), ds.tail_fraction(df, vf)
    assert clean < 0.02
    assert tails > 0.15


def test_flying_pixels_are_the_in_between_ring():
    _, df, vf = scenes(2, 48, seed=4, flying=True)
    flying, edge = ds.flying_pixels(df, vf)
    assert bool((flying <= edge).all())
    assert bool(((df[flying] > 1.6) & (df[flying] < 3.1)).all())  # between the subject and the wall


def test_tail_fraction_is_nan_without_discontinuities():
    d, v = _plane()
    assert math.isnan(ds.tail_fraction(d, v))


def test_wasserstein1_known_values():
    a = torch.rand(1000, generator=torch.Generator().manual_seed(0))
    assert ds.wasserstein1(a, a.clone()) == 0.0
    assert ds.wasserstein1(a, a + 0.25) == pytest.approx(0.25, abs=1e-6)
    assert ds.wasserstein1(torch.zeros(10), torch.ones(7)) == pytest.approx(1.0)
    assert math.isnan(ds.wasserstein1(torch.zeros(0), a))


def test_gradient_magnitudes_of_a_plane_are_its_slope_in_metres_per_pixel():
    d, v = _plane(sigma=0.0)
    g = ds.gradient_magnitudes(d, v)
    expected = math.hypot(0.01, 0.02)
    # kornia's normalised Sobel returns the per-pixel derivative; the border uses replicate padding.
    inner = g.reshape(4, 48, 48)[:, 1:-1, 1:-1]
    assert torch.allclose(inner, torch.full_like(inner, expected), atol=1e-4)


def test_gradients_skip_pixels_next_to_invalid_ones():
    d, v = _plane(n=1)
    v[..., 20:28, 20:28] = False
    d = torch.where(v, d, torch.zeros_like(d))
    g = ds.gradient_magnitudes(d, v)
    assert float(g.max()) < 0.1  # no 0-metre neighbour entered a stencil


def test_dilate_erode_square():
    m = torch.zeros(1, 1, 9, 9, dtype=torch.bool)
    m[..., 4, 4] = True
    assert int(ds.dilate(m, 3).sum()) == 9
    assert int(ds.erode(ds.dilate(m, 3), 3).sum()) == 1
    assert ds.default_subject_kernel(96, 128) % 2 == 1
