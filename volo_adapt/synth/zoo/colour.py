"""Colour-camera effects shared by the zoo families: blur, vignetting, white balance, exposure, noise, tone, JPEG.

Each family's parameter dataclass inherits :class:`ColourParams` (and may override the defaults and ranges of its
fields) so that its colour camera differs per sensor: a phone ISP (mild blur, strong lens-shading correction, JPEG),
a depth camera's RGB module (more vignetting, stronger noise, a fixed white-balance bias), etc. The colour path never
touches depth. Noise model: ``var = shot_noise_gain * x + read_noise_std^2`` (photon + read noise, Foi et al. 2008,
"Practical Poissonian-Gaussian noise modeling"); vignetting: the ``cos^4``-like radial fall-off approximated by
``1 - v (r / r_corner)^2``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from volo_adapt.synth.sensor_b import jpeg_roundtrip, optics
from volo_adapt.synth.zoo.params import param


@dataclass(frozen=True)
class ColourParams:
    """Colour camera of a target sensor (per data set; per-image variation via the ``*_std`` fields)."""

    blur_sigma_px: float = param(0.7, (0.3, 1.5), "px", "Gaussian lens/ISP blur std", (0.0, 10.0))
    """Std of the Gaussian lens/ISP blur, output pixels."""
    vignetting: float = param(0.2, (0.0, 0.4), "fraction", "brightness loss in the corners", (0.0, 0.95))
    """Relative brightness loss in the image corners (``1 - v (r / r_corner)^2``), dimensionless fraction."""
    wb_red_gain: float = param(1.0, (0.85, 1.15), "fraction", "fixed red white-balance gain", (0.1, 10.0))
    """Fixed red/green gain ratio of the sensor's white balance (a colour cast), dimensionless."""
    wb_blue_gain: float = param(1.0, (0.85, 1.15), "fraction", "fixed blue white-balance gain", (0.1, 10.0))
    """Fixed blue/green gain ratio of the sensor's white balance (a colour cast), dimensionless."""
    wb_std: float = param(0.05, (0.0, 0.1), "fraction", "per-image auto-white-balance error (log std)", (0.0, 1.0))
    """Std of the per-image, per-channel white-balance error, natural-log units (dimensionless)."""
    exposure_std: float = param(0.1, (0.0, 0.2), "fraction", "per-image exposure error (log std)", (0.0, 1.0))
    """Std of the per-image exposure gain, natural-log units (dimensionless)."""
    shot_noise_gain: float = param(5e-4, (1e-4, 3e-3), "fraction", "photon-noise variance per unit signal",
                                   (0.0, 0.1))
    """Shot-noise variance per unit signal, signal in ``[0, 1]`` (dimensionless)."""
    read_noise_std: float = param(0.004, (0.001, 0.012), "fraction", "signal-independent noise std", (0.0, 0.2))
    """Read-noise std in ``[0, 1]`` units (dimensionless fraction of full scale)."""
    gamma: float = param(1.0, (0.85, 1.15), "fraction", "tone-curve exponent x**gamma", (0.2, 5.0))
    """Exponent of the sensor's tone curve relative to the renderer's (dimensionless)."""
    jpeg_quality: int = param(85, (60, 95), "dimensionless", "JPEG quality (Pillow 1-95), 4:2:0", (1, 95))
    """JPEG quality, Pillow scale 1-95 (dimensionless); lower = more blocking and chroma loss."""


def apply_colour(
    radiance: torch.Tensor, mask: torch.Tensor, generators: list[torch.Generator], p: ColourParams
) -> torch.Tensor:
    """The colour camera on a clean image.

    Args:
        radiance: ``(B, 3, H, W)`` clean colour in ``[0, 1]``.
        mask: ``(B, 1, H, W)`` bool; colour is 0 outside it (the benchmark's background convention).
        generators: one ``torch.Generator`` per sample.
        p: colour parameters.

    Returns:
        ``(B, 3, H, W)`` float32 in ``[0, 1]``, multiples of 1/255, ``0`` outside ``mask``.
    """
    assert len(generators) == radiance.shape[0], "need one generator per sample"
    x = optics(radiance.to(torch.float32), p.blur_sigma_px, p.vignetting)
    bias = torch.tensor([p.wb_red_gain, 1.0, p.wb_blue_gain]).view(3, 1, 1)
    outs = []
    for i, g in enumerate(generators):
        gain = torch.exp(p.exposure_std * torch.randn((), generator=g) + p.wb_std * torch.randn(3, generator=g))
        xi = (x[i] * bias * gain.view(3, 1, 1)).clamp(0, 1)
        noise = torch.randn(xi.shape, generator=g)
        xi = (xi + (p.shot_noise_gain * xi + p.read_noise_std**2).sqrt() * noise).clamp(0, 1) ** p.gamma
        xi = jpeg_roundtrip(torch.where(mask[i], xi, torch.zeros_like(xi)), p.jpeg_quality)
        outs.append(torch.where(mask[i], xi, torch.zeros_like(xi)))
    return torch.stack(outs)
