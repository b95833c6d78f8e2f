"""``phone_lidar``: a randomised family of phone/tablet LiDAR depth pipelines (iPhone/iPad Pro-like).

Depth path, per sample:

1. **Sensing grid** of ``round(grid_res * S)`` cells per side (ARKit's 256x192 depth over a 640x480 colour frame
   is 0.4, over the 1920x1440 frame 0.13). Each cell is point-sampled at a random **phase** inside the cell
   (``phase_x``, ``phase_y``; 0.5 = centre), so the grid is not registered to the colour pixels' centres.
2. **Missing returns** beyond ``max_range_m``, at incidence above ``grazing_deg`` and (with ``dark_dropout``
   probability) on dark albedo.
3. **Noise** ``sigma(z) = noise_a_m + noise_quad_m * (z / 1 m)^2`` per grid sample.
4. **Upsampling** to the output size by one of ``nearest`` (blocky), ``bilinear`` or ``bicubic`` (both including
   the background's zeros: depth tails at silhouettes, bicubic also over/undershoot) or ``joint_bilateral``
   (colour-guided joint bilateral upsampling, Kopf et al. 2007: edges follow the colour image, holes ignored).
5. **Quantisation** to ``quantisation_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from volo_adapt.synth.zoo.base import Family, SensorInputs, luminance, per_sample, quantise
from volo_adapt.synth.zoo.colour import ColourParams, apply_colour
from volo_adapt.synth.zoo.params import param

UPSAMPLERS = ("nearest", "bilinear", "bicubic", "joint_bilateral")


@dataclass(frozen=True)
class PhoneLidarParams(ColourParams):
    """Phone LiDAR + phone colour camera."""

    grid_res: float = param(0.3, (0.15, 0.5), "fraction", "depth grid side / image side", (0.02, 1.0))
    """Side of the native depth grid as a fraction of the output side (dimensionless)."""
    upsample: str = param("bilinear", UPSAMPLERS, "choice", "grid -> image upsampling pipeline")
    """Upsampling pipeline: nearest, bilinear, bicubic or joint_bilateral (colour-guided)."""
    phase_x: float = param(0.5, (0.0, 1.0), "fraction", "horizontal sample position inside a grid cell", (0.0, 1.0))
    """Horizontal position of the point sample inside its cell, fraction of a cell (0.5 = centre)."""
    phase_y: float = param(0.5, (0.0, 1.0), "fraction", "vertical sample position inside a grid cell", (0.0, 1.0))
    """Vertical position of the point sample inside its cell, fraction of a cell (0.5 = centre)."""
    max_range_m: float = param(5.0, (3.0, 6.0), "m", "no return beyond this radial range", (0.1, 100.0))
    """Maximum radial range, metres (Apple: "up to 5 m")."""
    noise_a_m: float = param(0.002, (0.001, 0.005), "m", "constant depth-noise std", (0.0, 1.0))
    """Constant part of the depth-noise std, metres."""
    noise_quad_m: float = param(0.004, (0.002, 0.01), "m", "depth-noise std added at 1 m, grows as z^2", (0.0, 1.0))
    """Quadratic part of the depth-noise std: metres at z = 1 m, scaled by ``(z / 1 m)^2``."""
    grazing_deg: float = param(75.0, (65.0, 85.0), "deg", "no return above this incidence angle", (0.0, 90.0))
    """Largest angle between surface normal and view ray that still returns, degrees."""
    dark_albedo: float = param(0.08, (0.04, 0.15), "fraction", "albedo luminance counted as dark", (0.0, 1.0))
    """Albedo luminance below which a surface counts as dark (proxy for the NIR reflectance), fraction."""
    dark_dropout: float = param(0.7, (0.3, 0.9), "fraction", "dropout probability on dark surfaces", (0.0, 1.0))
    """Probability that a grid sample on a dark surface returns nothing, fraction."""
    guide_sigma: float = param(0.1, (0.05, 0.2), "fraction", "joint-bilateral colour-similarity std", (1e-4, 1.0))
    """Std of the luminance difference in the joint bilateral weights (joint_bilateral only), fraction."""
    quantisation_m: float = param(0.001, (0.001, 0.001), "m", "depth quantisation step", (0.0, 1.0))
    """Depth quantisation step, metres."""

    def grid_size(self, h: int, w: int) -> tuple[int, int]:
        """``(gh, gw)`` of the native grid for an ``h x w`` image (at least 2 x 2)."""
        return max(2, round(self.grid_res * h)), max(2, round(self.grid_res * w))


def sample_index(n_out: int, n_grid: int, phase: float) -> torch.Tensor:
    """Output-pixel index of each grid cell's sample: ``floor((j + phase) * n_out / n_grid)``, ``(n_grid,)``."""
    j = torch.arange(n_grid, dtype=torch.float64)
    return ((j + phase) * n_out / n_grid).floor().clamp(0, n_out - 1).long()


