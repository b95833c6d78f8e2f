"""The 70x70 PatchGAN critic of pix2pix / CycleGAN, for any channel count.

``C64-C128-C256-C512`` with 4x4 kernels (``n_layers = 3``: three stride-2 convs, then a stride-1 conv of 512 and a
stride-1 conv to one channel), LeakyReLU(0.2), instance norm (not affine) everywhere except the first layer, conv
biases on, padding 1 (zeros). Raw scores, no sigmoid. Optional spectral norm on every conv (off by default, as in
CycleGAN).

Parameter count at ``base=64, n_layers=3`` and 4 input channels: 2,765,761 (checked in
``tests/models/test_param_counts.py``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from volo_adapt.models.layers import check_input


class PatchGANCritic(nn.Module):
    """PatchGAN critic; ``forward`` returns a one-element list ``[scores]``.

    Args:
        in_channels: input channels.
        base: width of the first layer (64).
        n_layers: stride-2 convs (3 gives the 70x70 receptive field).
        use_spectral_norm: wrap every conv in spectral norm.

    Shapes:
        ``(B, in_channels, H, W)`` float in [0, 1] -> ``[(B, 1, H / 2**n_layers - 2, W / 2**n_layers - 2)]`` raw
        scores; H and W multiples of :attr:`size_multiple` and at least :attr:`min_size`.

    Example:
        >>> d = PatchGANCritic(4, base=8, n_layers=2)
        >>> d(torch.rand(1, 4, 32, 32))[0].shape
        torch.Size([1, 1, 6, 6])
    """

    def __init__(
        self, in_channels: int = 4, base: int = 64, n_layers: int = 3, use_spectral_norm: bool = False
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchGANCritic: n_layers must be >= 1, got {n_layers}")
        self.in_channels = in_channels
        self.size_multiple = 2**n_layers
        self.min_size = 3 * 2**n_layers  # the two 4x4 stride-1 convs need 3 px at input / 2**n_layers
        self.requires_square = False
        self.n_outputs = 1  # forward returns [scores]
        sn = spectral_norm if use_spectral_norm else (lambda m: m)
        layers: list[nn.Module] = [sn(nn.Conv2d(in_channels, base, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, True)]
        ch = base
        for i in range(1, n_layers + 1):
            nxt = base * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                sn(nn.Conv2d(ch, nxt, 4, stride=stride, padding=1)),
                nn.InstanceNorm2d(nxt),
                nn.LeakyReLU(0.2, True),
            ]
            ch = nxt
        layers.append(sn(nn.Conv2d(ch, 1, 4, stride=1, padding=1)))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_input(x, self.in_channels, self.size_multiple, "PatchGANCritic", min_size=self.min_size)
        return [self.model(x)]
