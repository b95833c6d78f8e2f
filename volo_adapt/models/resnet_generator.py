"""Classic CycleGAN ResNet generator (``resnet9``), adapted to [0, 1] tensors with any channel count.

Layout (Johnson et al. / CycleGAN notation): ``c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-out``:
reflection padding, instance norm (not affine, CycleGAN's default), ReLU, conv biases on (as CycleGAN with instance
norm), transposed convs to upsample. The output layer is squashed with a **sigmoid** instead of CycleGAN's tanh
because our network tensors live in [0, 1] (RGB/255 and encoded depth), not [-1, 1].

Parameter count at ``base=64, n_blocks=9``, 4 -> 4 channels: 11,384,452 (checked in
``tests/models/test_param_counts.py``). ``size_multiple = 4`` (two stride-2 downsamplings).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from volo_adapt.models.layers import check_input, fp32_call


class ResnetBlock(nn.Module):
    """Residual block: (reflect pad, 3x3 conv, IN, ReLU, [dropout], reflect pad, 3x3 conv, IN) + skip.

    Shapes:
        ``(B, C, H, W) -> (B, C, H, W)``.
    """

    def __init__(self, channels: int, dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(channels, channels, 3),
            nn.InstanceNorm2d(channels),
            nn.ReLU(True),
        ]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN ResNet generator with a sigmoid output in [0, 1].

    Args:
        in_channels: input channels.
        out_channels: output channels.
        base: width of the first layer (CycleGAN: 64).
        n_blocks: residual blocks at ``input / 4`` (``resnet9``: 9).
        dropout: dropout inside the residual blocks (CycleGAN default: none).
        upsample: ``transpose`` (CycleGAN's stride-2 transposed convs) or ``resize`` (nearest 2x upsampling then a
            3x3 conv, which avoids the transposed conv's checkerboard pattern; Odena et al., Distill 2016).
        raw_output: end with the last conv's raw values (no sigmoid), for
            :class:`~volo_adapt.models.sensor_head.SensorAwareGenerator`, which adds its own output head.

    Shapes:
        ``(B, in_channels, H, W)`` float in [0, 1] -> ``(B, out_channels, H, W)`` float in (0, 1); H and W multiples
        of :attr:`size_multiple` (4).

    Example:
        >>> g = ResnetGenerator(4, 4, base=8, n_blocks=2)
        >>> g(torch.rand(1, 4, 16, 16)).shape
        torch.Size([1, 4, 16, 16])
    """

    activation_checkpointing: bool = False
    """When True and gradients are on, the layers before the output conv run as about ``CHECKPOINT_SEGMENTS``
    segments under ``torch.utils.checkpoint`` (non-reentrant): only segment boundaries are kept, the rest is
    recomputed in the backward pass. Not a constructor argument (the state dict is unchanged); set it
    with :func:`volo_adapt.training.step_mechanics.set_activation_checkpointing`."""
    CHECKPOINT_SEGMENTS = 6

    def __init__(
        self,
        in_channels: int = 4,
        out_channels: int = 4,
        base: int = 64,
        n_blocks: int = 9,
        dropout: float = 0.0,
        raw_output: bool = False,
        upsample: str = "transpose",
    ) -> None:
        super().__init__()
        if n_blocks < 0:
            raise ValueError(f"ResnetGenerator: n_blocks must be >= 0, got {n_blocks}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.size_multiple = 4
        self.min_size = 4
        self.requires_square = False
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(in_channels, base, 7),
            nn.InstanceNorm2d(base),
            nn.ReLU(True),
        ]
        ch = base
        for _ in range(2):
            layers += [nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * ch), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, dropout) for _ in range(n_blocks)]
        if upsample not in ("transpose", "resize"):
            raise ValueError(f"ResnetGenerator: upsample must be transpose or resize, got {upsample!r}")
        for _ in range(2):
            if upsample == "transpose":
                up: list[nn.Module] = [nn.ConvTranspose2d(ch, ch // 2, 3, stride=2, padding=1, output_padding=1)]
            else:
                up = [nn.Upsample(scale_factor=2, mode="nearest"), nn.ReflectionPad2d(1), nn.Conv2d(ch, ch // 2, 3)]
            layers += [*up, nn.InstanceNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_channels, 7)]
        if not raw_output:
            layers.append(nn.Sigmoid())
        self.model = nn.Sequential(*layers)
        self.fp32_tail = 1 if raw_output else 2
        """The last layers (output conv, sigmoid) run in fp32 under autocast (depth resolution, see ``fp32_call``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels, self.size_multiple, "ResnetGenerator", min_size=self.min_size)
        layers = list(self.model)
        body, tail = layers[: -self.fp32_tail], layers[-self.fp32_tail :]
        if self.activation_checkpointing and torch.is_grad_enabled():
            cuts = segment_starts(body, self.CHECKPOINT_SEGMENTS)
            for start, end in zip(cuts, [*cuts[1:], len(body)], strict=True):
                x = checkpoint(_run, body[start:end], x, use_reentrant=False)
        else:
            x = _run(body, x)
        return fp32_call(lambda t: _run(tail, t), x)


def _run(layers: list[nn.Module], x: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        x = layer(x)
    return x


def segment_starts(layers: list[nn.Module], segments: int) -> list[int]:
    """Start indices of about ``segments`` equal runs of ``layers``, never at an in-place layer (an in-place ReLU at
    a segment's start would overwrite the kept boundary tensor that the recomputation reads).

    Example:
        >>> segment_starts([nn.Identity()] * 10, 3)
        [0, 4, 8]
    """
    size = max(1, -(-len(layers) // segments))
    starts = [0]
    for i in range(1, len(layers)):
        if i - starts[-1] >= size and not getattr(layers[i], "inplace", False):
            starts.append(i)
    return starts
