from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from volo_adapt.synth.camera import PinholeCamera
from volo_adapt.synth.render import render
from volo_adapt.synth.scene import N_CAPSULES, N_PRIMITIVES, sample_scene, stack_scenes
from volo_adapt.synth.seeding import numpy_rng


def _scenes(n: int, size_seed: int = 0):
    return [sample_scene(numpy_rng(size_seed, "test", i, "scene")) for i in range(n)]


def _only(scene, *, ell: tuple | None = None, cap: tuple | None = None):
    """Copy of ``scene`` with every primitive moved behind the camera except one (no floor)."""
    far = np.array([0.0, 0.0, -50.0])
    kw = dict(
        cap_a=np.tile(far, (N_CAPSULES, 1)), cap_b=np.tile(far + [0, 0, -0.1], (N_CAPSULES, 1)),
        ell_c=np.tile(far, (N_PRIMITIVES - N_CAPSULES, 1)), floor=False,
    )
    if ell is not None:
        kw["ell_c"][0], kw["ell_r"] = ell[0], scene.ell_r.copy()
        kw["ell_r"][0] = ell[1]
        kw["ell_rot"] = np.tile(np.eye(3), (N_PRIMITIVES - N_CAPSULES, 1, 1))
    if cap is not None:
        kw["cap_a"][0], kw["cap_b"][0] = cap[0], cap[1]
        kw["cap_r"] = scene.cap_r.copy()
        kw["cap_r"][0] = cap[2]
    return dataclasses.replace(scene, **kw)


def test_shapes_ranges_dtypes():
    cam = PinholeCamera.from_fov(32)
    buf = render(stack_scenes(_scenes(3)), cam)
    assert buf.depth.shape == buf.range.shape == buf.mask.shape == buf.prim.shape == (3, 1, 32, 32)
    assert buf.normal.shape == buf.albedo.shape == (3, 3, 32, 32)
    assert buf.depth.dtype == torch.float32 and buf.mask.dtype == torch.bool and buf.prim.dtype == torch.int64
    assert torch.equal(buf.mask, buf.depth > 0) and torch.equal(buf.mask, buf.prim >= 0)
    assert buf.mask.any() and (~buf.mask).any()
    assert (buf.albedo >= 0).all() and (buf.albedo <= 1).all()
    n = buf.normal.norm(dim=1, keepdim=True)
    torch.testing.assert_close(n[buf.mask], torch.ones_like(n[buf.mask]), atol=1e-4, rtol=0)
    assert (buf.normal[~buf.mask.expand(-1, 3, -1, -1)] == 0).all()
    assert (buf.view_cosine()[buf.mask] >= 0).all()  # normals face the camera
    assert (buf.range >= buf.depth).all()
    assert buf.depth[buf.mask].min() > 0.3 and buf.depth.max() < 8.0


def test_sphere_and_capsule_depth_exact():
    base = _scenes(1)[0]
    sphere = _only(base, ell=(np.array([0.0, 0.0, 2.0]), np.array([0.5, 0.5, 0.5])))
    capsule = _only(base, cap=(np.array([-0.3, 0.0, 3.0]), np.array([0.3, 0.0, 3.0]), 0.2))
    cam = PinholeCamera.from_fov(33)  # odd size: the centre pixel looks straight down the axis
    buf = render(stack_scenes([sphere, capsule]), cam)
    assert abs(float(buf.depth[0, 0, 16, 16]) - 1.5) < 1e-5
    assert abs(float(buf.depth[1, 0, 16, 16]) - 2.8) < 1e-5
    torch.testing.assert_close(buf.normal[0, :, 16, 16], torch.tensor([0.0, 0.0, -1.0]), atol=1e-5, rtol=0)
    # sphere silhouette: angular radius asin(0.5 / 2)
    rays = cam.rays()
    inside = torch.acos(rays[..., 2]) < np.arcsin(0.25) - 0.02
    outside = torch.acos(rays[..., 2]) > np.arcsin(0.25) + 0.02
    assert buf.mask[0, 0][inside].all() and not buf.mask[0, 0][outside].any()
    # points on the sphere are 0.5 m from its centre
    p = rays * buf.range[0, 0, ..., None]
    dist = (p - torch.tensor([0.0, 0.0, 2.0])).norm(dim=-1)[buf.mask[0, 0]]
    torch.testing.assert_close(dist, torch.full_like(dist, 0.5), atol=1e-4, rtol=0)


def test_batch_independent():
    cam = PinholeCamera.from_fov(32)
    scenes = _scenes(3)
    together = render(stack_scenes(scenes), cam)
    alone = render(stack_scenes([scenes[1]]), cam)
    for key in ("depth", "normal", "albedo", "prim"):
        assert torch.equal(getattr(together, key)[1:2], getattr(alone, key)), key


@pytest.mark.parametrize("index", range(4))
def test_subject_in_view_and_in_range(index):
    sc = _scenes(4, size_seed=3)[index]
    assert 0.8 <= sc.params["distance_m"] <= 4.0
    buf = render(stack_scenes([sc]), PinholeCamera.from_fov(48))
    body = buf.mask & (buf.prim < N_PRIMITIVES)
    assert body.sum() >= 4  # the body is visible


def test_tile_culling_matches_dense_ray_casting():
    from volo_adapt.synth.render import _intersect_capsules, _intersect_ellipsoids

    cam = PinholeCamera.from_fov(40, 36)  # not a multiple of the tile size
    scenes = [dataclasses.replace(s, floor=False) for s in _scenes(4, size_seed=5)]
    sb = stack_scenes(scenes)
    buf = render(sb, cam)
    rd = cam.rays().reshape(-1, 3)
    for b in range(len(scenes)):
        nc, ne = sb.cap_a.shape[1], sb.ell_c.shape[1]
        dx, dy, dz = (rd[:, i].expand(nc, -1) for i in range(3))
        t_cap = _intersect_capsules(dx, dy, dz, sb.cap_a[b], sb.cap_b[b], sb.cap_r[b])
        dx, dy, dz = (rd[:, i].expand(ne, -1) for i in range(3))
        t_ell = _intersect_ellipsoids(dx, dy, dz, sb.ell_c[b], sb.ell_a[b])
        dense = torch.cat([t_cap, t_ell]).amin(0)
        dense = torch.where(torch.isfinite(dense), dense, torch.zeros_like(dense)).reshape(36, 40)
        assert torch.equal(buf.range[b, 0], dense)
