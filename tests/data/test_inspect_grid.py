"""Unit tests for the native-grid estimator's pieces (volo_adapt/data/inspect_grid.py) on constructed data.

The zoo-sensor cases (known truth, full pipeline) are in test_inspect.py.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from volo_adapt.data.inspect_grid import (
    GridAxis,
    GridEstimator,
    GridProfile,
    NativeGrid,
    choose_order,
    combine_axes,
    estimate_joint,
    same_fraction,
)


def _upsampled_set(mode: str, grid: tuple[int, int], size: tuple[int, int], n: int = 16) -> GridEstimator:
    """``n`` smooth slanted surfaces (1.5-2.3 m) sampled on a ``grid`` with 1 cm noise, resized to ``size`` by
    ``mode``, stored to 1 mm, accumulated."""
    g = torch.Generator().manual_seed(0)
    est = GridEstimator()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, grid[0]), torch.linspace(0, 1, grid[1]), indexing="ij")
    for _ in range(n):
        shift = float(torch.rand(1, generator=g)) * 6
        z = 1.5 + 0.5 * torch.rand(1, generator=g) + 0.3 * torch.sin(3 * xx + 2 * yy + shift)
        z = z + 0.01 * torch.randn(grid, generator=g)
        up = F.interpolate(z[None, None], size=size, mode=mode, align_corners=False)[0, 0]
        est.add(torch.round(up * 1000) / 1000)
    return est


def test_fourth_difference_vanishes_inside_cubic_pieces():
    """The order-4 profile of a cubic polynomial is zero (up to float error); order 2 is not."""
    x = torch.arange(64, dtype=torch.float64)
    depth = (2.0 + 1e-3 * x - 2e-5 * x**2 + 3e-7 * x**3).float().expand(8, 64).contiguous()
    second, fourth = GridProfile(2), GridProfile(4)
    second.add(depth, 1)
    fourth.add(depth, 1)
    key = (8, 64)
    assert fourth.coefficients == [1, -4, 6, -4, 1]
    assert float(fourth.sums[key].max()) < 1e-4 < float(second.sums[key].max())
    assert fourth.counts[key][:2].sum() == 0 and fourth.counts[key][2:-2].min() == 8  # window centres only


@pytest.mark.parametrize(("grid", "size"), [((12, 12), (64, 64)), ((20, 20), (64, 64)), ((9, 12), (48, 64))])
def test_joint_fourth_difference_estimate_finds_a_bicubic_grid(grid, size):
    est = _upsampled_set("bicubic", grid, size)
    g = estimate_joint(est.profiles[(4, 1)], est.profiles[(4, 0)])
    assert g.detected and (g.cells_y, g.cells_x) == grid and g.order == 4, g
    assert (g.height_px, g.width_px) == size


def test_joint_estimate_finds_nothing_on_native_depth():
    g = torch.Generator().manual_seed(1)
    est = GridEstimator()
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 64), torch.linspace(0, 1, 64), indexing="ij")
    for _ in range(16):
        z = 2.0 + 0.3 * torch.sin(3 * xx + 2 * yy + float(torch.rand(1, generator=g)) * 6)
        est.add(torch.round((z + 0.01 * torch.randn(64, 64, generator=g)) * 1000) / 1000)
    assert not est.estimate().detected
    assert not estimate_joint(est.profiles[(4, 1)], est.profiles[(4, 0)]).detected


def _grid(cells: int | None, confidence: float, order: int) -> NativeGrid:
    found = cells is not None
    frac = cells / 64 if found else None
    return NativeGrid(found, frac, frac, cells, cells, 0.5 if found else None, 0.5 if found else None, confidence,
                      64, 64, order if found else None)


def _axis(cells: int | None, confidence: float = 3.0) -> GridAxis:
    found = cells is not None
    return GridAxis(found, cells, cells / 64 if found else None, 0.5 if found else None, confidence, 64)


@pytest.mark.parametrize(("linear", "cubic", "x", "y", "expected"), [
    ((None, 0.0), (12, 20.0), None, None, (12, 4)),   # only the 4th difference finds it (bicubic)
    ((12, 20.0), (None, 0.0), 12, 12, (12, 2)),       # only the 2nd
    ((28, 30.0), (12, 20.0), 28, 28, (12, 4)),        # 28 = 3 x 12 aliased at 64 px: the 2nd difference saw a harmonic
    ((26, 20.0), (12, 40.0), 26, 26, (26, 2)),        # 12 = 2 x 26 aliased: the 4th difference saw a harmonic
    ((12, 20.0), (12, 40.0), 12, 12, (12, 2)),        # the same grid: the 2nd-difference estimate (and its phase)
    ((5, 3.2), (25, 67.0), 5, 5, (5, 2)),             # 25 = 5 x 5: a 5-zone ToF's 4th difference peaks high
    ((10, 20.0), (14, 40.0), 10, 10, (14, 4)),        # unrelated: the more confident
    ((10, 50.0), (14, 40.0), 10, 10, (10, 2)),
    ((None, 0.0), (8, 10.0), 4, 20, (None, None)),    # 8 = 2 x a coarse 4 that one axis saw: not a grid
])
def test_choose_order(linear, cubic, x, y, expected):
    got = choose_order(_grid(*linear, 2), _grid(*cubic, 4), _axis(x), _axis(y))
    assert (got.cells_x, got.order) == expected


@pytest.mark.parametrize(("cx", "w", "cy", "h", "expected"), [
    (12, 64, 12, 64, True),
    (7, 64, 6, 64, False),   # a square image rounds one fraction to one count
    (9, 48, 12, 64, True),   # 0.1875 on both
    (9, 48, 13, 64, True),   # f = 0.196: round(9.41) = 9, round(12.54) = 13
    (9, 48, 14, 64, False),
])
def test_same_fraction(cx, w, cy, h, expected):
    assert same_fraction(cx, w, cy, h) is expected


@pytest.mark.parametrize(("confidence", "cells_y", "detected"), [
    (12.0, 12, True),    # weak, one fraction, same phase
    (12.0, 11, False),   # weak and one cell apart: the scene's chance peaks (an active-stereo set: 7 x 6)
    (40.0, 11, True),    # strong peaks keep the one-cell slack
])
def test_weak_axes_must_round_one_fraction(confidence, cells_y, detected):
    x = GridAxis(True, 12, 12 / 64, 0.3, confidence, 64)
    y = GridAxis(True, cells_y, cells_y / 64, 0.32, confidence, 64)
    assert combine_axes(x, y).detected is detected
