"""Where depth is missing (holes) and what the colour camera looks like, from unpaired images alone.

**Regions** (per image, no mask needed): the *support* is every valid pixel plus every *enclosed* hole (an invalid
connected component, 8-connected, that does not touch the image border). The *silhouette band* is every pixel
within ``r`` px (``r = max(2, round(side / 64))``) of the support's boundary or of a depth jump between valid
neighbours (more than :data:`JUMP_REL` of the nearer depth). *Inside* is the support minus the band (the subject's
and the floor's interior); *background* is the rest (empty space connected to the border; invalid by
construction, so only its area is informative). Hole sizes are those of the enclosed components.

**When it fails.** A hole that reaches the image border counts as background; a scene with no empty background
(walls everywhere) has no background region and its far-layer dropouts count as inside; a subject cut by the
border has part of its silhouette there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

JUMP_REL = 0.1
"""Relative depth difference between valid neighbours that counts as a depth edge (silhouette)."""
SIZE_BINS = ((1, 1), (2, 4), (5, 16), (17, 64), (65, 256), (257, None))
"""Hole-size histogram bins, pixels (inclusive; None = no upper bound)."""


@dataclass(frozen=True)
class HoleStats:
    """Missing-depth statistics pooled over images.

    Attributes:
        invalid_inside: invalid fraction of the inside region (dimensionless).
        invalid_silhouette: invalid fraction of the silhouette band (dimensionless).
        invalid_background: invalid fraction of the background region (dimensionless; 1 by construction).
        area_inside, area_silhouette, area_background: each region's share of all pixels (dimensionless).
        holes_per_image: enclosed holes per image (count, mean).
        hole_size_px: ``{"p50": px, "p90": px, "max": px}`` of enclosed hole sizes (px), empty without holes.
        hole_size_hist: ``{"1": n, "2-4": n, ...}`` enclosed holes per size bin (count).
        band_px: silhouette band half-width used, px (of the most common image size).
    """

    invalid_inside: float | None
    invalid_silhouette: float | None
    invalid_background: float | None
    area_inside: float
    area_silhouette: float
    area_background: float
    holes_per_image: float
    hole_size_px: dict[str, float]
    hole_size_hist: dict[str, int]
    band_px: int


def label_components(mask: torch.Tensor, max_iter: int = 100_000) -> torch.Tensor:
    """8-connected component labels of a ``(H, W)`` bool mask: ``(H, W)`` int64, 0 outside, ``> 0`` inside.

    Propagates the largest pixel index through 3x3 max pooling until nothing changes (iterations ~ the largest
    component's diameter in px). Written here rather than ``kornia.contrib.connected_components``, which runs the same
    propagation for a fixed number of iterations with no convergence test (a component wider than that count comes
    back split into several labels) and labels in float32 (exact only up to 2**24 pixels).
    """
    h, w = mask.shape
    m = mask[None, None].float()
    lab = (torch.arange(1, h * w + 1, dtype=torch.float64).view(1, 1, h, w)) * m
    for _ in range(max_iter):
        nxt = F.max_pool2d(lab, 3, stride=1, padding=1) * m
        if torch.equal(nxt, lab):
            break
        lab = nxt
    return lab[0, 0].long()


def _dilate(mask: torch.Tensor, r: int) -> torch.Tensor:
    return F.max_pool2d(mask[None, None].float(), 2 * r + 1, stride=1, padding=r)[0, 0] > 0


class HoleAccumulator:
    """Pools :class:`HoleStats` over images (call :meth:`add` per depth map, then :meth:`result`)."""

    def __init__(self) -> None:
        self.counts = torch.zeros(3, dtype=torch.float64)  # pixels per region: inside, silhouette, background
        self.invalid = torch.zeros(3, dtype=torch.float64)
        self.sizes: list[int] = []
        self.images = 0
        self.bands: dict[int, int] = {}

    def add(self, depth: torch.Tensor) -> None:
        """Add one ``(H, W)`` depth map (metres, 0 = invalid)."""
        h, w = depth.shape
        r = max(2, round(max(h, w) / 64))
        valid = depth > 0
        lab = label_components(~valid)
        border = torch.cat([lab[0], lab[-1], lab[:, 0], lab[:, -1]]).unique()
        enclosed = (lab > 0) & ~torch.isin(lab, border)
        _, sizes = lab[enclosed].unique(return_counts=True)
        self.sizes += sizes.tolist()
        support = valid | enclosed
        pad = F.pad(depth[None, None], (1, 1, 1, 1), mode="replicate")[0, 0]
        jump = torch.zeros_like(valid)
        for dy, dx in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            nb = pad[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
            jump |= valid & (nb > 0) & ((nb - depth).abs() > JUMP_REL * torch.minimum(nb, depth))
        boundary = support & _dilate(~support, 1)
        band = _dilate(boundary | jump, r)
        regions = (support & ~band, band, ~support & ~band)
        for i, reg in enumerate(regions):
            self.counts[i] += int(reg.sum())
            self.invalid[i] += int((reg & ~valid).sum())
        self.images += 1
        self.bands[r] = self.bands.get(r, 0) + 1

    def result(self) -> HoleStats:
        """The pooled statistics (fractions None for an empty region)."""
        total = max(1.0, float(self.counts.sum()))
        frac = [round(float(i / c), 4) if c > 0 else None for i, c in zip(self.invalid, self.counts, strict=True)]
        area = [round(float(c) / total, 4) for c in self.counts]
        sizes = torch.tensor(self.sizes, dtype=torch.float64)
        pct = {} if not self.sizes else {
            "p50": float(sizes.median()), "p90": round(float(torch.quantile(sizes, 0.9)), 1), "max": float(sizes.max())
        }
        hist = {}
        for lo, hi in SIZE_BINS:
            name = str(lo) if lo == hi else (f"{lo}-{hi}" if hi else f">={lo}")
            hist[name] = sum(1 for s in self.sizes if s >= lo and (hi is None or s <= hi))
        band = max(self.bands, key=self.bands.get) if self.bands else 0
        return HoleStats(frac[0], frac[1], frac[2], area[0], area[1], area[2],
                         round(len(self.sizes) / max(1, self.images), 3), pct, hist, band)


@dataclass(frozen=True)
class ColourStats:
    """Colour statistics (values in ``[0, 1]`` as stored; 8-bit code = value * 255).

    Attributes:
        mean: per channel (R, G, B) mean over all pixels.
        std: per channel std over all pixels (scene contrast plus noise).
        noise_std: per channel noise std estimate (Immerkaer 1996, see :func:`immerkaer_noise`).
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    noise_std: tuple[float, float, float]


_LAPLACE = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]).view(1, 1, 3, 3)


def immerkaer_noise(rgb: torch.Tensor) -> torch.Tensor:
    """Per-channel noise std of a ``(3, H, W)`` image in ``[0, 1]``: ``(3,)`` float64.

    **Why it works** (J. Immerkaer, "Fast noise variance estimation", CVIU 1996): the 3x3 mask above is the
    difference of two Laplacians, so it cancels locally planar (and most edge) image content and leaves the noise;
    ``sigma = sqrt(pi / 2) / (6 (W - 2)(H - 2)) * sum |I * mask|``. **When it fails.** Fine texture counts as noise
    (an upper bound on textured scenes); JPEG and ISP denoising lower it; clipped (0 or 1) pixels hide noise.
    """
    x = rgb.double()[:, None]
    conv = F.conv2d(x, _LAPLACE.double())
    h, w = rgb.shape[-2:]
    return math.sqrt(math.pi / 2) / (6 * (w - 2) * (h - 2)) * conv.abs().sum(dim=(1, 2, 3))
