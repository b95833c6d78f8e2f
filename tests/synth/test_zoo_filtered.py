"""Known-truth properties of the ``filtered_depth`` zoo family (driver-filtered consumer depth with hole filling)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.synth.zoo_helpers import inputs_from_depth, plane, step
from volo_adapt.synth.pipeline import synthesize
from volo_adapt.synth.zoo import FAMILIES, make_sensor
from volo_adapt.synth.zoo.filtered import (
    HOLE_FILLS,
    fill_holes,
    filtered_depth,
    raw_depth,
    spatial_filter,
    temporal_std_factor,
)


def _params(**pins):
    base = {"hole_prob": 0, "temporal_alpha": 1.0, "noise_ref_m": 0.005, "quantisation_m": 0}
    base.update(pins)
    return make_sensor("filtered_depth", 0, {k: str(v) for k, v in base.items()}).params


def test_registered_with_units_and_ranges():
    family = FAMILIES["filtered_depth"]
    assert family.randomised and family.kind == "filtered consumer depth camera"
    for f in dataclasses.fields(family.params):
        assert f.metadata["unit"] in ("m", "px", "fraction", "dimensionless", "choice"), f.name
    drawn = {make_sensor("filtered_depth", s).params.hole_fill for s in range(12)}
    assert drawn <= set(HOLE_FILLS) and len(drawn) > 1


def test_spatial_smoothing_reduces_noise_and_keeps_steps():
    p = _params(spatial_iterations=0)
    raw = raw_depth(inputs_from_depth(plane(2.0, batch=2)), p)
    smooth = spatial_filter(raw, 0.5, 0.1, 2)
    assert float((smooth - 2.0).std()) < 0.5 * float((raw - 2.0).std())
    edge = step(1.0, 2.0, 32)
    out = spatial_filter(edge + 0.001 * torch.randn(edge.shape, generator=torch.Generator().manual_seed(0)),
                         0.5, 0.05, 2)
    assert (out[..., :32] - 1.0).abs().max() < 0.01 and (out[..., 32:] - 2.0).abs().max() < 0.01  # not smeared
    whole = filtered_depth(inputs_from_depth(plane(2.0, batch=2)), _params(spatial_iterations=2))
    unfiltered = filtered_depth(inputs_from_depth(plane(2.0, batch=2)), _params(spatial_iterations=0))
    assert float((whole - 2.0).std()) < 0.5 * float((unfiltered - 2.0).std())


def test_temporal_filter_scales_the_raw_noise():
    assert temporal_std_factor(1.0) == pytest.approx(1.0) and temporal_std_factor(0.4) == pytest.approx(0.5)
    stds = [float((raw_depth(inputs_from_depth(plane(1.5)), _params(temporal_alpha=a)) - 1.5).std())
            for a in (1.0, 0.4)]
    assert stds[1] == pytest.approx(0.5 * stds[0], rel=1e-4)


def test_raw_noise_grows_as_z_squared():
    stds = [float((raw_depth(inputs_from_depth(plane(z, batch=4)), _params()) - z).std()) for z in (1.0, 2.0)]
    assert 3.5 < stds[1] / stds[0] < 4.5


@pytest.mark.parametrize("mode", HOLE_FILLS)
def test_hole_filling_leaves_fewer_holes_with_neighbour_values(mode):
    p = _params(hole_prob=0.2, hole_size_px=2, noise_ref_m=0.01, spatial_iterations=0, fill_radius_px=3)
    raw = raw_depth(inputs_from_depth(plane(2.0, batch=2)), p)
    filled = fill_holes(raw, mode, 3)
    assert (raw == 0).sum() > 0 and (filled == 0).sum() < 0.5 * (raw == 0).sum()
    assert torch.equal(filled[raw > 0], raw[raw > 0])  # valid pixels untouched
    new = (raw == 0) & (filled > 0)
    values = set(raw[raw > 0].tolist())
    assert all(v in values for v in filled[new].tolist())  # every filled value is a measured one
    if mode == "left":
        b, c, y, x = new.nonzero()[0].tolist()
        row = raw[b, c, y, :x]
        assert float(filled[b, c, y, x]) == float(row[row > 0][-1])  # the nearest valid value to its left


def test_nearest_and_farthest_fill_pick_the_right_side_of_an_edge():
    depth = step(1.0, 3.0, 32, batch=1)
    depth[..., 31] = 0.0  # a hole between the two surfaces: its neighbours are 1 m and 3 m away
    near, far = fill_holes(depth, "nearest", 4), fill_holes(depth, "farthest", 4)
    assert (near[..., 31] == 1.0).all() and (far[..., 31] == 3.0).all()
    depth[..., 30:34] = 0.0  # a wider hole: grown from both sides
    both = fill_holes(depth, "nearest", 4)
    assert (both[..., 30] == 1.0).all() and (both[..., 33] == 3.0).all()
    left = fill_holes(depth, "left", 4)
    assert (left[..., 30:34] == 1.0).all()
    assert (fill_holes(depth, "left", 2)[..., 32:34] == 0).all()  # beyond the radius: still holes


def test_deterministic_and_runs_on_real_scenes():
    sensor = make_sensor("filtered_depth", 5)
    assert make_sensor("filtered_depth", 5).params == sensor.params
    out = synthesize(5, "B/train", [0, 1], 32, "B", target=sensor)
    again = synthesize(5, "B/train", [1], 32, "B", target=make_sensor("filtered_depth", 5))
    assert torch.equal(again.depth_b[0], out.depth_b[1]) and torch.equal(again.rgb_b[0], out.rgb_b[1])
    assert torch.isfinite(out.depth_b).all() and (out.depth_b >= 0).all() and (out.depth_b > 0).any()
    p = _params(hole_prob=0.1)
    a = filtered_depth(inputs_from_depth(plane(2.0), seed=3), p)
    b = filtered_depth(inputs_from_depth(plane(2.0), seed=3), p)
    c = filtered_depth(inputs_from_depth(plane(2.0), seed=4), p)
    assert torch.equal(a, b) and not torch.equal(a, c)
