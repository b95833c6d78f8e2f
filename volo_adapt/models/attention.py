"""The gated self-attention block of VoloGAN (generator decoder and critic).

Unlike SAGAN's attention (a ``HW x HW`` matrix product), the original computes an *element-wise* attention map:

1. ``f, g, h = LN(conv1x1(x))`` with ``C // 8`` channels each (spectral norm, no bias; LN = per-pixel layer norm over
   channels, Keras' default ``axis=-1``);
2. ``s = f^T * g`` where ``f^T`` swaps the two spatial axes (``f[b, c, w, h]``), product element-wise;
3. ``beta = softmax(s)`` over the H axis (dim 2 in NCHW; axis 1 in Keras' NHWC);
4. ``o = LN(conv1x1(beta * h))`` back to ``C`` channels;
5. ``y = x + gate * o`` with a learnable non-negative scalar gate, initialised to 1.

Because of the spatial transpose the block needs square feature maps (``H == W``).

Gate parametrisation (a choice; the original constrains a Keras weight to be non-negative): we store an
unconstrained ``gate_raw`` and use ``gate = softplus(gate_raw)``, initialised to ``softplus^-1(1) = log(e - 1)``.
Softplus is smooth and never gets stuck at zero, unlike a clamp in the forward pass.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from volo_adapt.models.layers import LayerNorm2d, sn_conv


class GatedSelfAttention(nn.Module):
    """VoloGAN gated self-attention (element-wise attention map, softmax over H, residual with gate >= 0).

    Args:
        channels: input/output channels ``C``; the inner width is ``max(C // 8, 1)``.
        use_sn: spectral norm on the four 1x1 convs.

    Shapes:
        ``(B, C, S, S) -> (B, C, S, S)`` (square feature map required).
    """

    def __init__(self, channels: int, use_sn: bool = True) -> None:
        super().__init__()
        inner = max(channels // 8, 1)
        self.channels = channels
        self.f = nn.Sequential(sn_conv(channels, inner, 1, use_sn=use_sn), LayerNorm2d(inner))
        self.g = nn.Sequential(sn_conv(channels, inner, 1, use_sn=use_sn), LayerNorm2d(inner))
        self.h = nn.Sequential(sn_conv(channels, inner, 1, use_sn=use_sn), LayerNorm2d(inner))
        self.out = nn.Sequential(sn_conv(inner, channels, 1, use_sn=use_sn), LayerNorm2d(channels))
        self.gate_raw = nn.Parameter(torch.tensor(math.log(math.e - 1.0)))

    @property
    def gate(self) -> torch.Tensor:
        """The non-negative scalar gate ``softplus(gate_raw)`` (1 at initialisation)."""
        return F.softplus(self.gate_raw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dim() == 4 and x.shape[1] == self.channels, f"expected (B, {self.channels}, S, S), got {x.shape}"
        if x.shape[2] != x.shape[3]:
            raise ValueError(f"GatedSelfAttention needs a square feature map (it transposes H and W), got {x.shape}")
        f = self.f(x).transpose(2, 3)
        g = self.g(x)
        h = self.h(x)
        beta = torch.softmax(f * g, dim=2)
        o = self.out(beta * h)
        return x + self.gate.to(o.dtype) * o
