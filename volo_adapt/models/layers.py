"""Reusable building blocks shared by the generators and critics.

Everything here is a plain ``nn.Module`` working on ``(B, C, H, W)`` float tensors (any memory format, fp32 or
under autocast). Spectral normalisation uses :func:`torch.nn.utils.parametrizations.spectral_norm` with one power
iteration, as the original VoloGAN does on every conv.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm


def hard_sigmoid_tf(x: torch.Tensor) -> torch.Tensor:
    """TensorFlow/Keras hard sigmoid: ``clip(0.2 * x + 0.5, 0, 1)``.

    This is *not* :class:`torch.nn.Hardsigmoid` (which is ``clip(x / 6 + 0.5, 0, 1)``); the original generator ends
    with the Keras version, whose linear region is ``|x| < 2.5``.

    Args:
        x: any shape, float.

    Returns:
        Same shape and dtype, values in [0, 1].

    Example:
        >>> hard_sigmoid_tf(torch.tensor([-3.0, 0.0, 1.0, 3.0]))
        tensor([0.0000, 0.5000, 0.7000, 1.0000])
    """
    return torch.clamp(0.2 * x + 0.5, 0.0, 1.0)


def fp32_call(module: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """``module(x)`` computed in float32 with autocast switched off, whatever autocast the caller runs under.

    For the layers that produce the network's output: under bf16 autocast a conv's output is bf16, whose 8-bit
    mantissa spaces encoded depth values near 1 by 2**-8 (about 20 mm over the default 0.25-5 m range); in float32
    the head's output is as fine as its inputs allow. The head is a small share of the FLOPs.

    Args:
        module: any module (or function) taking one tensor.
        x: its input, any float dtype (cast to float32 under autocast).

    Returns:
        ``module(x)``, float32 under autocast (the module's own dtype otherwise).
    """
    device_type = x.device.type
    if torch.is_autocast_enabled(device_type):
        with torch.autocast(device_type, enabled=False):
            return module(x.float())
    return module(x)


class HardSigmoidTF(nn.Module):
    """Module form of :func:`hard_sigmoid_tf` (Keras hard sigmoid, output in [0, 1])."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hard_sigmoid_tf(x)


class LayerNorm2d(nn.LayerNorm):
    """Layer norm over the channel axis of a ``(B, C, H, W)`` tensor, separately at every pixel.

    This is what Keras' ``LayerNormalization()`` (default ``axis=-1``) does on channels-last feature maps: mean and
    variance over the C values of each pixel, then a learnable per-channel scale and offset (``C`` each). Written by
    hand because torch's :class:`nn.LayerNorm` normalises the trailing axes, which for NCHW are the spatial ones.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def sn_conv(
    in_ch: int, out_ch: int, kernel: int, stride: int = 1, bias: bool = False, use_sn: bool = True
) -> nn.Module:
    """A ``kernel x kernel`` conv without padding (pad separately), spectrally normalised (1 power iteration).

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel: square kernel size.
        stride: stride.
        bias: add a bias (the VoloGAN convs have none).
        use_sn: wrap in spectral norm.
    """
    conv = nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=0, bias=bias)
    return spectral_norm(conv, n_power_iterations=1) if use_sn else conv


class ConvBlock(nn.Module):
    """VoloGAN conv block: reflection pad -> spectral-norm conv (no bias) -> instance norm -> LeakyReLU.

    Padding keeps ``H, W`` for stride 1 and halves them for stride 2 (input sides must be even then).

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel: odd square kernel size (7 at the first level, 3 later).
        stride: 1 or 2.
        norm: ``"instance"`` (affine, as Keras/TF-addons' InstanceNormalization default ``center=scale=True``) or
            ``"none"``.
        act: apply LeakyReLU. ``False`` with ``norm="none"`` gives a "plain" conv.
        slope: LeakyReLU negative slope (the original: 0.3).
        use_sn: spectral norm on the conv.

    Shapes:
        ``(B, in_ch, H, W) -> (B, out_ch, H / stride, W / stride)``.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel: int = 3,
        stride: int = 1,
        norm: str = "instance",
        act: bool = True,
        slope: float = 0.3,
        use_sn: bool = True,
    ) -> None:
        super().__init__()
        assert kernel % 2 == 1, f"ConvBlock needs an odd kernel, got {kernel}"
        assert norm in ("instance", "none"), norm
        pad = kernel // 2
        self.pad = nn.ReflectionPad2d(pad) if pad > 0 else nn.Identity()
        self.conv = sn_conv(in_ch, out_ch, kernel, stride=stride, bias=False, use_sn=use_sn)
        self.norm = nn.InstanceNorm2d(out_ch, affine=True) if norm == "instance" else nn.Identity()
        self.act = nn.LeakyReLU(slope) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(self.pad(x))))


