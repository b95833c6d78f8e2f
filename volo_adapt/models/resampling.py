"""Learned resampling: the image seen through a learned down-sampling and a learned up-sampling, per channel.

Many sensors measure at a lower resolution than the image they deliver and resample it (phone LiDAR and ToF
depth upsampled to the colour frame, a colour camera's demosaicking and compression blocks, a stereo matcher's
window); *how* they resample differs from device to device and is part of what a critic recognises. A
convolutional backbone cannot easily produce such textures: they are tied to a sampling lattice, while the
backbone is translation-equivariant. :class:`LearnedResampling` offers, for each integer factor ``s``, a basis
``up_s(down_s(x))`` whose down- and up-sampling kernels are parameters, learned from the target data through the
adversarial loss like every other weight. Nothing in it is a particular sensor's pipeline: the kernels start as a
generic choice (an ``s x s`` box average down, the standard bilinear transposed-convolution kernel up, so the basis
starts as a smooth low-pass of ``x``) and move wherever the target's statistics pull them (towards nearest-
neighbour blocks, sharper interpolation, ringing, a shifted phase within the ``2s`` kernel support).

Limits, stated honestly: the lattice is the image's own at integer factors (2, 3, 4, ...); a sensor whose native
grid is a non-integer fraction of the image (e.g. 0.4) is approximated by the nearest factors' kernels, not
reproduced. Why by hand: no library offers a learnable per-channel down/up pair with this initialisation; torch's
``Conv2d``/``ConvTranspose2d`` do the arithmetic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def bilinear_upsampling_kernel(factor: int) -> torch.Tensor:
    """``(k, k)`` float32, ``k = 2 factor - factor % 2``: the transposed-convolution kernel of bilinear upsampling.

    The outer product of a triangle of half-width ``factor``; its ``factor``-strided phases each sum to 1, so a
    constant image stays constant away from the borders.

    Example:
        >>> bilinear_upsampling_kernel(2)[0]
        tensor([0.0625, 0.1875, 0.1875, 0.0625])
    """
    k = 2 * factor - factor % 2
    centre = (factor - 1) if k % 2 == 1 else (factor - 0.5)
    tri = 1.0 - (torch.arange(k, dtype=torch.float32) - centre).abs() / factor
    return tri[:, None] * tri[None, :]


class LearnedResampling(nn.Module):
    """Bases ``up_s(down_s(x))`` with learned per-channel kernels, one per factor ``s``.

    Args:
        channels: image channels; every channel has its own kernels (depthwise convolutions).
        factors: integer factors ``>= 2``.

    Shapes:
        ``forward(x)``: ``(B, channels, H, W)`` float -> list of ``len(factors)`` tensors ``(B, channels, H, W)``.
        ``x`` is edge-padded by one cell of ``s`` pixels (and to a multiple of ``s``) and the result cropped back,
        so any ``H, W`` work and a constant image stays constant up to its borders.
        Invalid pixels (0) are resampled like any other value, as a sensor's own resampling mixes them in.

    Example:
        >>> r = LearnedResampling(4, (2, 3))
        >>> [tuple(b.shape) for b in r(torch.rand(1, 4, 10, 11))]
        [(1, 4, 10, 11), (1, 4, 10, 11)]
        >>> bool(torch.allclose(r(torch.full((1, 4, 12, 12), 0.3))[1], torch.tensor(0.3)))
        True
    """

    def __init__(self, channels: int, factors: Sequence[int]) -> None:
        super().__init__()
        self.channels = int(channels)
        self.factors = tuple(int(f) for f in factors)
        if any(f < 2 for f in self.factors):
            raise ValueError(f"resample factors must be integers >= 2, got {list(factors)}")
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for s in self.factors:
            down = nn.Conv2d(channels, channels, s, stride=s, groups=channels, bias=False)
            nn.init.constant_(down.weight, 1.0 / (s * s))
            up = nn.ConvTranspose2d(channels, channels, 2 * s - s % 2, stride=s, padding=s // 2, groups=channels,
                                    bias=False)
            with torch.no_grad():
                up.weight.copy_(bilinear_upsampling_kernel(s).expand_as(up.weight))
            self.down.append(down)
            self.up.append(up)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        out = []
        for s, down, up in zip(self.factors, self.down, self.up, strict=True):
            # one low-resolution cell of edge padding on every side (and up to a multiple of s): the up-sampling
            # kernel then has full support at the image border, so borders are not darkened
            padded = F.pad(x, (s, s + (-w % s), s, s + (-h % s)), mode="replicate")
            out.append(up(down(padded))[..., s : s + h, s : s + w])
        return out
