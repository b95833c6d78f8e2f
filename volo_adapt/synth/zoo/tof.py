"""``tof``: a randomised family of continuous-wave time-of-flight cameras (Kinect v2 / Azure Kinect / robot ToF-like).

Depth path, per sample, at the output resolution, on the radial range ``r`` (what a ToF pixel measures):

1. **Flying pixels** (mixed returns): at a depth edge (valid neighbours more than ``edge_jump_m`` apart in a 3x3
   window) a pixel integrates light from both surfaces; with probability ``flying_prob`` its range becomes
   ``w r + (1 - w) r_other`` with ``w ~ U(0, 1)`` and ``r_other`` the farthest-from-``r`` neighbour (Reynolds et
   al. 2011; Sabov and Krueger 2008). Edges against empty background (no return) do not mix.
2. **Multipath bias** near concave corners: light bounced off the adjacent surface arrives late, so the range is
   overestimated (Fuchs 2010; Jung et al. 2014; Freedman et al. 2014): ``+ mpi_strength * c * r`` with ``c`` in
   ``[0, 1]`` the concavity (normal spread in a window, where the pixel lies behind its neighbourhood's mean).
3. **Amplitude** ``a = (albedo / 0.5) * cos(incidence) / (r / 1 m)^2`` (relative to a 0.5-albedo, fronto-parallel
   target at 1 m): no return below ``min_amplitude``; noise std ``noise_ref_m / sqrt(a)`` (shot-noise limited phase
   noise grows as the inverse square root of the amplitude; Lange and Seitz 2001; Frank et al. 2009).
4. **Range wrap**: a single modulation frequency is ambiguous beyond ``ambiguity_m = c / (2 f_mod)``: the measured
   range is ``r mod ambiguity_m`` (30 MHz -> 5 m). Depth ``z`` is the wrapped range times ``z / r`` of the ray.
5. **Quantisation** to ``quantisation_m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from volo_adapt.synth.zoo.base import Family, SensorInputs, box_mean, luminance, neighbour_min_max, per_sample, quantise
from volo_adapt.synth.zoo.colour import ColourParams, apply_colour
from volo_adapt.synth.zoo.params import param

CORNER_SPREAD = 0.3
"""``1 - |mean normal|`` of a right-angle corner split half/half (1 - 0.707); normalises the concavity to 1."""


@dataclass(frozen=True)
class ToFParams(ColourParams):
    """Continuous-wave ToF depth + the camera's RGB module (more vignetting and noise than a phone)."""

    vignetting: float = param(0.3, (0.1, 0.5), "fraction", "brightness loss in the corners", (0.0, 0.95))
    """Relative brightness loss in the image corners, dimensionless fraction."""
    read_noise_std: float = param(0.006, (0.002, 0.015), "fraction", "signal-independent noise std", (0.0, 0.2))
    """Read-noise std in ``[0, 1]`` units (dimensionless fraction of full scale)."""
    ambiguity_m: float = param(5.0, (3.0, 8.0), "m", "unambiguous range: farther ranges wrap", (0.1, 1000.0))
    """Unambiguous range ``c / (2 f_mod)``, metres; the measured range is ``r mod ambiguity_m``."""
    noise_ref_m: float = param(0.004, (0.002, 0.01), "m", "range-noise std at amplitude 1", (0.0, 1.0))
    """Range-noise std for a 0.5-albedo fronto-parallel target at 1 m, metres; scales as ``1 / sqrt(amplitude)``."""
    min_amplitude: float = param(0.02, (0.01, 0.06), "fraction", "no return below this relative amplitude",
                                 (0.0, 1.0))
    """Relative amplitude below which the pixel is invalid (dark, far or grazing surfaces), fraction."""
    flying_prob: float = param(0.6, (0.3, 1.0), "fraction", "probability an edge pixel is a mixed return",
                               (0.0, 1.0))
    """Probability that a pixel at a depth edge becomes a flying pixel, fraction."""
    edge_jump_m: float = param(0.1, (0.05, 0.3), "m", "depth jump that makes a 3x3 window an edge", (0.0, 100.0))
    """Range difference between valid 3x3 neighbours above which the pixel is at a depth edge, metres."""
    mpi_strength: float = param(0.02, (0.0, 0.05), "fraction", "multipath range bias at a full concave corner",
                                (0.0, 0.5))
    """Multipath range overestimate at a right-angle concave corner, fraction of the range."""
    mpi_radius_px: int = param(3, (2, 6), "px", "window radius of the concavity estimate", (1, 64))
    """Radius of the window that estimates the concavity, output pixels."""
    quantisation_m: float = param(0.001, (0.001, 0.001), "m", "depth quantisation step", (0.0, 1.0))
    """Depth quantisation step, metres."""


