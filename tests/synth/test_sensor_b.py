from __future__ import annotations

import dataclasses

import pytest
import torch

from volo_adapt.synth.sensor_b import SensorBConfig, lidar_depth, phone_rgb

CFG = SensorBConfig()


def plane_buffers(z: float, size: int = 64, batch: int = 2, albedo: float = 0.5, view_cos: float = 1.0):
    """A fronto-parallel plane filling the image at depth ``z`` metres: (depth, view_cos, albedo) buffers."""
    depth = torch.full((batch, 1, size, size), float(z))
    cos = torch.full((batch, 1, size, size), float(view_cos))
    alb = torch.full((batch, 3, size, size), float(albedo))
    return depth, cos, alb


def generators(n: int, seed: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed * 1000 + i) for i in range(n)]


@pytest.mark.parametrize("z", [1.0, 3.0])
def test_depth_noise_sigma_matches_config(z):
    depth, cos, alb = plane_buffers(z, size=64, batch=6)
    out = lidar_depth(depth, cos, alb, generators(6), CFG)
    res = out.grid - z
    assert (out.grid > 0).all()
    sigma = float(CFG.sigma(z))
    assert abs(float(res.std()) - sigma) < 0.1 * sigma, (float(res.std()), sigma)
    assert abs(float(res.mean())) < 0.1 * sigma  # unbiased
    # after bilinear upsampling the per-pixel std is lower (neighbours averaged) but of the same order
    std_out = float((out.depth - z).std())
    assert 0.3 * sigma < std_out < sigma


def test_noise_grows_with_distance_and_zero_noise_is_exact():
    quiet = dataclasses.replace(CFG, noise_a_m=0.0, noise_b_per_m=0.0)
    depth, cos, alb = plane_buffers(2.3456, size=32, batch=1)
    out = lidar_depth(depth, cos, alb, generators(1), quiet)
    assert torch.allclose(out.depth, torch.full_like(out.depth, 2.346), atol=1e-6)  # millimetre quantised
    assert CFG.sigma(3.0) > CFG.sigma(1.0) > 0


def test_depth_quantised_to_millimetres():
    depth, cos, alb = plane_buffers(1.7, size=32, batch=2)
    d = lidar_depth(depth, cos, alb, generators(2), CFG).depth
    mm = d.double() * 1000.0
    assert (mm - mm.round()).abs().max() < 1e-3


def test_grazing_holes():
    for c, expect in ((CFG.grazing_cos_min - 0.05, 1.0), (CFG.grazing_cos_min + 0.05, 0.0)):
        depth, cos, alb = plane_buffers(1.5, size=32, batch=2, view_cos=c)
        out = lidar_depth(depth, cos, alb, generators(2), CFG)
        assert float((out.grid == 0).float().mean()) == expect
        assert float((out.depth == 0).float().mean()) == expect


def test_dark_albedo_holes_probabilistic():
    depth, cos, alb = plane_buffers(1.5, size=64, batch=4, albedo=CFG.dark_albedo * 0.5)
    frac = float((lidar_depth(depth, cos, alb, generators(4), CFG).grid == 0).float().mean())
    assert abs(frac - CFG.dark_dropout_prob) < 0.05, frac
    depth, cos, alb = plane_buffers(1.5, size=64, batch=4, albedo=CFG.dark_albedo * 2)
    assert float((lidar_depth(depth, cos, alb, generators(4), CFG).grid == 0).float().mean()) == 0.0


def test_max_range_holes():
    for z, expect in ((CFG.max_range_m + 0.3, 1.0), (CFG.max_range_m - 0.3, 0.0)):
        depth, cos, alb = plane_buffers(z, size=32, batch=2)
        out = lidar_depth(depth, cos, alb, generators(2), CFG, range_m=depth)
        assert float((out.depth == 0).float().mean()) == expect


