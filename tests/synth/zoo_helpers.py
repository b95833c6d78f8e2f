"""Synthetic renderer buffers with known truth (planes, steps) for the sensor-zoo tests."""

from __future__ import annotations

import torch

from volo_adapt.synth.camera import PinholeCamera
from volo_adapt.synth.render import RenderBuffers
from volo_adapt.synth.zoo import SensorInputs


def generators(n: int, seed: int = 0, offset: int = 0) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed * 1000 + offset + i) for i in range(n)]


def inputs_from_depth(depth: torch.Tensor, albedo: float | torch.Tensor = 0.5, seed: int = 0) -> SensorInputs:
    """Buffers of surfaces facing the camera (normal ``-ray``) at ``depth (B, 1, S, S)`` metres (0 = background)."""
    b, _, h, w = depth.shape
    cam = PinholeCamera.from_fov(w, h, 65.0)
    rays = cam.rays()
    rd = rays.permute(2, 0, 1)[None]
    mask = depth > 0
    alb = albedo if isinstance(albedo, torch.Tensor) else torch.full((b, 3, h, w), float(albedo))
    alb = torch.where(mask, alb, torch.zeros_like(alb))
    normal = torch.where(mask, -rd.expand(b, 3, h, w), torch.zeros(b, 3, h, w))
    buf = RenderBuffers(depth=depth, range=depth / rd[:, 2:3], normal=normal, albedo=alb, mask=mask,
                        prim=torch.where(mask, 0, -1).long(), rays=rays)
    rgb = alb * 0.8
    return SensorInputs(buf, rgb, cam, generators(b, seed), generators(b, seed, 500))


def plane(z: float, size: int = 64, batch: int = 2) -> torch.Tensor:
    return torch.full((batch, 1, size, size), float(z))


def step(z_left: float, z_right: float, col: int, size: int = 64, batch: int = 2) -> torch.Tensor:
    """Depth ``z_left`` in columns ``< col``, ``z_right`` from ``col`` on."""
    d = torch.full((batch, 1, size, size), float(z_right))
    d[..., :col] = z_left
    return d
