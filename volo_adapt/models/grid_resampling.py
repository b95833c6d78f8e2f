"""Learned resampling through a grid of any (fractional) cell size: the basis for an estimated native grid.

:class:`~volo_adapt.models.resampling.LearnedResampling` works on the image's own lattice at integer factors; a
sensor whose native grid is 6 cells across a 64-pixel image (10.67 px per cell) falls between its factors 10 and
11, and a basis on the wrong lattice puts its block edges and interpolation kinks where the target has none.
:class:`GridResampling` takes the cell side in pixels as a float (``model.sensor.native_cell_px``, estimated from
the target set by ``volo data inspect``'s grid analysis, volo_adapt/training/target_grid.py) and builds
``up(down(x))`` with *continuous* learned kernels:

* cell ``k`` of an axis of ``L`` pixels is centred at ``(k + 0.5) c - 0.5 + phase c`` pixels (``c`` = cell side;
  ``phase`` = a learned offset, fraction of a cell, 0 at initialisation = the lattice of a resize from ``L / c``
  cells with pixel-centre alignment); cells cover the axis plus one cell beyond each end;
* a kernel is a function of the distance ``d`` (in cells) between a pixel centre and a cell centre, piecewise
  linear between learned taps every :data:`TAP_STEP` cells over ``|d| <= SUPPORT_CELLS``, zero beyond;
* down-sampling: each cell is the kernel-weighted mean of the pixels (weights normalised per cell); up-sampling:
  each pixel is the kernel-weighted mean of the cells (normalised per pixel), so a constant image stays constant;
* separable (the same kernels along rows and columns), per channel.

At initialisation the down kernel is a one-cell box (its edges ramped over one tap step) and the up kernel a
one-cell tent (about an area average, then bilinear interpolation): a generic smooth low-pass on the estimated
lattice. Training moves the taps (towards
nearest-neighbour blocks, sharper or ringing interpolation, a wider footprint) and the phase wherever the target's
statistics pull them. Nothing in it is a particular sensor's pipeline; the lattice's pitch is the only number that
comes from the data.

Why by hand: no library offers learnable continuous resampling kernels on a fractional lattice; the arithmetic is
four small matrix products (``einsum``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SUPPORT_CELLS = 2.0
"""Half-width of both kernels, cells (a footprint of up to two cells either side: bicubic-like reach)."""
TAP_STEP = 0.125
"""Spacing of the learned kernel taps, cells."""
MIN_CELL_PX = 1.5
"""Smallest cell side accepted, pixels (finer is the image's own resolution)."""


def _taps(kind: str) -> torch.Tensor:
    """``(T,)`` float32 initial taps at ``-SUPPORT .. SUPPORT`` cells: ``box`` (one cell) or ``tent`` (one cell)."""
    t = torch.linspace(-SUPPORT_CELLS, SUPPORT_CELLS, round(2 * SUPPORT_CELLS / TAP_STEP) + 1)
    if kind == "box":
        return (t.abs() < 0.5).float() + 0.5 * (t.abs() == 0.5).float()
    return (1.0 - t.abs()).clamp_min(0.0)


def evaluate_kernel(taps: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear kernel values, one kernel per channel.

    Args:
        taps: ``(C, T)`` values at ``-SUPPORT_CELLS + i TAP_STEP`` cells.
        d: ``(C, R, K)`` distances, cells.

    Returns:
        ``(C, R, K)``: each channel's kernel at its ``d`` (0 outside the support); differentiable in ``taps`` and
        ``d``.

    Example:
        >>> taps = _taps("tent")[None]
        >>> evaluate_kernel(taps, torch.tensor([[[0.0, 0.5, -0.75, 3.0]]]))
        tensor([[[1.0000, 0.5000, 0.2500, 0.0000]]])
    """
    n = taps.shape[1]
    pos = (d + SUPPORT_CELLS) / TAP_STEP
    inside = (pos >= 0) & (pos <= n - 1)
    pos = pos.clamp(0, n - 1)
    i0 = pos.detach().floor().long().clamp_max(n - 2)
    w = pos - i0
    flat = i0.reshape(i0.shape[0], -1)
    lo = taps.gather(1, flat).view_as(i0)
    hi = taps.gather(1, flat + 1).view_as(i0)
    return (lo * (1 - w) + hi * w) * inside


def _normalised(k: torch.Tensor, dim: int) -> torch.Tensor:
    s = k.sum(dim, keepdim=True)
    return k / torch.where(s.abs() > 1e-4, s, torch.full_like(s, 1e-4))


class GridResampling(nn.Module):
    """``up(down(x))`` through a grid of ``cell_px``-pixel cells with learned continuous kernels (module docstring).

    Args:
        channels: image channels; each has its own kernels and phase.
        cell_px: cell side, pixels (float ``>= MIN_CELL_PX``).

    Shapes:
        ``forward(x)``: ``(B, channels, H, W)`` float -> ``(B, channels, H, W)`` (any ``H, W``). Invalid pixels (0)
        are resampled like any other value, as a sensor's own resampling mixes them in.

    Example:
        >>> r = GridResampling(4, 10.67)
        >>> tuple(r(torch.rand(2, 4, 30, 41)).shape)
        (2, 4, 30, 41)
        >>> bool(torch.allclose(r(torch.full((1, 4, 32, 32), 0.3)), torch.tensor(0.3), atol=1e-5))
        True
    """

    def __init__(self, channels: int, cell_px: float) -> None:
        super().__init__()
        if not cell_px >= MIN_CELL_PX:
            raise ValueError(f"grid cell must be >= {MIN_CELL_PX} px, got {cell_px}")
        self.channels = int(channels)
        self.cell_px = float(cell_px)
        self.down_taps = nn.Parameter(_taps("box").expand(channels, -1).clone())
        self.up_taps = nn.Parameter(_taps("tent").expand(channels, -1).clone())
        self.phase = nn.Parameter(torch.zeros(channels))

    def pad_px(self) -> int:
        """Replicate padding on each side, pixels: the outermost cells (one beyond each end) lie inside it."""
        return math.ceil((1.5 + SUPPORT_CELLS) * self.cell_px) + 1

    def matrices(self, length: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(down, up)`` of one axis of ``length`` pixels: ``(C, K, length + 2 pad)`` (over the padded axis) and
        ``(C, length, K)``, fp32; rows normalised to sum 1. ``length`` may be a traced size (exports): every size
        computation is a torch op, so a traced graph works at other sizes."""
        c, pad = self.cell_px, self.pad_px()
        dev = self.phase.device
        # ceil(length / c) in integer arithmetic on a rational c (1/1000 px): stays symbolic under export tracing
        p = round(c * 1000)
        cells = (length * 1000 + p - 1) // p
        k = torch.arange(-1, cells + 1, device=dev, dtype=torch.float32)
        centres = (k[None, :] + 0.5 + self.phase.float()[:, None]) * c - 0.5  # (C, K), original pixel coordinates
        x_all = torch.arange(-pad, length + pad, device=dev, dtype=torch.float32)
        d_all = (x_all[None, :, None] - centres[:, None, :]) / c  # (C, length + 2 pad, K)
        down = evaluate_kernel(self.down_taps.float(), d_all)
        up = evaluate_kernel(self.up_taps.float(), d_all[:, pad : pad + length])
        return _normalised(down, 1).transpose(1, 2), _normalised(up, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        pad = self.pad_px()
        down_y, up_y = self.matrices(h)
        down_x, up_x = self.matrices(w)  # always both: a size comparison would not survive tracing
        # replicate padding: cells at the borders average real edge values, not zeros (no darkened borders)
        xf = F.pad(x.float(), (pad, pad, pad, pad), mode="replicate")
        low = torch.einsum("ckh,bchw->bckw", down_y, xf)
        low = torch.einsum("bckw,cjw->bckj", low, down_x)
        out = torch.einsum("chk,bckj->bchj", up_y, low)
        return torch.einsum("bchj,cwj->bchw", out, up_x).to(x.dtype)
