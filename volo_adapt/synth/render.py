"""Analytic ray casting of :class:`~volo_adapt.synth.scene.SceneBatch` es in torch, vectorised over scenes,
pixels and primitives.

No rasteriser or path tracer among the project's dependencies renders analytic capsules/ellipsoids on the CPU
(kornia has no ray caster), so the closed-form intersections are written here. The image is cut into square tiles;
one vectorised test of every (scene, tile, primitive) bounding cone against every primitive's bounding sphere keeps
the triples that can hit, and one batched closed-form intersection evaluates them all (about 15-20x fewer ray tests
than the dense scenes x pixels x primitives product on typical scenes). Hits are merged with a scatter-min, which is
order independent; dot products are written out component by component (no matmul), so a scene's result does not
depend on the batch it was rendered in or on the thread count.

The renderer returns geometry buffers only (depth, range, normals, albedo, coverage); the sensor models in
:mod:`~volo_adapt.synth.sensor_a` and :mod:`~volo_adapt.synth.sensor_b` turn them into images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from volo_adapt.synth.camera import PinholeCamera
from volo_adapt.synth.scene import (
    N_CAPSULES,
    N_PRIMITIVES,
    PATTERN_CHECKS,
    PATTERN_NOISE,
    PATTERN_STRIPES,
    SceneBatch,
)


@dataclass
class RenderBuffers:
    """Per-pixel geometry of a batch of scenes (camera frame).

    Attributes:
        depth: ``(B, 1, H, W)`` float32, ``z`` of the first hit, metres; ``0`` = background (no surface).
        range: ``(B, 1, H, W)`` float32, distance along the ray from the camera centre, metres; ``0`` = background.
        normal: ``(B, 3, H, W)`` float32 unit surface normals facing the camera; ``0`` on background.
        albedo: ``(B, 3, H, W)`` float32 diffuse reflectance in ``[0, 1]``; ``0`` on background.
        mask: ``(B, 1, H, W)`` bool, ``True`` where a surface was hit.
        prim: ``(B, 1, H, W)`` int64 index of the hit primitive (``N_PRIMITIVES`` = floor), ``-1`` on background.
        rays: ``(H, W, 3)`` float32 unit ray directions of the camera.
    """

    depth: torch.Tensor
    range: torch.Tensor
    normal: torch.Tensor
    albedo: torch.Tensor
    mask: torch.Tensor
    prim: torch.Tensor
    rays: torch.Tensor

    def view_cosine(self) -> torch.Tensor:
        """``(B, 1, H, W)`` cosine between the normal and the direction back to the camera (0 on background)."""
        rd = self.rays.permute(2, 0, 1)[None]
        return -(self.normal * rd).sum(1, keepdim=True)


def _dot(ax, ay, az, bx, by, bz):  # explicit, batch-independent dot product
    return ax * bx + ay * by + az * bz


def _intersect_capsules(dx, dy, dz, a: torch.Tensor, b: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Ray parameter ``t`` of the first hit of rays from the origin with capsules (``inf`` = miss).

    Closed-form ray/capsule test (infinite cylinder clipped to the segment, plus the end spheres), with the ray
    origin at the camera centre. ``dx, dy, dz``: ray direction components ``(K, M)``; ``a, b``: ``(K, 3)`` segment
    ends; ``r``: ``(K,)`` radii (one capsule per row). Returns ``(K, M)``.
    """
    ba = b - a
    ax, ay, az = (a[:, i : i + 1] for i in range(3))
    bx_, by_, bz_ = (b[:, i : i + 1] for i in range(3))
    bax, bay, baz = (ba[:, i : i + 1] for i in range(3))
    r = r[:, None]
    baba = _dot(bax, bay, baz, bax, bay, baz)
    baoa = -_dot(bax, bay, baz, ax, ay, az)  # oa = origin - a = -a
    oaoa = _dot(ax, ay, az, ax, ay, az)
    obob = _dot(bx_, by_, bz_, bx_, by_, bz_)
    bard = _dot(dx, dy, dz, bax, bay, baz)
    rdoa = -_dot(dx, dy, dz, ax, ay, az)
    qa = (baba - bard * bard).clamp_min(1e-12)
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - r * r * baba
    h = qb * qb - qa * qc
    hit_inf = h >= 0
    t_body = (-qb - h.clamp_min(0).sqrt()) / qa
    y = baoa + t_body * bard
    body = hit_inf & (y > 0) & (y < baba) & (t_body > 0)
    # end caps: sphere at a if y <= 0, at b otherwise
    at_a = y <= 0
    cb = torch.where(at_a, rdoa, -_dot(dx, dy, dz, bx_, by_, bz_))  # dot(rd, origin - end)
    cc = torch.where(at_a, oaoa, obob) - r * r
    h2 = cb * cb - cc
    t_cap = -cb - h2.clamp_min(0).sqrt()
    cap = hit_inf & ~body & (h2 > 0) & (t_cap > 0)
    inf = torch.full_like(t_body, math.inf)
    return torch.where(body, t_body, torch.where(cap, t_cap, inf))


