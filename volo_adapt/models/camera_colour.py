"""A colour camera's look as a few numbers per image: colour matrix, offset, tone curve and vignetting.

A camera changes colour through global stages (white balance and colour matrix, black level, tone curve), one
radial stage (vignetting, lens shading) and local ones (blur, demosaicking, compression, noise). The first three
have a handful of parameters per image; a per-pixel colour residual can express them too, but it can also paint
any local pattern, and in short adversarial runs on sensors whose colour barely differs from the source it did:
tints in patches and dark speckles that a classifier spots at once. :class:`GlobalColourModel` predicts the global
and radial stages from the backbone's features pooled over the image, so colour can only change the way a camera
pipeline changes it; the local stages stay with the sensor head's bases (low-pass, learned resampling) and its
sampled noise. It is a generic camera model (the stages of any ISP), not a particular sensor's constants: every
coefficient is predicted per image from the features and starts at zero (the identity).

Why by hand: kornia has fixed colour transforms, not one whose parameters a network predicts per image.
"""

from __future__ import annotations

import torch
from torch import nn

N_PARAMS = 9 + 3 + 3 + 3
"""Per image: 3x3 colour-matrix correction, RGB offset, tone-curve bend, vignetting strength (per channel)."""


class GlobalColourModel(nn.Module):
    """Per-image colour transform predicted from pooled features; the identity at initialisation.

    ``rgb' = rgb + A rgb + b + t * rgb (1 - rgb) + v * r^2 * rgb`` with ``A`` (3x3), ``b``, ``t`` and ``v`` (3 each)
    predicted by a zero-initialised linear layer from the features' spatial mean; ``r^2`` is the squared distance
    from the image centre (0 at the centre, 2 in the corners). ``t`` bends the tone curve while keeping 0 and 1
    fixed; ``v < 0`` darkens the corners.

    Args:
        features: channels of the backbone's feature map.

    Shapes:
        ``forward(rgb, feats, r2)``: ``rgb (B, 3, H, W)`` in [0, 1], ``feats (B, F, H, W)``, ``r2 (B, 1, H, W)``
        -> ``(B, 3, H, W)`` (not clamped: the sensor head clamps and applies validity).

    Example:
        >>> m = GlobalColourModel(8)
        >>> rgb = torch.rand(2, 3, 6, 6)
        >>> bool(torch.equal(m(rgb, torch.randn(2, 8, 6, 6), torch.rand(2, 1, 6, 6)), rgb))
        True
    """

    def __init__(self, features: int) -> None:
        super().__init__()
        self.predict = nn.Linear(features, N_PARAMS)
        nn.init.zeros_(self.predict.weight)
        nn.init.zeros_(self.predict.bias)

    def forward(self, rgb: torch.Tensor, feats: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
        p = self.predict(feats.float().mean(dim=(2, 3)))  # (B, N_PARAMS)
        b = rgb.shape[0]
        matrix = p[:, :9].view(b, 3, 3)
        offset, tone, vignette = (p[:, 9 + 3 * i : 12 + 3 * i].view(b, 3, 1, 1) for i in range(3))
        mixed = torch.einsum("bij,bjhw->bihw", matrix, rgb)
        return rgb + mixed + offset + tone * rgb * (1.0 - rgb) + vignette * r2 * rgb