def _step_edge(size: int = 64, fg: float = 1.0, bg: float = 3.0):
    """A square at ``fg`` metres in front of ``bg`` (0 = background with no return)."""
    depth = torch.full((1, 1, size, size), bg)
    depth[..., size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = fg
    return depth, torch.ones_like(depth), torch.full((1, 3, size, size), 0.5)


def _between(d: torch.Tensor, lo: float, hi: float) -> int:
    return int(((d > lo) & (d < hi)).sum())


@pytest.mark.parametrize("bg", [3.0, 0.0])
def test_tails_at_depth_edges_in_b_not_in_a(bg):
    depth, cos, alb = _step_edge(bg=bg)
    t = lidar_depth(depth, cos, alb, generators(1), CFG).depth
    lo, hi = (1.0 + 0.05, 3.0 - 0.05) if bg else (0.0, 1.0 - 0.05)
    assert _between(depth, lo, hi) == 0  # sensor A keeps the exact depth: no flying pixels
    n = _between(t, lo, hi)
    perimeter = 4 * 32
    assert n >= perimeter // 2, n  # tails along the whole silhouette
    # the tails sit next to the edge, not inside flat regions
    assert _between(t[..., 28:36, 28:36], lo, hi) == 0


def test_sensing_grid_size():
    assert CFG.grid_size(100, 50) == (40, 20)
    depth, cos, alb = plane_buffers(1.0, size=40, batch=1)
    assert lidar_depth(depth, cos, alb, generators(1), CFG).grid.shape == (1, 1, 16, 16)


def test_phone_rgb_ranges_mask_and_determinism():
    torch.manual_seed(0)
    rad = torch.rand(2, 3, 32, 32) * 0.8
    mask = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    mask[..., 8:24, 8:24] = True
    a = phone_rgb(rad, mask, generators(2), CFG)
    b = phone_rgb(rad, mask, generators(2), CFG)
    assert a.shape == rad.shape and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert (a >= 0).all() and (a <= 1).all()
    codes = a * 255
    assert (codes - codes.round()).abs().max() < 1e-4  # 8-bit JPEG
    assert (a[~mask.expand(-1, 3, -1, -1)] == 0).all()
    c = phone_rgb(rad, mask, generators(2, seed=1), CFG)
    assert not torch.equal(a, c)
    inside = mask.expand(-1, 3, -1, -1)
    assert 0.005 < float((a - rad)[inside].abs().mean()) < 0.2  # changed, but recognisably the same image


def test_one_generator_per_sample_required():
    depth, cos, alb = plane_buffers(1.0, size=16, batch=2)
    with pytest.raises(AssertionError):
        lidar_depth(depth, cos, alb, generators(1), CFG)


def test_sensor_b_wrapper_on_rendered_buffers():
    from volo_adapt.synth.camera import PinholeCamera
    from volo_adapt.synth.render import render
    from volo_adapt.synth.scene import sample_scene, stack_scenes
    from volo_adapt.synth.seeding import numpy_rng
    from volo_adapt.synth.sensor_a import sensor_a
    from volo_adapt.synth.sensor_b import sensor_b

    cam = PinholeCamera.from_fov(40)
    sc = stack_scenes([sample_scene(numpy_rng(1, "w", i, "scene")) for i in range(2)])
    buf = render(sc, cam)
    clean, depth = sensor_a(buf.albedo, buf.normal, buf.depth, sc.light_dir, sc.light_intensity)
    rgb, d = sensor_b(clean, depth, -buf.normal, buf.albedo, cam, generators(2), CFG)  # normal sign is irrelevant
    lid = lidar_depth(buf.depth, buf.view_cosine(), buf.albedo, generators(2), CFG, buf.range)
    torch.testing.assert_close(d, lid.depth, atol=1e-3, rtol=0)  # range from depth/ray vs the renderer's range
    assert rgb.shape == clean.shape and (rgb[(depth == 0).expand(-1, 3, -1, -1)] == 0).all()
    assert (d > 0).sum() > 0.5 * (depth > 0).sum()
