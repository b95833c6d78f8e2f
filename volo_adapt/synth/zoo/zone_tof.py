"""``zone_tof``: a randomised family of low-cost multizone direct-ToF sensors (ST VL53L5CX / VL53L8-like).

Why it is a distinct family: it does not point-sample the scene. The field of view is split into ``zones x zones``
zones (4x4 to 8x8 on the ST parts) and each zone's SPAD histogram reports ONE target for the whole zone: the
nearest one with enough signal (``target="nearest"``: a low quantile ``nearest_quantile`` of the zone's depths) or
the strongest (``target="strongest"``: the signal-weighted median, signal ~ albedo * cos / z^2). A zone covering
a person's shoulder and the wall behind reports only one of them for all its pixels: errors are large, blocky
and structured, unlike the per-pixel noise of the other families. Per sample:

1. Per zone: the target depth as above if at least ``min_coverage`` of the zone is a surface closer than
   ``max_range_m``, otherwise no return.
2. Noise ``noise_a_m + noise_rel * z`` (std) per zone (ranging accuracy of a few percent, from the data sheets).
3. Upsampling of the zone map to the output size: ``nearest`` (zone blocks) or ``bilinear`` (including zeros).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from volo_adapt.synth.zoo.base import Family, SensorInputs, luminance, per_sample, quantise
from volo_adapt.synth.zoo.colour import ColourParams, apply_colour
from volo_adapt.synth.zoo.params import param


@dataclass(frozen=True)
class ZoneToFParams(ColourParams):
    """Multizone direct ToF + a low-cost colour camera (strong blur, vignetting and noise, low JPEG quality)."""

    blur_sigma_px: float = param(1.0, (0.5, 2.0), "px", "Gaussian lens/ISP blur std", (0.0, 10.0))
    """Std of the Gaussian lens/ISP blur, output pixels."""
    vignetting: float = param(0.35, (0.2, 0.6), "fraction", "brightness loss in the corners", (0.0, 0.95))
    """Relative brightness loss in the image corners, dimensionless fraction."""
    jpeg_quality: int = param(70, (40, 85), "dimensionless", "JPEG quality (Pillow 1-95), 4:2:0", (1, 95))
    """JPEG quality, Pillow scale 1-95 (dimensionless)."""
    zones: int = param(8, (4, 16), "dimensionless", "zones per image side", (1, 256))
    """Number of zones per image side (dimensionless count; VL53L5CX: 4 or 8)."""
    target: str = param("nearest", ("nearest", "strongest"), "choice", "which histogram peak a zone reports")
    """Which target a zone reports: the nearest or the strongest."""
    nearest_quantile: float = param(0.1, (0.05, 0.25), "fraction", "depth quantile taken as the nearest target",
                                    (0.0, 1.0))
    """Quantile of the zone's surface depths reported as its nearest target (target=nearest), fraction."""
    min_coverage: float = param(0.05, (0.02, 0.15), "fraction", "surface fraction a zone needs to report",
                                (0.0, 1.0))
    """Fraction of the zone's pixels that must be a surface in range for a return, fraction."""
    max_range_m: float = param(4.0, (2.0, 4.0), "m", "no return beyond this depth", (0.01, 100.0))
    """Maximum ranging distance, metres (VL53L5CX: 4 m)."""
    noise_a_m: float = param(0.005, (0.003, 0.015), "m", "constant ranging-noise std", (0.0, 1.0))
    """Constant part of the per-zone ranging-noise std, metres."""
    noise_rel: float = param(0.01, (0.005, 0.03), "fraction", "ranging-noise std per metre of depth", (0.0, 1.0))
    """Depth-proportional part of the ranging-noise std, fraction of the depth."""
    upsample: str = param("nearest", ("nearest", "bilinear"), "choice", "zone map -> image upsampling")
    """Upsampling of the zone map: nearest (blocks) or bilinear."""


def zone_value(z: torch.Tensor, weight: torch.Tensor, level: float, min_count: float) -> torch.Tensor:
    """Per row of ``z (B, N)`` (0 = none): the first sorted depth whose cumulative ``weight`` reaches ``level`` of
    the total; ``0`` where fewer than ``min_count`` pixels are valid. Returns ``(B,)``."""
    key = torch.where(z > 0, z, torch.full_like(z, float("inf")))
    zs, order = torch.sort(key, dim=1)
    ws = torch.gather(torch.where(z > 0, weight, torch.zeros_like(weight)), 1, order)
    cum = ws.cumsum(1)
    idx = (cum < level * cum[:, -1:]).sum(1, keepdim=True).clamp(max=z.shape[1] - 1)
    val = torch.gather(zs, 1, idx).squeeze(1)
    ok = ((z > 0).sum(1) >= min_count) & (cum[:, -1] > 0)
    return torch.where(ok, val, torch.zeros_like(val))


def zone_map(inputs: SensorInputs, p: ZoneToFParams) -> torch.Tensor:
    """``(B, 1, zones, zones)`` reported zone depths, metres (0 = no return), before noise."""
    buf = inputs.buf
    b, _, h, w = buf.depth.shape
    z = torch.where(buf.depth <= p.max_range_m, buf.depth, torch.zeros_like(buf.depth))
    signal = luminance(buf.albedo) * buf.view_cosine().clamp_min(0) / buf.depth.clamp_min(1e-3) ** 2
    n = min(p.zones, h, w)
    rows = [round(i * h / n) for i in range(n + 1)]
    cols = [round(j * w / n) for j in range(n + 1)]
    out = torch.zeros((b, 1, n, n), dtype=torch.float32)
    for i in range(n):
        for j in range(n):
            zz = z[:, 0, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].reshape(b, -1)
            ss = signal[:, 0, rows[i]:rows[i + 1], cols[j]:cols[j + 1]].reshape(b, -1)
            nearest = p.target == "nearest"
            weight = torch.ones_like(zz) if nearest else ss
            level = p.nearest_quantile if nearest else 0.5
            out[:, 0, i, j] = zone_value(zz, weight, level, p.min_coverage * zz.shape[1])
    return out


def zone_depth(inputs: SensorInputs, p: ZoneToFParams) -> torch.Tensor:
    """``(B, 1, S, S)`` float32 metres (0 = no return) of the multizone ToF model (module docstring)."""
    zm = zone_map(inputs, p)
    noise = per_sample(inputs.gen_depth, tuple(zm.shape[1:]))
    zm = torch.where(zm > 0, (zm + (p.noise_a_m + p.noise_rel * zm) * noise).clamp_min(1e-3), zm)
    size = tuple(inputs.buf.depth.shape[-2:])
    if p.upsample == "nearest":
        up = F.interpolate(zm, size=size, mode="nearest")
    else:
        up = F.interpolate(zm, size=size, mode="bilinear", align_corners=False)
    return quantise(up, 0.001).to(torch.float32)


def apply(inputs: SensorInputs, p: ZoneToFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Multizone ToF depth and a low-cost colour camera."""
    return apply_colour(inputs.rgb_clean, inputs.buf.mask, inputs.gen_rgb, p), zone_depth(inputs, p)


FAMILY = Family(
    name="zone_tof",
    kind="multizone direct ToF",
    description="Low-cost 4x4..16x16-zone ToF: each zone reports one (nearest or strongest) target, blocky "
                "structured errors.",
    params=ZoneToFParams,
    apply=apply,
)
