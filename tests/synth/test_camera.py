from __future__ import annotations

import math

import torch

from volo_adapt.synth.camera import PinholeCamera


def test_from_fov_intrinsics():
    cam = PinholeCamera.from_fov(128, hfov_deg=65.0)
    assert cam.width == cam.height == 128
    assert math.isclose(cam.fx, 64.0 / math.tan(math.radians(32.5)), rel_tol=1e-12)
    assert cam.fx == cam.fy and cam.cx == cam.cy == 64.0
    d = cam.to_dict()
    assert math.isclose(d["hfov_deg"], 65.0, rel_tol=1e-9) and math.isclose(d["vfov_deg"], 65.0, rel_tol=1e-9)
    k = cam.matrix
    assert k.shape == (3, 3) and float(k[0, 0]) == cam.fx and float(k[1, 2]) == cam.cy


def test_rays_unit_and_project_back():
    cam = PinholeCamera.from_fov(32, 24)
    r = cam.rays()
    assert r.shape == (24, 32, 3) and r.dtype == torch.float32
    torch.testing.assert_close(r.norm(dim=-1), torch.ones(24, 32))
    assert (r[..., 2] > 0).all()
    # projecting a ray back gives its pixel centre
    u = cam.fx * r[..., 0] / r[..., 2] + cam.cx
    v = cam.fy * r[..., 1] / r[..., 2] + cam.cy
    torch.testing.assert_close(u[5, 7], torch.tensor(7.5), atol=1e-4, rtol=0)
    torch.testing.assert_close(v[5, 7], torch.tensor(5.5), atol=1e-4, rtol=0)
