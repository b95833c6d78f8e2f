"""``filtered_depth``: a randomised family of consumer depth cameras whose driver filters the depth map.

RealSense D4xx (librealsense post-processing: spatial edge-preserving filter, temporal filter, hole filling) and
Kinect-style pipelines (bilateral smoothing, hole filling) do not deliver raw depth: large flat areas are smooth,
depth edges stay sharp, and holes are filled with a neighbour's value, so the errors are spatially correlated
streaks and plateaus rather than per-pixel noise and dropouts. Per sample, at the output resolution:

1. **Raw depth** of a structured-light / stereo camera: noise std ``noise_ref_m * (z / 1 m)^2`` (axial noise grows
   quadratically with depth), scaled by the **temporal filter**'s stationary factor ``sqrt(a / (2 - a))`` (an
   exponential moving average with weight ``a = temporal_alpha`` on the newest frame of white noise); no return
   on dark surfaces (albedo luminance below ``dark_albedo``), beyond ``max_depth_m``, at depth edges (valid 3x3
   neighbours more than ``edge_jump_m`` apart) and in dropped cells (``hole_prob`` of ``hole_size_px``-sided cells:
   IR speckle, reflections).
2. **Spatial edge-preserving filter** (librealsense's domain-transform-like recursive filter): along each row left
   to right, then right to left, then along each column down and up, ``x[i] <- a x[i] + (1 - a) x[i-1]`` with
   ``a = spatial_alpha`` where both are valid and ``|x[i] - x[i-1]| < spatial_delta_m``; ``spatial_iterations``
   times. Holes are neither used nor filled; steps larger than the delta are kept.
3. **Hole filling** within ``fill_radius_px`` of a valid pixel: ``left`` (each hole takes the nearest valid value
   to its left in the row, librealsense ``fill_from_left``), ``nearest`` / ``farthest`` (grown from the valid 3x3
   neighbours closest to / farthest from the camera, one pixel per step, ``nearest_from_around`` /
   ``farest_from_around``).
4. **Quantisation** to ``quantisation_m``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from volo_adapt.synth.zoo.base import Family, SensorInputs, luminance, neighbour_min_max, per_sample, quantise
from volo_adapt.synth.zoo.colour import ColourParams, apply_colour
from volo_adapt.synth.zoo.params import param

HOLE_FILLS = ("left", "nearest", "farthest")
"""Hole-filling modes (librealsense ``fill_from_left``, ``nearest_from_around``, ``farest_from_around``)."""


@dataclass(frozen=True)
class FilteredParams(ColourParams):
    """Filtered consumer depth (raw structured light / stereo, spatial + temporal filters, hole filling) + RGB."""

    vignetting: float = param(0.25, (0.1, 0.45), "fraction", "brightness loss in the corners", (0.0, 0.95))
    """Relative brightness loss in the image corners, dimensionless fraction."""
    noise_ref_m: float = param(0.002, (0.001, 0.004), "m", "raw depth-noise std at 1 m (grows as z^2)", (0.0, 1.0))
    """Raw (unfiltered) axial depth-noise std at 1 m, metres; the std at depth ``z`` is ``noise_ref_m z^2``."""
    temporal_alpha: float = param(0.4, (0.2, 0.8), "fraction", "temporal-filter weight of the newest frame",
                                  (0.01, 1.0))
    """Weight of the newest frame in the temporal moving average (1 = no temporal filter), fraction."""
    dark_albedo: float = param(0.05, (0.02, 0.1), "fraction", "no return on albedo luminance below this",
                               (0.0, 1.0))
    """Albedo luminance below which the camera gets no return, fraction."""
    max_depth_m: float = param(6.0, (4.0, 10.0), "m", "no return farther than this", (0.01, 1000.0))
    """Maximum depth, metres."""
    edge_jump_m: float = param(0.1, (0.05, 0.3), "m", "depth jump that makes a 3x3 window an edge hole",
                               (0.0, 100.0))
    """Depth difference between valid 3x3 neighbours above which the raw pixel is invalid, metres."""
    hole_prob: float = param(0.03, (0.0, 0.08), "fraction", "fraction of dropped cells (speckle, reflections)",
                             (0.0, 1.0))
    """Probability that a ``hole_size_px`` cell of the raw depth has no return, fraction."""
    hole_size_px: int = param(3, (2, 6), "px", "side of a dropped cell", (1, 1024))
    """Side of a dropped cell, output pixels."""
    spatial_alpha: float = param(0.5, (0.25, 0.75), "fraction", "spatial-filter weight of the current pixel",
                                 (0.0, 1.0))
    """Weight of the current pixel in the recursive spatial filter (1 = no smoothing), fraction."""
    spatial_delta_m: float = param(0.05, (0.02, 0.1), "m", "no smoothing across depth steps larger than this",
                                   (0.0, 100.0))
    """Edge threshold of the spatial filter, metres: neighbours farther apart are not averaged."""
    spatial_iterations: int = param(2, (1, 3), "dimensionless", "spatial-filter passes", (0, 16))
    """Number of spatial-filter iterations (each: 4 directional passes), dimensionless count."""
    hole_fill: str = param("left", HOLE_FILLS, "choice", "driver hole-filling mode")
    """Hole-filling mode: ``left``, ``nearest`` or ``farthest`` (module docstring)."""
    fill_radius_px: int = param(4, (1, 8), "px", "holes farther than this from a valid pixel stay holes",
                                (0, 4096))
    """Largest distance from a valid pixel at which a hole is filled, output pixels."""
    quantisation_m: float = param(0.001, (0.001, 0.001), "m", "depth quantisation step", (0.0, 1.0))
    """Depth quantisation step, metres."""


def temporal_std_factor(alpha: float) -> float:
    """Std of an exponential moving average (weight ``alpha`` on the newest sample) of unit white noise."""
    return math.sqrt(alpha / (2.0 - alpha))


def dropped_cells(gens: list[torch.Generator], size: int, cell: int, prob: float) -> torch.Tensor:
    """``(B, 1, size, size)`` bool: ``cell``-sided blocks dropped with probability ``prob`` (one draw per cell)."""
    n = -(-size // cell)
    u = per_sample(gens, (1, n, n), "rand")
    blocks = u.repeat_interleave(cell, dim=-2).repeat_interleave(cell, dim=-1)
    return blocks[..., :size, :size] < prob


def raw_depth(inputs: SensorInputs, p: FilteredParams) -> torch.Tensor:
    """``(B, 1, S, S)`` float32 metres (0 = no return): the unfiltered depth (step 1 of the module docstring)."""
    buf = inputs.buf
    z = buf.depth
    noise = per_sample(inputs.gen_depth, tuple(z.shape[1:]))
    holes = dropped_cells(inputs.gen_depth, z.shape[-1], p.hole_size_px, p.hole_prob)
    raw = z + p.noise_ref_m * temporal_std_factor(p.temporal_alpha) * z * z * noise
    mn, mx = neighbour_min_max(z, 1)
    ok = (z > 0) & (z <= p.max_depth_m) & (luminance(buf.albedo) >= p.dark_albedo) & (mx - mn <= p.edge_jump_m)
    ok &= ~holes & (raw > 0)
    return torch.where(ok, raw, torch.zeros_like(raw)).to(torch.float32)


def _recursive_rows(x: torch.Tensor, alpha: float, delta: float) -> torch.Tensor:
    """One left-to-right pass of the recursive edge-preserving filter along the last dimension."""
    prev = x[..., 0]
    cols = [prev]
    for u in range(1, x.shape[-1]):
        cur = x[..., u]
        ok = (cur > 0) & (prev > 0) & ((cur - prev).abs() < delta)
        prev = torch.where(ok, alpha * cur + (1.0 - alpha) * prev, cur)
        cols.append(prev)
    return torch.stack(cols, dim=-1)


def spatial_filter(depth: torch.Tensor, alpha: float, delta_m: float, iterations: int) -> torch.Tensor:
    """Edge-preserving smoothing of ``(B, 1, H, W)`` metres (0 = hole, kept); see step 2 of the module docstring."""
    x = depth
    for _ in range(iterations):
        x = _recursive_rows(x, alpha, delta_m)
        x = _recursive_rows(x.flip(-1), alpha, delta_m).flip(-1)
        x = _recursive_rows(x.transpose(-1, -2), alpha, delta_m)
        x = _recursive_rows(x.flip(-1), alpha, delta_m).flip(-1).transpose(-1, -2)
    return x


def fill_from_left(depth: torch.Tensor, radius: int) -> torch.Tensor:
    """Each hole takes the nearest valid value to its left in its row, if at most ``radius`` pixels away."""
    w = depth.shape[-1]
    u = torch.arange(w).view(1, 1, 1, w).expand_as(depth)
    last = torch.where(depth > 0, u, torch.full_like(u, -1)).cummax(dim=-1).values
    left = depth.gather(-1, last.clamp_min(0))
    fill = (depth <= 0) & (last >= 0) & (u - last <= radius)
    return torch.where(fill, left, depth)


def fill_from_around(depth: torch.Tensor, radius: int, nearest: bool) -> torch.Tensor:
    """Grow valid depth into holes one pixel per step (``radius`` steps) from the valid 3x3 neighbour closest to
    (``nearest``) or farthest from the camera."""
    x = depth
    for _ in range(radius):
        mn, mx = neighbour_min_max(x, 1)
        grow = mn if nearest else mx
        hole = x <= 0
        if not (hole & (grow > 0)).any():
            break
        x = torch.where(hole, grow, x)
    return x


def fill_holes(depth: torch.Tensor, mode: str, radius: int) -> torch.Tensor:
    """``(B, 1, H, W)`` metres with holes (0) filled by ``mode`` (:data:`HOLE_FILLS`) within ``radius`` pixels."""
    if mode == "left":
        return fill_from_left(depth, radius)
    if mode in ("nearest", "farthest"):
        return fill_from_around(depth, radius, nearest=mode == "nearest")
    raise ValueError(f"hole_fill {mode!r}: must be one of {', '.join(HOLE_FILLS)}")


def filtered_depth(inputs: SensorInputs, p: FilteredParams) -> torch.Tensor:
    """``(B, 1, S, S)`` float32 metres (0 = no return) of the filtered camera (module docstring)."""
    x = spatial_filter(raw_depth(inputs, p), p.spatial_alpha, p.spatial_delta_m, p.spatial_iterations)
    x = fill_holes(x, p.hole_fill, p.fill_radius_px)
    return quantise(x, p.quantisation_m).to(torch.float32)


def apply(inputs: SensorInputs, p: FilteredParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Filtered depth and the camera's colour."""
    return apply_colour(inputs.rgb_clean, inputs.buf.mask, inputs.gen_rgb, p), filtered_depth(inputs, p)


FAMILY = Family(
    name="filtered_depth",
    kind="filtered consumer depth camera",
    description="Driver-filtered structured light / stereo (RealSense post-processing-like): z^2 noise reduced by "
                "temporal and edge-preserving spatial filters, holes filled from the left or the neighbours.",
    params=FilteredParams,
    apply=apply,
)