def _intersect_ellipsoids(dx, dy, dz, c: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Ray parameter of the first hit with ellipsoids ``|M (p - c)| = 1`` (``inf`` = miss).

    ``dx, dy, dz``: ``(K, M)``; ``c``: ``(K, 3)``; ``m``: ``(K, 3, 3)``. Returns ``(K, M)``.
    """
    # origin in unit-sphere coordinates: o' = M (0 - c)
    o = [-(m[:, i, 0] * c[:, 0] + m[:, i, 1] * c[:, 1] + m[:, i, 2] * c[:, 2])[:, None] for i in range(3)]
    d = [_dot(dx, dy, dz, m[:, i, 0:1], m[:, i, 1:2], m[:, i, 2:3]) for i in range(3)]
    qa = _dot(*d, *d)
    qb = _dot(*o, *d)
    qc = _dot(*o, *o) - 1.0
    h = qb * qb - qa * qc
    t = (-qb - h.clamp_min(0).sqrt()) / qa
    return torch.where((h > 0) & (t > 0), t, torch.full_like(t, math.inf))


def _bounding_spheres(scenes: SceneBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres ``(B, P, 3)`` and radii ``(B, P)`` of spheres enclosing every body primitive."""
    cap_c = 0.5 * (scenes.cap_a + scenes.cap_b)
    cap_r = 0.5 * (scenes.cap_b - scenes.cap_a).norm(dim=-1) + scenes.cap_r
    # ellipsoid: largest radius = 1 / smallest singular value of M = diag(1/r) R^T, i.e. max(r)
    ell_r = 1.0 / torch.linalg.svdvals(scenes.ell_a).amin(-1)
    return torch.cat([cap_c, scenes.ell_c], 1), torch.cat([cap_r, ell_r], 1) * 1.001 + 1e-4


def _cast_body(scenes: SceneBatch, tile_rays: torch.Tensor, tile_dir: torch.Tensor, tile_half: torch.Tensor):
    """First hit of every pixel with the body primitives, testing only (scene, tile, primitive) triples whose
    bounding cones overlap (the dense B x pixels x primitives test is 10-30x more work at 512 px).

    Args:
        tile_rays: ``(T, M, 3)`` unit rays of the ``M`` pixels of each of ``T`` tiles.
        tile_dir: ``(T, 3)`` unit axis of each tile's bounding cone; tile_half: ``(T,)`` its half-angle, radians.

    Returns:
        ``t (B, T, M)`` (``inf`` = no body hit) and ``prim (B, T, M)`` int64 (index into the primitives).
    """
    bsz, ntile, m = len(scenes), tile_rays.shape[0], tile_rays.shape[1]
    centre, radius = _bounding_spheres(scenes)
    dist = centre.norm(dim=-1)
    sdir = centre / dist[..., None].clamp_min(1e-9)
    ang = torch.asin((radius / dist.clamp_min(1e-9)).clamp(max=1.0))  # sphere's angular radius
    inside = radius >= dist
    cos = (sdir[:, None, :, :] * tile_dir[None, :, None, :]).sum(-1).clamp(-1, 1)  # (B, T, P)
    overlap = (torch.acos(cos) <= ang[:, None, :] + tile_half[None, :, None]) | inside[:, None, :]
    bi, ti, pi = overlap.nonzero(as_tuple=True)  # lexicographic order: deterministic
    flat = (bi * ntile + ti)[:, None] * m + torch.arange(m)[None, :]
    t_best = torch.full((bsz * ntile * m,), math.inf)
    t_k = torch.empty((bi.numel(), m))
    for is_cap in (True, False):
        sel = (pi < N_CAPSULES) if is_cap else (pi >= N_CAPSULES)
        if not bool(sel.any()):
            continue
        rays = tile_rays[ti[sel]]  # (K, M, 3)
        dx, dy, dz = rays[..., 0], rays[..., 1], rays[..., 2]
        b_, p_ = bi[sel], pi[sel]
        if is_cap:
            t = _intersect_capsules(dx, dy, dz, scenes.cap_a[b_, p_], scenes.cap_b[b_, p_], scenes.cap_r[b_, p_])
        else:
            e = p_ - N_CAPSULES
            t = _intersect_ellipsoids(dx, dy, dz, scenes.ell_c[b_, e], scenes.ell_a[b_, e])
        t_k[sel] = t
    t_best = t_best.scatter_reduce(0, flat.reshape(-1), t_k.reshape(-1), reduce="amin")
    # primitive of the minimum (lowest index on exact ties, as argmin would)
    is_min = (t_k == t_best[flat]) & torch.isfinite(t_k)
    cand = torch.where(is_min, pi[:, None].expand_as(t_k), torch.full_like(t_k, N_PRIMITIVES, dtype=torch.int64))
    prim = torch.full((bsz * ntile * m,), N_PRIMITIVES, dtype=torch.int64)
    prim = prim.scatter_reduce(0, flat.reshape(-1), cand.reshape(-1), reduce="amin")
    return t_best.view(bsz, ntile, m), prim.view(bsz, ntile, m)


def _texture(scenes: SceneBatch, bi: torch.Tensor, prim: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Albedo ``(K, 3)`` of hit points ``p (K, 3)`` of scenes ``bi (K,)`` on primitives ``prim (K,)``."""
    rel = p - scenes.tex_origin[bi, prim]
    rot = scenes.tex_rot[bi, prim]  # (K, 3, 3), columns = local axes
    q = [(rel * rot[..., :, i]).sum(-1) for i in range(3)]  # local coordinates, metres
    freq = scenes.freq[bi, prim] * (2 * math.pi)
    phase = scenes.phase[bi, prim]
    pattern = scenes.pattern[bi, prim]
    stripes = (torch.sin(freq * q[1] + phase) > 0).to(p.dtype)
    checks = (torch.sin(freq * q[0] + phase) * torch.sin(freq * q[1] + phase) > 0).to(p.dtype)
    arg = (scenes.waves[bi] * rel[:, None, :]).sum(-1) * freq[:, None] + scenes.wave_phase[bi]  # (K, waves)
    noise = (0.5 + torch.sin(arg).mean(-1)).clamp(0, 1)
    w = torch.zeros_like(stripes)
    w = torch.where(pattern == PATTERN_STRIPES, stripes, w)
    w = torch.where(pattern == PATTERN_CHECKS, checks, w)
    w = torch.where(pattern == PATTERN_NOISE, noise, w)
    c1 = scenes.colour1[bi, prim]
    return c1 + (scenes.colour2[bi, prim] - c1) * w[:, None]


def _normals(scenes: SceneBatch, bi: torch.Tensor, prim: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Unit normals ``(K, 3)`` (not yet oriented) at hit points ``p (K, 3)`` on primitives ``prim (K,)``."""
    normal = scenes.floor_normal[bi].clone()
    cap = prim < N_CAPSULES
    if bool(cap.any()):
        b_, i_, pc = bi[cap], prim[cap], p[cap]
        a = scenes.cap_a[b_, i_]
        ba = scenes.cap_b[b_, i_] - a
        s = (((pc - a) * ba).sum(-1) / (ba * ba).sum(-1).clamp_min(1e-12)).clamp(0, 1)
        normal[cap] = pc - (a + s[:, None] * ba)
    ell = (prim >= N_CAPSULES) & (prim < N_PRIMITIVES)
    if bool(ell.any()):
        b_, i_ = bi[ell], prim[ell] - N_CAPSULES
        m = scenes.ell_a[b_, i_]  # (K, 3, 3)
        local = (m * (p[ell] - scenes.ell_c[b_, i_])[:, None, :]).sum(-1)  # M (p - c)
        normal[ell] = (m * local[:, :, None]).sum(-2)  # gradient direction M^T M (p - c)
    return normal / normal.norm(dim=-1, keepdim=True).clamp_min(1e-12)


@dataclass
class _Tiles:
    """The camera's pixels cut into ``T = nty * ntx`` square tiles of ``side`` pixels (the image padded to whole
    tiles): ``rays (T, side * side, 3)`` unit rays per tile, ``axis (T, 3)`` and ``half_angle (T,)`` (radians) of
    each tile's bounding cone, and ``padded_rays (nty * side, ntx * side, 3)``."""

    side: int
    nty: int
    ntx: int
    rays: torch.Tensor
    axis: torch.Tensor
    half_angle: torch.Tensor
    padded_rays: torch.Tensor

    def untile(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """``(B, T, side * side)`` per-tile values -> ``(B, h * w)`` in image order (padding dropped)."""
        b, ts = x.shape[0], self.side
        x = x.view(b, self.nty, self.ntx, ts, ts).permute(0, 1, 3, 2, 4).reshape(b, self.nty * ts, self.ntx * ts)
        return x[:, :h, :w].reshape(b, h * w)


def _tiles(camera: PinholeCamera) -> _Tiles:
    """Cut the image into square tiles (side ``max(8, min(H, W) // 32)`` pixels) with their bounding cones."""
    h, w = camera.height, camera.width
    ts = max(8, min(h, w) // 32)  # tile side, pixels
    nty, ntx = -(-h // ts), -(-w // ts)
    padded = PinholeCamera(ntx * ts, nty * ts, camera.fx, camera.fy, camera.cx, camera.cy)
    prays = padded.rays()  # (Hp, Wp, 3)
    tile_rays = prays.view(nty, ts, ntx, ts, 3).permute(0, 2, 1, 3, 4).reshape(nty * ntx, ts * ts, 3)
    tile_dir = tile_rays.mean(1)
    tile_dir = tile_dir / tile_dir.norm(dim=-1, keepdim=True)
    tile_half = torch.acos((tile_rays * tile_dir[:, None, :]).sum(-1).clamp(-1, 1)).amax(1) + 1e-4
    return _Tiles(ts, nty, ntx, tile_rays, tile_dir, tile_half, prays)


def _cast_floor(scenes: SceneBatch, rd: torch.Tensor, t_body: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(t_floor (B, N), in_front (B, N) bool)``: the floor disc's ray parameter and where it is hit before the body.

    ``rd (1, N, 3)`` unit rays; ``t_body (B, N)`` the body's first hit (``inf`` = none). Plane ``n . x = n . p0``.
    """
    n = scenes.floor_normal[:, None, :]
    p0 = scenes.floor_point[:, None, :]
    denom = (rd * n).sum(-1)  # (B, N)
    t_fl = (p0 * n).sum(-1) / torch.where(denom.abs() > 1e-9, denom, torch.full_like(denom, 1e-9))
    off = rd * t_fl[..., None] - p0
    inside = (off * off).sum(-1) < scenes.floor_radius[:, None] ** 2
    return t_fl, scenes.floor[:, None] & (t_fl > 0) & inside & (t_fl < t_body)


def render(scenes: SceneBatch, camera: PinholeCamera) -> RenderBuffers:
    """Ray-cast a batch of scenes through a pinhole camera.

    Args:
        scenes: ``B`` scenes in the camera frame.
        camera: intrinsics (image size ``H x W``).

    Returns:
        :class:`RenderBuffers` with ``(B, C, H, W)`` tensors.
    """
    h, w = camera.height, camera.width
    bsz = len(scenes)
    tiles = _tiles(camera)
    t_body, prim_body = _cast_body(scenes, tiles.rays, tiles.axis, tiles.half_angle)
    t_body, prim_body = tiles.untile(t_body, h, w), tiles.untile(prim_body, h, w)
    rays = tiles.padded_rays[:h, :w].contiguous()
    rd = rays.reshape(1, h * w, 3)
    t_fl, fl_ok = _cast_floor(scenes, rd, t_body)
    t = torch.where(fl_ok, t_fl, t_body)
    prim = torch.where(fl_ok, torch.full_like(prim_body, N_PRIMITIVES), prim_body)
    hit = torch.isfinite(t)
    t = torch.where(hit, t, torch.zeros_like(t))
    # shade only the hit pixels
    bi, pix = hit.nonzero(as_tuple=True)
    pr = prim[bi, pix]
    rdk = rd[0, pix]
    p = rdk * t[bi, pix][:, None]
    nk = _normals(scenes, bi, pr, p)
    nk = torch.where((nk * rdk).sum(-1, keepdim=True) > 0, -nk, nk)  # face the camera
    normal = torch.zeros((bsz, h * w, 3))
    normal[bi, pix] = nk
    albedo = torch.zeros((bsz, h * w, 3))
    albedo[bi, pix] = _texture(scenes, bi, pr, p)
    depth = t * rd[..., 2]
    prim = torch.where(hit, prim, torch.full_like(prim, -1))

    def img(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(bsz, h, w, -1).permute(0, 3, 1, 2).contiguous()

    return RenderBuffers(
        depth=img(depth[..., None]), range=img(t[..., None]), normal=img(normal), albedo=img(albedo),
        mask=img(hit[..., None]), prim=img(prim[..., None]), rays=rays,
    )
