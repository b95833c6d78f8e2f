from __future__ import annotations

import torch

from volo_adapt.synth.sensor_a import SensorAConfig, sensor_a, shade_lambert


def test_lambert_plus_ambient():
    cfg = SensorAConfig(ambient=0.3, diffuse=0.6)
    albedo = torch.full((1, 3, 4, 4), 0.5)
    normal = torch.zeros(1, 3, 4, 4)
    normal[:, 2] = -1.0  # facing the camera
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    mask[..., 0, 0] = False
    towards = shade_lambert(albedo, normal, mask, torch.tensor([[0.0, 0.0, -1.0]]), torch.tensor([1.0]), cfg)
    away = shade_lambert(albedo, normal, mask, torch.tensor([[0.0, 0.0, 1.0]]), torch.tensor([1.0]), cfg)
    assert abs(float(towards[0, 0, 1, 1]) - 0.5 * 0.9) < 1e-6
    assert abs(float(away[0, 0, 1, 1]) - 0.5 * 0.3) < 1e-6
    assert (towards[..., 0, 0] == 0).all()


def test_depth_exact_and_background_zero():
    depth = torch.rand(2, 1, 8, 8) + 0.5
    depth[..., :2, :] = 0
    alb = torch.rand(2, 3, 8, 8)
    nrm = torch.nn.functional.normalize(torch.randn(2, 3, 8, 8), dim=1)
    rgb, d = sensor_a(alb, nrm, depth, torch.tensor([[0.0, -0.6, -0.8]] * 2), torch.ones(2))
    assert torch.equal(d, depth)
    assert (rgb[..., :2, :] == 0).all() and (rgb >= 0).all() and (rgb <= 1).all()
