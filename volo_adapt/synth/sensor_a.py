"""Sensor A (source: photogrammetry render): exact depth and clean Lambert-shaded colour (domain A of the benchmark)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch


@dataclass(frozen=True)
class SensorAConfig:
    """Shading of the clean render (the light direction and intensity come from the scene)."""

    ambient: float = 0.35
    """Ambient (direction-independent) light, as a fraction of albedo. Photogrammetry textures carry baked, soft
    lighting; 0.35 keeps the side away from the light readable (a choice, not a measured value)."""
    diffuse: float = 0.75
    """Weight of the Lambert term ``max(0, n . l)`` times the scene's light intensity (a choice)."""

    def to_dict(self) -> dict:
        return asdict(self)


def shade_lambert(
    albedo: torch.Tensor,
    normal: torch.Tensor,
    mask: torch.Tensor,
    light_dir: torch.Tensor,
    light_intensity: torch.Tensor,
    cfg: SensorAConfig = SensorAConfig(),  # noqa: B008
) -> torch.Tensor:
    """Lambert + ambient shading: ``albedo * (ambient + diffuse * I * max(0, n . l))``, clipped to ``[0, 1]``.

    Args:
        albedo: ``(B, 3, H, W)`` float in ``[0, 1]``.
        normal: ``(B, 3, H, W)`` unit normals (camera frame).
        mask: ``(B, 1, H, W)`` bool, surface present.
        light_dir: ``(B, 3)`` unit vector towards the light (camera frame).
        light_intensity: ``(B,)``.

    Returns:
        ``(B, 3, H, W)`` float32 in ``[0, 1]``, ``0`` where ``mask`` is false.
    """
    ndl = (normal * light_dir[:, :, None, None]).sum(1, keepdim=True).clamp_min(0.0)
    rgb = albedo * (cfg.ambient + cfg.diffuse * light_intensity[:, None, None, None] * ndl)
    return torch.where(mask, rgb.clamp(0.0, 1.0), torch.zeros_like(rgb))


def sensor_a(
    albedo: torch.Tensor,
    normal: torch.Tensor,
    depth: torch.Tensor,
    light_dir: torch.Tensor,
    light_intensity: torch.Tensor,
    cfg: SensorAConfig = SensorAConfig(),  # noqa: B008
) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean render: shaded colour and exact depth.

    Args:
        albedo, normal: ``(B, 3, H, W)`` renderer buffers.
        depth: ``(B, 1, H, W)`` float32 metres, ``0`` = background.
        light_dir: ``(B, 3)``; light_intensity: ``(B,)``.

    Returns:
        ``rgb (B, 3, H, W)`` float32 in ``[0, 1]`` (background 0) and ``depth (B, 1, H, W)`` float32 metres
        (the input, unchanged: exact to float32).
    """
    rgb = shade_lambert(albedo, normal, depth > 0, light_dir, light_intensity, cfg)
    return rgb, depth.clone()