def iter_convs(module: nn.Module):
    """Yield every ``nn.Conv2d`` / ``nn.ConvTranspose2d`` inside ``module`` (with its qualified name)."""
    for name, m in module.named_modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            yield name, m


def has_spectral_norm(conv: nn.Module) -> bool:
    """True when ``conv.weight`` is spectrally normalised through ``torch.nn.utils.parametrizations``."""
    if not parametrize.is_parametrized(conv, "weight"):
        return False
    return any(type(p).__name__ == "_SpectralNorm" for p in conv.parametrizations["weight"])


def bake_spectral_norm(module: nn.Module) -> nn.Module:
    """Replace every spectral-norm parametrisation by its current normalised weight, in place.

    Use on a copy of a trained network before ONNX export (the legacy exporter cannot translate the power
    iteration's ``aten::vdot``) or for fast inference: afterwards ``weight`` is a plain parameter equal to
    ``W / sigma(W)`` computed with the stored power-iteration vectors, and nothing is recomputed per call. The module
    is switched to eval mode first so that baking runs no extra power iteration.

    Written by hand instead of ``parametrize.remove_parametrizations``: that function deletes the ``weight``
    property from the dynamically created ``Parametrized*`` class, which ``copy.deepcopy`` shares between the copy
    and the original, so baking a deep copy would break the original network.

    Returns:
        The same module (for chaining).
    """
    module.eval()
    for m in [m for _, m in iter_convs(module) if parametrize.is_parametrized(m, "weight")]:
        assert len(m.parametrizations) == 1, "only a parametrised weight is expected"
        with torch.no_grad():
            w = m.weight.detach().clone()
        base_cls = type(m).__bases__[0]  # Parametrized<Conv2d> -> Conv2d
        del m._modules["parametrizations"]
        m.__class__ = base_cls
        m.weight = nn.Parameter(w)
    return module


def check_input(
    x: torch.Tensor, channels: int, multiple: int, name: str, square: bool = False, min_size: int = 1
) -> None:
    """Raise ``ValueError`` naming the shapes when ``x`` is not ``(B, channels, H, W)`` with H, W multiples.

    Args:
        x: the network input.
        channels: expected channel count.
        multiple: H and W must be multiples of this.
        name: network name for the message.
        square: also require ``H == W`` (the VoloGAN attention transposes H and W).
        min_size: smallest H and W (reflection padding at the coarsest level needs at least 2 pixels there).
    """
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(f"{name}: expected input (B, {channels}, H, W), got {tuple(x.shape)}")
    h, w = int(x.shape[2]), int(x.shape[3])
    if h % multiple or w % multiple or h < min_size or w < min_size:
        raise ValueError(
            f"{name}: H and W must be multiples of {multiple} and at least {max(min_size, multiple)},"
            f" got input {tuple(x.shape)}"
        )
    if square and h != w:
        raise ValueError(
            f"{name}: the VoloGAN self-attention transposes H and W, so it needs square inputs, got {tuple(x.shape)};"
            " pad/crop to a square or build the network with attention disabled"
        )
