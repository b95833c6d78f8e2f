"""``active_stereo``: a randomised family of active stereo / structured-light cameras (RealSense D4xx, Kinect v1).

Depth comes from a disparity ``d = f b / z`` between the camera and a second view (a second camera or the
projector) displaced by the baseline ``b`` along ``+x``. Per sample, at the output resolution:

1. **Occlusion shadows**: a surface point hidden from the second view by a nearer surface has no match. With the
   second view to the right, the shadow is a band of width ``d_fg - d_bg`` (output pixels) on the LEFT of each
   foreground edge (the side away from the second view). Computed per row: pixel ``u`` is visible iff its
   coordinate in the second view ``u - d(u)`` is smaller than that of every pixel to its right.
2. **No return** on dark surfaces (albedo luminance below ``dark_albedo``: the IR pattern is absorbed), and where
   the matching texture is too weak: ``local albedo contrast + pattern_contrast * albedo * cos / (z / 1 m)^2``
   below ``min_texture`` (texture-less surfaces far from the projector); outside ``[min_depth_m, max_depth_m]``.
3. **Disparity noise and quantisation** in the sensor's native pixels (``f_native = fx * native_width_px / S``):
   ``d' = round((d + disparity_noise_px * N(0, 1)) / disparity_step_px) * disparity_step_px``, ``z' = f b / d'``,
   so the depth error grows as ``z^2 / (f b)`` (Khoshelham and Elberink 2012; Nguyen et al. 2012; Keselman et al.
   2017) and depth takes only the discrete values ``f b / (k * step)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from volo_adapt.synth.zoo.base import Family, SensorInputs, box_mean, luminance, per_sample
from volo_adapt.synth.zoo.colour import ColourParams, apply_colour
from volo_adapt.synth.zoo.params import param

SHADOW_TOLERANCE_PX = 0.5
"""Slack (output pixels) of the visibility test, so a slanted surface does not shadow itself."""


@dataclass(frozen=True)
class StereoParams(ColourParams):
    """Active stereo / structured-light depth + the camera's RGB module."""

    vignetting: float = param(0.25, (0.1, 0.45), "fraction", "brightness loss in the corners", (0.0, 0.95))
    """Relative brightness loss in the image corners, dimensionless fraction."""
    baseline_m: float = param(0.05, (0.03, 0.095), "m", "stereo / projector baseline along +x", (0.001, 1.0))
    """Baseline between the camera and the second view (camera or projector), metres (D435 50 mm, Kinect v1 75)."""
    native_width_px: int = param(848, (640, 1280), "px", "width of the native depth image", (16, 8192))
    """Width of the sensor's own depth image, pixels; disparities are in these pixels."""
    disparity_noise_px: float = param(0.08, (0.05, 0.2), "px", "disparity noise std (native px)", (0.0, 10.0))
    """Std of the sub-pixel disparity error, native pixels."""
    disparity_step_px: float = param(0.125, (0.03125, 0.125), "px", "disparity quantisation step", (1e-4, 4.0))
    """Disparity quantisation step, native pixels (Kinect v1: 1/8 px)."""
    min_depth_m: float = param(0.3, (0.2, 0.5), "m", "no return closer than this", (0.0, 100.0))
    """Minimum depth (largest searched disparity), metres."""
    max_depth_m: float = param(6.0, (4.0, 10.0), "m", "no return farther than this", (0.01, 1000.0))
    """Maximum depth, metres."""
    dark_albedo: float = param(0.05, (0.02, 0.1), "fraction", "no return on albedo luminance below this",
                               (0.0, 1.0))
    """Albedo luminance below which the projected pattern is not seen, fraction."""
    pattern_contrast: float = param(0.3, (0.1, 0.6), "fraction", "projected-pattern contrast at 1 m", (0.0, 10.0))
    """Contrast the projector adds on a white fronto-parallel surface at 1 m (falls as 1/z^2), fraction."""
    min_texture: float = param(0.03, (0.01, 0.06), "fraction", "matching fails below this local contrast",
                               (0.0, 10.0))
    """Effective local contrast below which stereo matching fails, fraction."""
    texture_radius_px: int = param(2, (1, 3), "px", "window radius of the local-contrast estimate", (1, 32))
    """Radius of the matching window that estimates the local contrast, output pixels."""


def visible_from_second_view(disp_out: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: pixels seen by the second view at ``+x``; ``disp_out``: output-px disparity, 0 = none."""
    w = disp_out.shape[-1]
    u = torch.arange(w, dtype=disp_out.dtype).view(1, 1, 1, w)
    up = torch.where(disp_out > 0, u - disp_out, torch.full_like(disp_out, float("inf")))
    suffix = torch.flip(torch.cummin(torch.flip(up, [-1]), dim=-1).values, [-1])
    right_min = torch.cat([suffix[..., 1:], torch.full_like(suffix[..., :1], float("inf"))], dim=-1)
    return up < right_min + SHADOW_TOLERANCE_PX


def matchable(inputs: SensorInputs, p: StereoParams) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: enough texture (albedo or projected pattern) and not dark."""
    buf = inputs.buf
    lum = luminance(buf.albedo)
    std = (box_mean(lum * lum, p.texture_radius_px) - box_mean(lum, p.texture_radius_px) ** 2).clamp_min(0).sqrt()
    z = buf.depth.clamp_min(1e-6)
    pattern = p.pattern_contrast * lum * buf.view_cosine().clamp_min(0) / (z * z)
    return (lum >= p.dark_albedo) & (std + pattern >= p.min_texture)


def stereo_depth(inputs: SensorInputs, p: StereoParams) -> torch.Tensor:
    """``(B, 1, S, S)`` float32 metres (0 = no return) of the active stereo model (module docstring)."""
    buf = inputs.buf
    z = buf.depth
    w = z.shape[-1]
    fx = inputs.camera.fx
    valid = z > 0
    disp_out = torch.where(valid, fx * p.baseline_m / z.clamp_min(1e-6), torch.zeros_like(z))
    f_nat_b = fx * p.native_width_px / w * p.baseline_m
    d = f_nat_b / z.clamp_min(1e-6) + p.disparity_noise_px * per_sample(inputs.gen_depth, tuple(z.shape[1:]))
    dq = torch.round(d / p.disparity_step_px) * p.disparity_step_px
    zq = f_nat_b / dq.clamp_min(1e-9)
    ok = valid & (dq > 0) & visible_from_second_view(disp_out) & matchable(inputs, p)
    ok &= (zq >= p.min_depth_m) & (zq <= p.max_depth_m)
    return torch.where(ok, zq, torch.zeros_like(zq)).to(torch.float32)


def apply(inputs: SensorInputs, p: StereoParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Active stereo depth and the camera's colour."""
    return apply_colour(inputs.rgb_clean, inputs.buf.mask, inputs.gen_rgb, p), stereo_depth(inputs, p)


FAMILY = Family(
    name="active_stereo",
    kind="active stereo / structured light",
    description="Disparity noise and quantisation (error ~ z^2), occlusion shadows beside foreground edges, "
                "no return on dark or texture-less surfaces.",
    params=StereoParams,
    apply=apply,
)
