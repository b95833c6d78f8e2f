"""VoloGAN generator: a spectrally normalised U-Net with a gated self-attention block (re-implemented).

Architecture (``levels = 5``, ``base = 64``, 512x512x4 input), every conv a :class:`ConvBlock` (reflection pad ->
spectral-norm conv without bias -> affine instance norm -> LeakyReLU(0.3)) unless said otherwise:

- Encoder level ``i`` (``i = 0 .. levels-1``, width ``C_i = base * min(2**i, 8)`` = 64-128-256-512-512): two conv
  blocks (the skip, at ``input / 2**i``), then a stride-2 conv block ``C_i -> C_i`` down. Kernel 7 at level 0,
  3 later (also for the level-0 down conv).
- Bottleneck at ``input / 2**levels`` (16x16x512): two conv blocks ``C_last -> C_last``, then ``Dropout2d(0.2)``.
- Decoder level ``i`` (from ``levels-1`` down to 0): conv block 1x1 ``C_prev -> 4 C_i``, ``PixelShuffle(2)``
  (-> ``C_i``), concat the skip (``2 C_i``), two 3x3 conv blocks -> ``C_i``.
  ``Dropout2d(0.2)`` after the first two decoder levels; the gated self-attention block after the decoder level
  ``attention_level`` (after its dropout; default ``levels - 1``: ``input / 16`` = 32x32 for 5 levels at 512).
- Output: spectral-norm 1x1 conv ``C_0 -> out_channels`` (no norm, no activation), then the Keras hard sigmoid
  ``clip(0.2 x + 0.5, 0, 1)``.

Parameter count at ``base=64, levels=5``, 4 -> 4 channels: 39,376,641 (checked in
``tests/models/test_param_counts.py``), matching the ~39 M estimated for the original. The details the reference
leaves open and that we chose: the down conv keeps the level's width (``C_i -> C_i``); the bottleneck is a two-conv
block (without it the count would be 34.7 M); the upsampling 1x1 conv is a full conv block (norm + activation); all
decoder kernels are 3 (the "kernel 7" applies to the first encoder level only; mirroring it in the last decoder
level would add 0.49 M parameters); instance norm is affine (the Keras/TF-addons default ``center=scale=True``).

``size_multiple = 2**levels`` (32 for 5 levels); smallest side ``min_size = 2 * size_multiple``. With attention the
input must also be square, because the attention map transposes the two spatial axes (``requires_square``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from volo_adapt.models.attention import GatedSelfAttention
from volo_adapt.models.layers import ConvBlock, check_input, fp32_call, hard_sigmoid_tf, sn_conv


class _Encoder(nn.Module):
    def __init__(self, in_ch: int, ch: int, kernel: int, slope: float) -> None:
        super().__init__()
        self.skip = nn.Sequential(ConvBlock(in_ch, ch, kernel, slope=slope), ConvBlock(ch, ch, kernel, slope=slope))
        self.down = ConvBlock(ch, ch, kernel, stride=2, slope=slope)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.skip(x)
        return self.down(s), s


class _Decoder(nn.Module):
    def __init__(self, in_ch: int, ch: int, kernel: int, slope: float, dropout: float, attention: bool) -> None:
        super().__init__()
        self.up = nn.Sequential(ConvBlock(in_ch, 4 * ch, 1, slope=slope), nn.PixelShuffle(2))
        self.convs = nn.Sequential(ConvBlock(2 * ch, ch, kernel, slope=slope), ConvBlock(ch, ch, kernel, slope=slope))
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.attention = GatedSelfAttention(ch) if attention else nn.Identity()

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        x = self.convs(torch.cat([x, skip], dim=1))
        return self.attention(self.dropout(x))


class VoloGANGenerator(nn.Module):
    """VoloGAN U-Net generator (see the module docstring for the exact layout).

    Args:
        in_channels: input channels (4 = RGB + encoded depth).
        out_channels: output channels.
        base: width of the first level (the original: 64).
        levels: encoder levels; each halves the resolution once (the original: 5).
        attention_level: U-Net level (0 = full resolution, level ``i`` at ``input / 2**i``) whose decoder output
            goes through the gated self-attention; ``"auto"`` (default) = ``levels - 1``; ``None`` or ``-1`` disables
            attention (use ``-1`` through the registry, which drops ``None`` keyword arguments).
        dropout: spatial dropout rate of the bottleneck and the first two decoder levels (the original: 0.2).
        first_kernel: kernel of level 0 (the original: 7); later levels use 3.
        slope: LeakyReLU negative slope (the original: 0.3).
        raw_output: return the head's raw values (``out_channels`` unbounded feature maps, no hard sigmoid), for
            :class:`~volo_adapt.models.sensor_head.SensorAwareGenerator`, which adds its own output head.

    Shapes:
        ``(B, in_channels, H, W)`` float in [0, 1] -> ``(B, out_channels, H, W)`` float in [0, 1]; H and W positive
        multiples of :attr:`size_multiple`, and ``H == W`` when :attr:`requires_square`.

    Example:
        >>> g = VoloGANGenerator(4, 4, base=8, levels=3)
        >>> g(torch.rand(1, 4, 32, 32)).shape
        torch.Size([1, 4, 32, 32])
    """

    activation_checkpointing: bool = False
    """When True and gradients are on, each encoder level, the bottleneck and each decoder level run under
    ``torch.utils.checkpoint`` (non-reentrant): only their outputs are kept and the rest is recomputed in the
    backward pass. Not a constructor argument (nothing in the state dict changes); set it with
    :func:`volo_adapt.training.step_mechanics.set_activation_checkpointing`. Spectrally normalised weights must not
    change between forward and recomputation: train inside :func:`volo_adapt.training.step_mechanics.weights_once`."""

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        base: int = 64,
        levels: int = 5,
        attention_level: int | str | None = "auto",
        dropout: float = 0.2,
        first_kernel: int = 7,
        slope: float = 0.3,
        raw_output: bool = False,
    ) -> None:
        super().__init__()
        if levels < 1:
            raise ValueError(f"VoloGANGenerator: levels must be >= 1, got {levels}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"VoloGANGenerator: dropout must be in [0, 1), got {dropout}")
        if isinstance(attention_level, str) and attention_level != "auto":
            raise ValueError(
                f'VoloGANGenerator: attention_level must be an int, "auto" or None, got {attention_level!r}'
            )
        if attention_level == "auto":  # the original's position: the coarsest decoder level
            attention_level = levels - 1
        if attention_level is not None and attention_level < 0:
            attention_level = None
        if attention_level is not None and attention_level >= levels:
            raise ValueError(
                f"VoloGANGenerator: attention_level must be in [0, {levels - 1}] or None, got {attention_level}"
            )
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.raw_output = raw_output
        self.levels = levels
        self.attention_level = attention_level
        self.size_multiple = 2**levels
        self.requires_square = attention_level is not None
        self.min_size = 2 * self.size_multiple  # the bottleneck's 3x3 reflection pads need 2 px at H/2**levels

        widths = [base * min(2**i, 8) for i in range(levels)]
        kernels = [first_kernel] + [3] * (levels - 1)
        self.encoders = nn.ModuleList()
        prev = in_channels
        for ch, k in zip(widths, kernels, strict=True):
            self.encoders.append(_Encoder(prev, ch, k, slope))
            prev = ch
        self.bottleneck = nn.Sequential(
            ConvBlock(prev, prev, 3, slope=slope),
            ConvBlock(prev, prev, 3, slope=slope),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
        )
        self.decoders = nn.ModuleList()
        for n, i in enumerate(reversed(range(levels))):
            self.decoders.append(
                _Decoder(
                    prev,
                    widths[i],
                    3,
                    slope,
                    dropout=dropout if n < 2 else 0.0,
                    attention=i == attention_level,
                )
            )
            prev = widths[i]
        self.head = sn_conv(prev, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(
            x,
            self.in_channels,
            self.size_multiple,
            "VoloGANGenerator",
            square=self.requires_square,
            min_size=self.min_size,
        )
        run = self._checkpointed if self.activation_checkpointing and torch.is_grad_enabled() else _call
        skips = []
        for enc in self.encoders:
            x, s = run(enc, x)
            skips.append(s)
        x = run(self.bottleneck, x)
        for dec, s in zip(self.decoders, reversed(skips), strict=True):
            x = run(dec, x, s)
        out = fp32_call(self.head, x)  # the output layer in fp32 under autocast (depth resolution, see fp32_call)
        return out if self.raw_output else hard_sigmoid_tf(out)

    @staticmethod
    def _checkpointed(module: nn.Module, *args: torch.Tensor):
        return checkpoint(module, *args, use_reentrant=False)


def _call(module: nn.Module, *args: torch.Tensor):
    return module(*args)