def flying_pixels(r: torch.Tensor, gens: list[torch.Generator], p: ToFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixed returns at depth edges: ``(r', flying mask)``, both ``(B, 1, H, W)``; ``r`` radial range (0 = none)."""
    mn, mx = neighbour_min_max(r, 1)
    edge = (r > 0) & (mx - mn > p.edge_jump_m)
    other = torch.where(r - mn < mx - r, mx, mn)
    u = per_sample(gens, tuple(r.shape[1:]), "rand")
    w = per_sample(gens, tuple(r.shape[1:]), "rand")
    fly = edge & (u < p.flying_prob)
    return torch.where(fly, w * r + (1 - w) * other, r), fly


def concavity(z: torch.Tensor, normal: torch.Tensor, radius: int) -> torch.Tensor:
    """``(B, 1, H, W)`` in ``[0, 1]``: normal spread in the window where the pixel lies behind the window's mean."""
    v = (z > 0).to(z.dtype)
    cnt = box_mean(v, radius).clamp_min(1e-6)
    zmean = box_mean(z * v, radius) / cnt
    nmean = box_mean(normal * v, radius) / cnt
    spread = (1.0 - nmean.norm(dim=1, keepdim=True)).clamp(0, 1) / CORNER_SPREAD
    return torch.where((z > zmean + 1e-6) & (z > 0), spread.clamp(0, 1), torch.zeros_like(z))


def tof_depth(inputs: SensorInputs, p: ToFParams) -> torch.Tensor:
    """``(B, 1, S, S)`` float32 metres (0 = no return) of the ToF model (module docstring)."""
    buf = inputs.buf
    r_true, z_true = buf.range, buf.depth
    r, _ = flying_pixels(r_true, inputs.gen_depth, p)
    r = r * (1.0 + p.mpi_strength * concavity(z_true, buf.normal, p.mpi_radius_px))
    amp = (luminance(buf.albedo) / 0.5) * buf.view_cosine().clamp_min(0) / r_true.clamp_min(1e-6) ** 2
    n = per_sample(inputs.gen_depth, tuple(r.shape[1:]))
    r = r + p.noise_ref_m / amp.clamp_min(1e-6).sqrt() * n
    r = torch.remainder(r, p.ambiguity_m)
    ok = (r_true > 0) & (amp >= p.min_amplitude) & (r > 0)
    z = torch.where(ok, r * z_true / r_true.clamp_min(1e-6), torch.zeros_like(r))
    return quantise(z, p.quantisation_m).to(torch.float32)


def apply(inputs: SensorInputs, p: ToFParams) -> tuple[torch.Tensor, torch.Tensor]:
    """ToF depth and the depth camera's colour."""
    return apply_colour(inputs.rgb_clean, inputs.buf.mask, inputs.gen_rgb, p), tof_depth(inputs, p)


FAMILY = Family(
    name="tof",
    kind="time-of-flight",
    description="CW-ToF: flying pixels at edges, multipath bias in concave corners, amplitude-dependent noise "
                "and dropout, range wrap beyond the ambiguity distance.",
    params=ToFParams,
    apply=apply,
)
