"""Tests for volo_adapt/metrics/speckle.py: isolated holes, depth outliers and colour specks per 1000 subject pixels,
their reference columns, and the headline rule "within 25 % of target (or 0.5 per 1000)"."""

from __future__ import annotations

import math

import pytest
import torch
from volo_metrics_scenes import CODEC, network, scenes

from volo_adapt.data.sample import from_network
from volo_adapt.metrics import depth_stats as ds
from volo_adapt.metrics import speckle as sp
from volo_adapt.metrics.baselines import comparison_inputs
from volo_adapt.metrics.headline import BAND_RULE, HEADLINE_ROWS, meets_target, target_band_gap
from volo_adapt.metrics.registry import MetricInputs, get_metric

SIZE = 48
# 9 pixels 4 apart around the image centre: inside every scenes() disc (radius >= 10.5 px, centre within 1.2 px of
# the middle) with their whole 3x3 window, and no two in each other's window
SPOTS = [(SIZE // 2 + dy, SIZE // 2 + dx) for dy in (-4, 0, 4) for dx in (-4, 0, 4)]


def _decoded(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return from_network(x, CODEC)


def _rates(x: torch.Tensor) -> dict[str, float]:
    c = sp.speckle_counts(*_decoded(x))
    return {w: sp.per_1000(c, w) for w in ("holes", "outliers", "colour")}


def _area(valid: torch.Tensor) -> int:
    return int(ds.subject_mask(valid).sum())


def _inject(n_images: int, kind: str, wall: bool = True, spots=SPOTS) -> tuple[torch.Tensor, int]:
    """A scenes() batch with ``kind`` injected at ``spots`` of every image; returns (network tensor, clean area)."""
    rgb, depth, valid = scenes(n_images, SIZE, seed=3, wall=wall, noise=0.005)
    area = _area(valid)
    for y, x in spots:
        if kind == "holes":
            valid[:, :, y, x] = False
            depth[:, :, y, x] = 0.0  # network() encodes depth as given
        elif kind == "outliers":
            depth[:, :, y, x] += torch.tensor([0.5, -0.4])[torch.arange(n_images) % 2].view(-1, 1)
        else:  # a speck far from the disc's luminance: black on light colours, white on dark ones
            lum = sp.luminance(rgb[:, :, y : y + 1, x : x + 1]).view(-1, 1)
            rgb[:, :, y, x] = (lum < 0.5).float().expand(-1, 3)
    return network(rgb, depth, valid), area


@pytest.mark.parametrize("kw", [{}, {"wall": False}, {"noise": 0.01}, {"flying": True},
                                {"flying": True, "wall": False}, {"shift": 5}])
def test_clean_surfaces_edges_and_background_give_zero(kw):
    # wall=False: the invalid background around the disc is not the subject; the disc/wall step (1.5 m against
    # 3 m), a colour edge and a continuous ring of flying pixels are not speckle
    assert _rates(network(*scenes(6, SIZE, seed=0, **kw))) == {"holes": 0.0, "outliers": 0.0, "colour": 0.0}


@pytest.mark.parametrize("kind", ["holes", "outliers", "colour"])
@pytest.mark.parametrize("wall", [True, False])
def test_injected_isolated_speckle_is_counted_exactly(kind, wall):
    x, area = _inject(4, kind, wall=wall)
    c = sp.speckle_counts(*_decoded(x))
    assert c["subject"] == area  # single-pixel holes do not change the subject
    expected = {"holes": 0, "outliers": 0, "colour": 0, kind: 4 * len(SPOTS)}
    assert {w: c[w] for w in expected} == expected
    assert sp.per_1000(c, kind) == pytest.approx(1000 * 4 * len(SPOTS) / area)


def test_big_holes_and_hole_clusters_are_not_speckle():
    rgb, depth, valid = scenes(2, SIZE, seed=3, wall=False)
    c0 = SIZE // 2
    valid[:, :, c0 - 2 : c0 + 2, c0 - 2 : c0 + 2] = False  # a 4x4 hole: the invalid fraction's business
    valid[:, :, c0 + 6, c0 - 1 : c0 + 1] = False  # a pair: 7 valid neighbours each, both count
    depth = torch.where(valid, depth, torch.zeros_like(depth))
    assert sp.speckle_counts(*_decoded(network(rgb, depth, valid)))["holes"] == 2 * 2


def test_depth_steps_between_two_surfaces_are_not_outliers():
    yy, xx = torch.meshgrid(torch.arange(40.0), torch.arange(40.0), indexing="ij")
    steps = [xx < 20, xx + yy < 40, (xx - 20).abs() + (yy - 20).abs() < 9, (xx // 3 + yy // 2) % 2 == 0]
    depth = torch.stack([torch.where(s, 1.0, 2.5) + 0.001 * xx for s in steps])[:, None]
    rgb = torch.stack([torch.where(s, 0.9, 0.1).expand(3, -1, -1) for s in steps])
    valid = torch.ones_like(depth, dtype=torch.bool)
    assert _rates(network(rgb, depth, valid)) == {"holes": 0.0, "outliers": 0.0, "colour": 0.0}


def test_outliers_need_isolation_and_a_threshold():
    x = torch.full((1, 1, 9, 9), 1.0)
    valid = torch.ones_like(x, dtype=torch.bool)
    x[0, 0, 4, 4] = 1.09  # below the 0.1 m floor of the threshold
    x[0, 0, 2, 2] = 1.5
    x[0, 0, 6, 6] = x[0, 0, 6, 7] = x[0, 0, 7, 6] = 1.5  # three together support each other
    out = sp.isolated_outliers(x, valid, sp.DEPTH_T_ABS_M)
    assert out.nonzero().tolist() == [[0, 0, 2, 2]]
    assert not sp.isolated_outliers(x, valid & (x != 1.0), sp.DEPTH_T_ABS_M).any()  # too few valid neighbours


def test_the_separable_dilation_is_the_square_dilation():
    """depth_stats.dilate (behind subject_mask) runs as two 1-D max pools: the same mask as one k x k pool."""
    for n, k in ((32, 3), (48, 5), (97, 9), (64, 41)):
        v = torch.rand(3, 1, n, n + 7, generator=torch.Generator().manual_seed(n)) < 0.7
        square = torch.nn.functional.max_pool2d(v.float(), k, stride=1, padding=k // 2) > 0.5
        assert torch.equal(ds.dilate(v, k), square)


def test_metrics_report_the_target_and_identity_columns():
    clean = network(*scenes(4, SIZE, seed=3, noise=0.005))
    holed, area = _inject(4, "holes")
    rate = 1000 * 4 * len(SPOTS) / area
    r = get_metric("speckle_holes").fn(MetricInputs(clean, holed, CODEC))
    assert r.values["per_1000"] == 0.0 and r.values["target_per_1000"] == pytest.approx(rate)
    assert r.values["abs_diff_per_1000"] == pytest.approx(rate)
    assert r.values["target_gap"] == pytest.approx(rate / (0.25 * rate))
    assert r.details["target_count"] == 4 * len(SPOTS) and r.details["count"] == 0
    # model = translated vs target; identity = the source as-is; floor = one target half vs the other
    cmp = comparison_inputs(clean, holed, holed, CODEC)
    by = {name: get_metric("speckle_holes").fn(inp).values for name, inp in cmp.items()}
    assert by["model"]["per_1000"] == pytest.approx(rate) and by["model"]["target_gap"] == 0.0
    assert by["identity"]["per_1000"] == 0.0 and by["identity"]["target_per_1000"] == pytest.approx(rate)
    assert by["floor"]["per_1000"] > 0 and by["floor"]["target_per_1000"] > 0
    for name in ("speckle_outliers", "colour_speckle"):
        v = get_metric(name).fn(cmp["model"]).values
        assert set(v) == {"per_1000", "target_per_1000", "abs_diff_per_1000", "target_gap"}


def test_no_subject_gives_nan_not_an_error():
    empty = torch.zeros(2, 4, 16, 16)
    r = get_metric("speckle_outliers").fn(MetricInputs(empty, empty, CODEC))
    assert all(math.isnan(v) for v in r.values.values())


@pytest.mark.parametrize(
    ("value", "target", "met"),
    [
        (12.5, 10.0, True),  # 25 % above
        (7.5, 10.0, True),  # 25 % below
        (12.6, 10.0, False),
        (7.4, 10.0, False),
        (0.5, 0.0, True),  # near zero: within 0.5 per 1000
        (0.6, 0.0, False),
        (1.4, 1.0, True),  # target 1: 25 % is 0.25, the 0.5 floor applies
        (1.6, 1.0, False),
        (0.0, 4.0, False),  # no speckle at all misses a target with real speckle
    ],
)
def test_headline_band_rule(value, target, met):
    assert meets_target(BAND_RULE, target_band_gap(value, target), math.nan) is met


def test_headline_rows_include_the_speckle_rows_with_the_band_rule():
    rows = {r.key: r for r in HEADLINE_ROWS}
    for name in ("speckle_holes", "speckle_outliers", "colour_speckle"):
        assert rows[f"{name}/target_gap"].target == BAND_RULE and rows[f"{name}/target_gap"].better == "lower"
    assert meets_target(BAND_RULE, math.nan, 1.0) is None
    assert math.isnan(target_band_gap(math.nan, 1.0))
