"""VoloGAN critic: three outputs (low-level, content, layout) after One-Shot GAN / SIV-GAN (re-implemented).

Layout at ``base = 64``, ``n_down = 3``, 512x512x4 input (conv blocks as in the generator: reflection pad ->
spectral-norm conv without bias -> affine instance norm -> LeakyReLU(0.3)):

- Stem: spectral-norm 7x7 conv ``in -> base`` (64). Its *raw* output (before norm and activation) is the
  **low-level** output, ``(B, 64, H, W)``: every channel is a score map, and the losses average over all of them,
  which is what "its raw output is the low-level output" says. ``low_level="1x1"`` instead adds a spectral-norm 1x1
  conv to one channel, ``(B, 1, H, W)`` (a choice of ours, not the original).
- Body: instance norm + LeakyReLU on the stem output, then stride-2 3x3 blocks: 128 (@H/2), 256 + 256 (@H/4),
  512 + 512 (@H/8) (widths ``base * min(2**(i+1), 8)``; every stage after the first has a second, stride-1 block),
  then the gated self-attention -> feature ``F`` ``(B, 512, H/8, W/8)``.
- **Content** branch: global average pool -> three spectral-norm 1x1 convs of 512, LeakyReLU after the first two
  followed by ``Dropout2d``; the last plain -> ``(B, 512, 1, 1)``. These convs have no instance norm: on a 1x1 map
  instance norm would output its bias only (and torch refuses it in training).
- **Layout** branch: four 3x3 blocks with one channel (first ``512 -> 1``), the last plain (conv only) ->
  ``(B, 1, H/8, W/8)``.

Raw scores, no sigmoid. Parameter count at ``base=64``, 4 input channels: 5,436,962 (checked in
``tests/models/test_param_counts.py``), matching the ~5.4 M estimated for the original.

``size_multiple = 2**n_down`` (8); smallest side ``min_size = 2 * size_multiple``; with attention the input must be
square (``requires_square``).
"""

from __future__ import annotations

import torch
from torch import nn

from volo_adapt.models.attention import GatedSelfAttention
from volo_adapt.models.layers import ConvBlock, check_input, sn_conv


class VoloGANCritic(nn.Module):
    """VoloGAN multi-output critic; ``forward`` returns ``[low_level, content, layout]`` raw scores.

    Args:
        in_channels: input channels (4 = RGB + encoded depth).
        base: stem width (the original: 64).
        n_down: stride-2 stages (the original: 3, so ``F`` is at ``input / 8``).
        attention: apply the gated self-attention on ``F`` (the original: yes).
        dropout: spatial dropout rate in the content branch (not stated by the reference; 0.2 as in the generator).
        low_level: ``"raw"`` (the original: the 7x7 conv's ``base`` channels) or ``"1x1"`` (reduced to one channel).
        slope: LeakyReLU negative slope.

    Shapes:
        ``(B, in_channels, H, W)`` float in [0, 1] -> list of
        ``[(B, base or 1, H, W), (B, C_F, 1, 1), (B, 1, H / 2**n_down, W / 2**n_down)]`` raw scores, where
        ``C_F = base * min(2**n_down, 8)``.

    Example:
        >>> d = VoloGANCritic(4, base=8)
        >>> [t.shape[1:] for t in d(torch.rand(1, 4, 32, 32))]
        [torch.Size([8, 32, 32]), torch.Size([64, 1, 1]), torch.Size([1, 4, 4])]
    """

    def __init__(
        self,
        in_channels: int = 4,
        base: int = 64,
        n_down: int = 3,
        attention: bool = True,
        dropout: float = 0.2,
        low_level: str = "raw",
        slope: float = 0.3,
    ) -> None:
        super().__init__()
        if n_down < 1:
            raise ValueError(f"VoloGANCritic: n_down must be >= 1, got {n_down}")
        if low_level not in ("raw", "1x1"):
            raise ValueError(f"VoloGANCritic: low_level must be 'raw' or '1x1', got {low_level!r}")
        self.in_channels = in_channels
        self.size_multiple = 2**n_down
        self.requires_square = attention
        self.n_outputs = 3  # forward returns [low_level, content, layout]
        self.min_size = 2 * self.size_multiple  # the 3x3 reflection pads of the layout branch need 2 px at H/2**n_down
        self.stem_pad = nn.ReflectionPad2d(3)
        self.stem = sn_conv(in_channels, base, 7)
        self.low_head = sn_conv(base, 1, 1) if low_level == "1x1" else nn.Identity()
        self.stem_post = nn.Sequential(nn.InstanceNorm2d(base, affine=True), nn.LeakyReLU(slope))
        body: list[nn.Module] = []
        prev = base
        for i in range(n_down):
            ch = base * min(2 ** (i + 1), 8)
            body.append(ConvBlock(prev, ch, 3, stride=2, slope=slope))
            if i > 0:
                body.append(ConvBlock(ch, ch, 3, slope=slope))
            prev = ch
        body.append(GatedSelfAttention(prev) if attention else nn.Identity())
        self.body = nn.Sequential(*body)
        self.feature_channels = prev
        self.content = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            ConvBlock(prev, prev, 1, norm="none", slope=slope),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            ConvBlock(prev, prev, 1, norm="none", slope=slope),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
            ConvBlock(prev, prev, 1, norm="none", act=False),
        )
        self.layout = nn.Sequential(
            ConvBlock(prev, 1, 3, slope=slope),
            ConvBlock(1, 1, 3, slope=slope),
            ConvBlock(1, 1, 3, slope=slope),
            ConvBlock(1, 1, 3, norm="none", act=False),
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        check_input(
            x,
            self.in_channels,
            self.size_multiple,
            "VoloGANCritic",
            square=self.requires_square,
            min_size=self.min_size,
        )
        low = self.stem(self.stem_pad(x))
        feat = self.body(self.stem_post(low))
        return [self.low_head(low), self.content(feat), self.layout(feat)]