def joint_bilateral(sensed: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, guide: torch.Tensor,
                    sigma_r: float) -> torch.Tensor:
    """Colour-guided joint bilateral upsampling of grid samples (Kopf et al. 2007), holes (0) ignored.

    ``sensed (B, 1, gh, gw)`` sampled at output pixels ``rows x cols``; ``guide (B, 1, H, W)`` in ``[0, 1]``.
    Window radius = one grid cell (every pixel has grid samples in it), spatial std = 0.75 cell; memory about
    ``6 * (2 cell + 1)^2 * H * W`` floats per sample. Returns ``(B, 1, H, W)`` metres, 0 where fewer than half the
    weight is valid.
    """
    b, _, h, w = guide.shape
    sparse, valid = torch.zeros_like(guide), torch.zeros_like(guide)
    sparse[:, :, rows[:, None], cols[None, :]] = sensed
    valid[:, :, rows[:, None], cols[None, :]] = (sensed > 0).to(guide.dtype)
    onsite = torch.zeros_like(guide)
    onsite[:, :, rows[:, None], cols[None, :]] = 1.0
    cell = max(h / sensed.shape[-2], w / sensed.shape[-1])
    r = max(1, math.ceil(cell))
    k = 2 * r + 1
    dy, dx = torch.meshgrid(torch.arange(-r, r + 1), torch.arange(-r, r + 1), indexing="ij")
    ws = torch.exp(-(dx * dx + dy * dy).float() / (2 * (0.75 * cell) ** 2)).view(1, k * k, 1)

    def unf(x: torch.Tensor) -> torch.Tensor:
        return F.unfold(F.pad(x, (r,) * 4), k)  # (B, k*k, H*W)

    wr = torch.exp(-((unf(guide) - guide.view(b, 1, h * w)) ** 2) / (2 * sigma_r**2))
    wt = ws * wr * unf(onsite)
    num = (wt * unf(sparse * valid)).sum(1)
    den_valid = (wt * unf(valid)).sum(1)
    den_all = wt.sum(1).clamp_min(1e-12)
    out = torch.where(den_valid > 0.5 * den_all, num / den_valid.clamp_min(1e-12), torch.zeros_like(num))
    return out.view(b, 1, h, w)


def lidar_depth(inputs: SensorInputs, p: PhoneLidarParams) -> torch.Tensor:
    """``(B, 1, S, S)`` float32 metres (0 = no return) of the phone LiDAR pipeline (module docstring)."""
    buf = inputs.buf
    _, _, h, w = buf.depth.shape
    gh, gw = p.grid_size(h, w)
    rows, cols = sample_index(h, gh, p.phase_y), sample_index(w, gw, p.phase_x)

    def grid(x: torch.Tensor) -> torch.Tensor:
        return x[:, :, rows[:, None], cols[None, :]]

    z, rng, cos = grid(buf.depth), grid(buf.range), grid(buf.view_cosine())
    lum = grid(luminance(buf.albedo))
    u = per_sample(inputs.gen_depth, (1, gh, gw), "rand")
    n = per_sample(inputs.gen_depth, (1, gh, gw))
    ok = (z > 0) & (rng <= p.max_range_m) & (cos >= math.cos(math.radians(p.grazing_deg)))
    ok &= ~((lum < p.dark_albedo) & (u < p.dark_dropout))
    noisy = (z + (p.noise_a_m + p.noise_quad_m * z * z) * n).clamp_min(1e-3)
    sensed = torch.where(ok, noisy, torch.zeros_like(z))
    if p.upsample == "joint_bilateral":
        up = joint_bilateral(sensed, rows, cols, luminance(inputs.rgb_clean), p.guide_sigma)
    elif p.upsample == "nearest":
        up = F.interpolate(sensed, size=(h, w), mode="nearest")
    else:
        up = F.interpolate(sensed, size=(h, w), mode=p.upsample, align_corners=False).clamp_min(0.0)
    return quantise(up, p.quantisation_m).to(torch.float32)


def apply(inputs: SensorInputs, p: PhoneLidarParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Phone LiDAR depth and phone colour."""
    return apply_colour(inputs.rgb_clean, inputs.buf.mask, inputs.gen_rgb, p), lidar_depth(inputs, p)


FAMILY = Family(
    name="phone_lidar",
    kind="phone LiDAR",
    description="Low-res LiDAR grid (random resolution, sampling phase), nearest/bilinear/bicubic/colour-guided "
                "upsampling, range/grazing/dark dropouts.",
    params=PhoneLidarParams,
    apply=apply,
)
