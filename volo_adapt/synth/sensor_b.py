"""Sensor B (target: phone RGB camera + LiDAR; domain B of the benchmark): an approximate, documented model.

Depth path (per sample, on the renderer's buffers):

1. **Sensing grid.** The LiDAR depth is measured on a grid ``lidar_res`` times the output size (one point sample
   at the centre of each low-resolution cell, ``nearest-exact``). Default 0.4: ARKit's 256x192 depth map against
   a 640x480 colour frame (against ARKit's full 1920x1440 colour frame the ratio would be 0.133).
2. **Missing returns** (depth 0) beyond ``max_range_m`` (radial), at grazing incidence (``cos(normal, view) <
   grazing_cos_min``) and, with probability ``dark_dropout_prob``, on dark surfaces (albedo luminance below
   ``dark_albedo``; visible albedo stands in for the unknown 940 nm reflectance).
3. **Noise** ``z + sigma(z) * N(0, 1)``, ``sigma(z) = noise_a_m + noise_b_per_m * z**2``, independent per sample
   of the sensing grid (the upsampled map has a lower per-pixel std because bilinear weights average neighbours).
4. **Upsampling** to the output size by bilinear interpolation *including the zeros* of the background, as
   phone pipelines that resize the depth map with the colour frame do: depth edges smear into "tails" of flying
   pixels whose depth lies between the subject and whatever is behind it (or 0).
5. **Quantisation** to ``quantisation_m`` (1 mm).

Colour path: lens blur (kornia Gaussian), vignetting, exposure and white-balance gains, shot + read noise,
gamma (tone-curve) shift, clipping, 8-bit JPEG encode/decode in memory (Pillow), background set to 0.

The numbers are plausible and approximate, not fitted to a specific phone; each field says where it comes from.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from volo_adapt.synth.camera import PinholeCamera


@dataclass(frozen=True)
class SensorBConfig:
    """Parameters of the phone RGB + LiDAR model (defaults: plausible, approximate)."""

    lidar_res: float = 0.4
    """Side of the depth sensing grid as a fraction of the output side (grid = ``round(lidar_res * S)``).
    0.4 = ARKit's 256x192 depth map over a 640x480 colour frame."""
    max_range_m: float = 5.0
    """Maximum LiDAR range, metres (radial distance from the camera centre). Apple states "up to 5 metres" for
    the iPad Pro / iPhone Pro LiDAR scanner; returns beyond it are missing (depth 0)."""
    noise_a_m: float = 0.002
    """Constant part of the depth noise std, metres (sigma(z) = a + b z^2). Plausible, approximate: published
    iPhone/iPad LiDAR evaluations (e.g. Luetzenburg et al., Sci. Rep. 2021; Vogt et al., Sensors 2021) report
    errors of a few millimetres to about a centimetre near 1 m that grow with distance; not fitted to them."""
    noise_b_per_m: float = 0.004
    """Quadratic part of the depth noise std, 1/metre (sigma(1 m) = 6 mm, sigma(3 m) = 38 mm with the defaults;
    quadratic growth as for time-of-flight / active depth sensors). Plausible, approximate."""
    grazing_cos_min: float = 0.26
    """Minimum cosine between surface normal and view direction for a return (0.26 = 75 degrees incidence);
    below it the reflected LiDAR signal is too weak and the pixel is a hole. A choice."""
    dark_albedo: float = 0.08
    """Albedo luminance (Rec. 709 weights) below which a surface counts as dark (e.g. black hair, dark cloth:
    known weak spots of phone LiDAR). Visible albedo is a proxy for the 940 nm reflectance. A choice."""
    dark_dropout_prob: float = 0.7
    """Probability that a sensing-grid sample on a dark surface returns nothing. A choice."""
    quantisation_m: float = 0.001
    """Depth quantisation step, metres (1 mm, the unit of 16-bit millimetre depth PNGs)."""
    blur_sigma_px: float = 0.7
    """Std of the Gaussian lens/ISP blur, output pixels (slight softness of a small phone lens). A choice."""
    vignetting: float = 0.2
    """Relative brightness loss in the image corners (``1 - vignetting * (r / r_corner)^2``); what remains after
    the phone ISP's lens-shading correction. A choice."""
    exposure_std: float = 0.1
    """Std of the per-image exposure gain, natural-log units (auto-exposure variation). A choice."""
    wb_std: float = 0.05
    """Std of the per-channel white-balance gain error, natural-log units (auto-white-balance error). A choice."""
    shot_noise_gain: float = 0.0005
    """Shot-noise variance per unit signal (variance = gain * x + read^2, x in [0, 1]); std 0.016 at x = 0.5,
    typical of a small phone sensor at moderate ISO after ISP denoising. Approximate."""
    read_noise_std: float = 0.004
    """Signal-independent (read) noise std, in [0, 1] units (about 1 code value of 8 bits). Approximate."""
    gamma_min: float = 0.85
    """Lower bound of the per-image tone-curve exponent ``x ** gamma`` (tone-curve shift between the renderer's
    and the phone's colour processing). A choice."""
    gamma_max: float = 1.15
    """Upper bound of the tone-curve exponent."""
    jpeg_quality: int = 80
    """JPEG quality (Pillow scale 1-95, 4:2:0 chroma). Between phone camera output (about 90-95) and typical web
    re-encoding (about 75). A choice."""

    def __post_init__(self) -> None:
        assert 0.0 < self.lidar_res <= 1.0, f"lidar_res must be in (0, 1], got {self.lidar_res}"
        assert self.max_range_m > 0 and self.noise_a_m >= 0 and self.noise_b_per_m >= 0
        assert 0.0 <= self.grazing_cos_min < 1.0 and 0.0 <= self.dark_dropout_prob <= 1.0
        assert self.quantisation_m > 0 and self.blur_sigma_px >= 0 and 0.0 <= self.vignetting < 1.0
        assert 0 < self.gamma_min <= self.gamma_max and 1 <= self.jpeg_quality <= 95

    def sigma(self, z: torch.Tensor | float) -> torch.Tensor | float:
        """Depth noise std (metres) at depth ``z`` (metres)."""
        return self.noise_a_m + self.noise_b_per_m * z * z

    def grid_size(self, h: int, w: int) -> tuple[int, int]:
        """``(h, w)`` of the depth sensing grid for an ``h x w`` output (at least 2 x 2)."""
        return max(2, round(self.lidar_res * h)), max(2, round(self.lidar_res * w))

    def to_dict(self) -> dict:
        return asdict(self)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` -> ``(B, 1, H, W)`` Rec. 709 luminance."""
    w = torch.tensor([0.2126, 0.7152, 0.0722], dtype=rgb.dtype).view(1, 3, 1, 1)
    return (rgb * w).sum(1, keepdim=True)


@dataclass
class LidarOutput:
    """Result of :func:`lidar_depth`.

    Attributes:
        depth: ``(B, 1, H, W)`` float32 metres at the output size, quantised; ``0`` = no return.
        grid: ``(B, 1, h, w)`` float32 metres on the sensing grid after holes and noise (before upsampling).
        grid_clean: ``(B, 1, h, w)`` the exact depth sampled on the grid (``0`` = background).
    """

    depth: torch.Tensor
    grid: torch.Tensor
    grid_clean: torch.Tensor


def lidar_depth(
    depth: torch.Tensor,
    view_cos: torch.Tensor,
    albedo: torch.Tensor,
    generators: list[torch.Generator],
    cfg: SensorBConfig = SensorBConfig(),  # noqa: B008
    range_m: torch.Tensor | None = None,
) -> LidarOutput:
    """Phone LiDAR depth from exact geometry.

    Args:
        depth: ``(B, 1, H, W)`` float32 exact depth (``z``), metres; ``0`` = background.
        view_cos: ``(B, 1, H, W)`` cosine between surface normal and the direction to the camera.
        albedo: ``(B, 3, H, W)`` diffuse reflectance in ``[0, 1]``.
        generators: one ``torch.Generator`` per sample (all random draws of sample ``i`` use ``generators[i]``).
        cfg: sensor parameters.
        range_m: ``(B, 1, H, W)`` radial distance, metres; ``None`` uses ``depth`` (exact on the optical axis).

    Returns:
        :class:`LidarOutput`.
    """
    b, _, h, w = depth.shape
    assert len(generators) == b, f"need one generator per sample, got {len(generators)} for batch {b}"
    gh, gw = cfg.grid_size(h, w)

    def grid(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=(gh, gw), mode="nearest-exact")

    z = grid(depth)
    rng = grid(depth if range_m is None else range_m)
    cos = grid(view_cos)
    lum = grid(luminance(albedo))
    u = torch.stack([torch.rand((1, gh, gw), generator=g) for g in generators])
    n = torch.stack([torch.randn((1, gh, gw), generator=g) for g in generators])
    ok = (z > 0) & (rng <= cfg.max_range_m) & (cos >= cfg.grazing_cos_min)
    ok &= ~((lum < cfg.dark_albedo) & (u < cfg.dark_dropout_prob))
    noisy = (z + cfg.sigma(z) * n).clamp_min(0.0)
    sensed = torch.where(ok, noisy, torch.zeros_like(z))
    up = F.interpolate(sensed, size=(h, w), mode="bilinear", align_corners=False)
    q = cfg.quantisation_m
    out = torch.round(up / q) * q
    return LidarOutput(depth=out.to(torch.float32), grid=sensed, grid_clean=z)


def jpeg_roundtrip(rgb: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG encode/decode of ``(3, H, W)`` in ``[0, 1]`` in memory (8-bit); returns float32 multiples of 1/255."""
    arr = (rgb.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
    buf = io.BytesIO()
    Image.fromarray(arr, mode="RGB").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    dec = np.asarray(Image.open(buf).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(dec.copy()).permute(2, 0, 1)


def optics(x: torch.Tensor, blur_sigma_px: float, vignetting: float) -> torch.Tensor:
    """A colour camera's lens: Gaussian blur (``blur_sigma_px`` pixels, replicate border; 0 = none) then radial
    vignetting (brightness ``1 - vignetting * r^2 / 2``, ``r`` = 1 at the image edge's midpoints) of
    ``(B, 3, H, W)``."""
    _, _, h, w = x.shape
    if blur_sigma_px > 0:
        k = 2 * math.ceil(3 * blur_sigma_px) + 1
        x = kornia.filters.gaussian_blur2d(x, (k, k), (blur_sigma_px, blur_sigma_px), border_type="replicate")
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    return x * (1.0 - vignetting * (xx * xx + yy * yy) / 2.0)


def phone_rgb(
    radiance: torch.Tensor,
    mask: torch.Tensor,
    generators: list[torch.Generator],
    cfg: SensorBConfig = SensorBConfig(),  # noqa: B008
) -> torch.Tensor:
    """Phone camera colour from a clean image.

    Args:
        radiance: ``(B, 3, H, W)`` float clean colour in ``[0, 1]`` (e.g. sensor A's shading).
        mask: ``(B, 1, H, W)`` bool subject/scene mask; colour is set to 0 outside it (original's background).
        generators: one ``torch.Generator`` per sample.
        cfg: sensor parameters.

    Returns:
        ``(B, 3, H, W)`` float32 in ``[0, 1]``, multiples of 1/255 (decoded JPEG), ``0`` outside ``mask``.
    """
    b, _, h, w = radiance.shape
    assert len(generators) == b, f"need one generator per sample, got {len(generators)} for batch {b}"
    x = optics(radiance.to(torch.float32), cfg.blur_sigma_px, cfg.vignetting)
    outs = []
    for i, g in enumerate(generators):
        gain = torch.exp(cfg.exposure_std * torch.randn((), generator=g) + cfg.wb_std * torch.randn(3, generator=g))
        gamma = cfg.gamma_min + (cfg.gamma_max - cfg.gamma_min) * torch.rand((), generator=g)
        noise = torch.randn((3, h, w), generator=g)
        xi = (x[i] * gain.view(3, 1, 1)).clamp(0, 1)
        xi = xi + (cfg.shot_noise_gain * xi + cfg.read_noise_std**2).sqrt() * noise
        xi = xi.clamp(0, 1) ** gamma
        xi = torch.where(mask[i], xi, torch.zeros_like(xi))
        xi = jpeg_roundtrip(xi, cfg.jpeg_quality)
        outs.append(torch.where(mask[i], xi, torch.zeros_like(xi)))
    return torch.stack(outs)


def sensor_b(
    rgb: torch.Tensor,
    depth: torch.Tensor,
    normal: torch.Tensor,
    albedo: torch.Tensor,
    camera: PinholeCamera,
    generators: list[torch.Generator],
    cfg: SensorBConfig = SensorBConfig(),  # noqa: B008
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sensor B on any batch of clean RGB-D with normals and albedo (e.g. from another renderer or eval code).

    Args:
        rgb: ``(B, 3, H, W)`` clean colour in ``[0, 1]``.
        depth: ``(B, 1, H, W)`` exact depth ``z``, metres, ``0`` = background.
        normal: ``(B, 3, H, W)`` unit normals, camera frame (OpenCV axes); their sign does not matter.
        albedo: ``(B, 3, H, W)`` reflectance in ``[0, 1]`` (``rgb`` is a reasonable stand-in if unknown).
        camera: intrinsics of the images (gives the view directions and the radial range).
        generators: one ``torch.Generator`` per sample, used first for the depth draws, then for the colour.
        cfg: sensor parameters.

    Returns:
        ``rgb (B, 3, H, W)`` float32 in ``[0, 1]`` (0 where ``depth`` is 0) and ``depth (B, 1, H, W)`` float32
        metres (0 = no return).
    """
    assert depth.shape[-2:] == (camera.height, camera.width), (
        f"camera is {camera.height}x{camera.width}, images are {tuple(depth.shape[-2:])}"
    )
    rd = camera.rays().permute(2, 0, 1)[None]  # (1, 3, H, W)
    view_cos = (normal * rd).sum(1, keepdim=True).abs()
    range_m = depth / rd[:, 2:3]
    lid = lidar_depth(depth, view_cos, albedo, generators, cfg, range_m)
    return phone_rgb(rgb, depth > 0, generators, cfg), lid.depth
