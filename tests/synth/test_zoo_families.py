"""Known-truth properties of each sensor-zoo family (on synthetic planes and steps) and runs on real scenes."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.synth.zoo_helpers import inputs_from_depth, plane, step
from volo_adapt.synth.pipeline import synthesize
from volo_adapt.synth.zoo import FAMILIES, make_sensor
from volo_adapt.synth.zoo.phone_lidar import UPSAMPLERS, lidar_depth, sample_index
from volo_adapt.synth.zoo.stereo import stereo_depth
from volo_adapt.synth.zoo.tof import concavity, tof_depth
from volo_adapt.synth.zoo.zone_tof import zone_depth


@pytest.mark.parametrize("name", list(FAMILIES))
@pytest.mark.parametrize("seed", [0, 1])
def test_every_family_runs_on_a_real_scene_batch(name, seed):
    sensor = make_sensor(name, seed)
    out = synthesize(seed, "B/train", [0, 1], 32, "B", target=sensor)
    assert out.rgb_b.shape == (2, 3, 32, 32) and out.depth_b.shape == (2, 1, 32, 32)
    assert out.rgb_b.dtype == out.depth_b.dtype == torch.float32
    assert torch.isfinite(out.depth_b).all() and (out.depth_b >= 0).all()
    assert 0.0 <= float(out.rgb_b.min()) and float(out.rgb_b.max()) <= 1.0
    again = synthesize(seed, "B/train", [1], 32, "B", target=make_sensor(name, seed))
    assert torch.equal(again.depth_b[0], out.depth_b[1]) and torch.equal(again.rgb_b[0], out.rgb_b[1])


@pytest.mark.parametrize("mode", UPSAMPLERS)
def test_phone_lidar_every_upsampler_runs(mode):
    out = synthesize(2, "paired", [0, 1], 48, "B", target=make_sensor("phone_lidar", 2, [f"upsample={mode}"]))
    assert torch.isfinite(out.depth_b).all() and (out.depth_b >= 0).all() and (out.depth_b > 0).any()


def test_builtin_lidar_equals_the_default_sensor_b():
    default = synthesize(4, "paired", [0, 1], 32, "AB")
    zoo = synthesize(4, "paired", [0, 1], 32, "AB", target=make_sensor("builtin_lidar", 4))
    assert torch.equal(default.depth_b, zoo.depth_b) and torch.equal(default.rgb_b, zoo.rgb_b)


def test_phone_lidar_has_the_native_grid_structure():
    p = make_sensor("phone_lidar", 0, ["grid_res=0.25", "upsample=nearest", "noise_a_m=0", "noise_quad_m=0",
                                       "phase_x=0.1", "phase_y=0.9"]).params
    ramp = 1.0 + 0.01 * torch.arange(64, dtype=torch.float32)
    depth = (ramp.view(1, 1, 1, 64) + 0.02 * ramp.view(1, 1, 64, 1)).expand(2, 1, 64, 64).contiguous()
    out = lidar_depth(inputs_from_depth(depth), p)
    blocks = out.view(2, 1, 16, 4, 16, 4)
    assert (blocks == blocks[:, :, :, :1, :, :1]).all()  # constant on 4x4 cells: a 16x16 native grid
    rows, cols = sample_index(64, 16, 0.9), sample_index(64, 16, 0.1)
    expect = torch.round(depth[:, :, rows[:, None], cols[None, :]] / 0.001) * 0.001
    assert torch.allclose(blocks[:, :, :, 0, :, 0], expect, atol=1e-6)  # sampled at the drawn phase
    assert rows[0] == 3 and cols[0] == 0


def test_stereo_error_grows_as_z_squared_on_disparity_levels():
    p = make_sensor("active_stereo", 0, ["min_texture=0", "disparity_noise_px=0.1", "disparity_step_px=0.125",
                                         "native_width_px=848", "baseline_m=0.05"]).params
    errs = {}
    for z in (1.0, 2.0):
        inputs = inputs_from_depth(plane(z, batch=4))
        out = stereo_depth(inputs, p)
        assert (out > 0).all()
        errs[z] = float((out - z).std())
        fb = inputs.camera.fx * p.native_width_px / 64 * p.baseline_m
        levels = fb / out.double() / p.disparity_step_px
        assert (levels - levels.round()).abs().max() < 1e-3  # depth = f b / (k * step)
    assert 3.0 < errs[2.0] / errs[1.0] < 5.0, errs


def test_stereo_occlusion_shadow_left_of_a_foreground_edge():
    p = make_sensor("active_stereo", 0, ["min_texture=0", "baseline_m=0.2", "disparity_noise_px=0"]).params
    depth = plane(2.0, batch=1)
    depth[..., 24:40] = 1.0
    inputs = inputs_from_depth(depth)
    out = stereo_depth(inputs, p)
    width = inputs.camera.fx * 0.2 * (1 / 1.0 - 1 / 2.0)  # d_fg - d_bg, output pixels
    holes = (out[0, 0] == 0).all(0)
    assert holes[24 - int(width) + 1 : 24].all() and not holes[: 24 - int(width) - 1].any()
    assert not holes[24:].any()  # the foreground and the right side are seen


def test_stereo_no_return_on_dark_or_textureless_far_surfaces():
    p = make_sensor("active_stereo", 0, ["min_texture=0.03", "pattern_contrast=0.3", "dark_albedo=0.05"]).params
    assert (stereo_depth(inputs_from_depth(plane(1.0), albedo=0.03), p) == 0).all()  # dark
    assert (stereo_depth(inputs_from_depth(plane(1.0), albedo=0.5), p) > 0).float().mean() > 0.99
    assert (stereo_depth(inputs_from_depth(plane(3.0), albedo=0.5), p) == 0).all()  # uniform, pattern too weak


def _quiet_tof(**pins):
    base = {"noise_ref_m": 0, "flying_prob": 0, "mpi_strength": 0, "min_amplitude": 0, "ambiguity_m": 10}
    base.update(pins)
    return make_sensor("tof", 0, {k: str(v) for k, v in base.items()}).params


def test_tof_range_wraps_beyond_the_ambiguity_distance():
    p = _quiet_tof(ambiguity_m=2.0)
    near, far = inputs_from_depth(plane(1.2)), inputs_from_depth(plane(2.5))  # corner ranges 1.6 m and 3.3 m
    assert torch.allclose(tof_depth(near, p), torch.full_like(near.buf.depth, 1.2), atol=1e-6)
    r = far.buf.range
    expect = torch.remainder(r, 2.0) * 2.5 / r
    assert (tof_depth(far, p) - expect).abs().max() < 0.001
    assert float(tof_depth(far, p).max()) < 2.0


def test_tof_flying_pixels_only_at_depth_edges():
    p = _quiet_tof(flying_prob=1.0)
    inputs = inputs_from_depth(step(1.0, 2.0, 32))
    out = tof_depth(inputs, p)
    bad = (out - inputs.buf.depth).abs() > 0.002
    assert bad.any()
    cols = bad.any(2).any(0).nonzero()[:, -1]
    assert set(cols.tolist()) <= {31, 32}  # within one pixel of the step
    mixed = out[bad]
    assert ((mixed > 0.95) & (mixed < 2.0 * 1.2)).all()  # between the two surfaces


def test_tof_noise_and_dropout_depend_on_albedo_and_range():
    p = _quiet_tof(noise_ref_m=0.005, min_amplitude=0.05)
    err = {}
    for z, alb in ((1.0, 0.5), (2.0, 0.5), (1.0, 0.1)):
        out = tof_depth(inputs_from_depth(plane(z, batch=4), albedo=alb), p)
        err[(z, alb)] = float((out - z).std())
    assert err[(2.0, 0.5)] > 1.5 * err[(1.0, 0.5)] and err[(1.0, 0.1)] > 1.5 * err[(1.0, 0.5)]
    assert (tof_depth(inputs_from_depth(plane(1.0), albedo=0.02), p) == 0).all()  # weak return


def test_tof_multipath_bias_in_a_concave_corner():
    x = torch.arange(64, dtype=torch.float32)
    vee = (2.5 - 0.03 * (x - 32).abs()).view(1, 1, 1, 64).expand(1, 1, 64, 64).contiguous()  # valley: concave
    inputs = inputs_from_depth(vee)
    normal = torch.zeros(1, 3, 64, 64)
    normal[:, 0] = torch.where(x < 32, 0.7, -0.7)
    normal[:, 2] = -0.7
    inputs.buf.normal = normal
    c = concavity(vee, normal, 3)
    assert float(c[..., 30:34].min()) > 0.5 and float(c[..., :20].max()) == 0.0
    bias = tof_depth(inputs, _quiet_tof(mpi_strength=0.05)) - tof_depth(inputs, _quiet_tof(mpi_strength=0.0))
    assert float(bias[..., 31:33].min()) > 0.05 and float(bias[..., :20].abs().max()) == 0.0


def test_zone_tof_reports_one_depth_per_zone():
    p = make_sensor("zone_tof", 0, ["zones=4", "noise_a_m=0", "noise_rel=0", "upsample=nearest", "max_range_m=4",
                                    "target=nearest", "nearest_quantile=0.1", "min_coverage=0.05"]).params
    depth = step(1.0, 3.0, 40, batch=1)
    out = zone_depth(inputs_from_depth(depth), p)
    blocks = out.view(1, 1, 4, 16, 4, 16)
    assert (blocks == blocks[:, :, :, :1, :, :1]).all()
    zones = blocks[0, 0, :, 0, :, 0]
    assert torch.allclose(zones[:, 2], torch.full((4,), 1.0))  # mixed zone (cols 32-47): nearest target
    assert torch.allclose(zones[:, 3], torch.full((4,), 3.0))
    far = make_sensor("zone_tof", 0, ["max_range_m=2.5", "noise_a_m=0", "noise_rel=0"]).params
    assert (zone_depth(inputs_from_depth(plane(3.0)), far) == 0).all()


@pytest.mark.parametrize("name", [n for n in FAMILIES if n != "builtin_lidar"])
def test_colour_effects_change_colour_not_depth(name):
    base = make_sensor(name, 3, ["wb_red_gain=1.0", "jpeg_quality=90"])
    warm = dataclasses.replace(base, params=dataclasses.replace(base.params, wb_red_gain=1.3, jpeg_quality=60,
                                                                vignetting=0.5, blur_sigma_px=1.5))
    rgb0, d0 = base.apply(inputs_from_depth(plane(1.5, size=32), albedo=0.4))  # fresh generators each
    rgb1, d1 = warm.apply(inputs_from_depth(plane(1.5, size=32), albedo=0.4))
    assert torch.equal(d0, d1)
    assert float(rgb1[:, 0].mean() / rgb1[:, 1].mean()) > float(rgb0[:, 0].mean() / rgb0[:, 1].mean()) + 0.05
