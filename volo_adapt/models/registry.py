"""Name -> constructor registry for generators and critics (timm style).

``create_generator(name, in_channels, out_channels, base, **kwargs)`` and ``create_critic(name, in_channels, base,
**kwargs)`` build a registered network; keyword arguments whose value is ``None`` are dropped (so config files can
leave an option unset and get the architecture's default), and unknown names or keyword arguments raise
:class:`~volo_adapt.errors.ConfigError` listing the valid ones.

Every generator maps ``(B, in_channels, H, W)`` in [0, 1] to ``(B, out_channels, H, W)`` in [0, 1]; every critic
maps ``(B, in_channels, H, W)`` to a ``list`` of ``n_outputs`` raw score tensors. Both carry ``size_multiple`` and
``min_size`` (H and W must be multiples of the former and at least the latter) and ``requires_square``.
"""

from __future__ import annotations

import inspect

from torch import nn

from volo_adapt.errors import ConfigError
from volo_adapt.models.patchgan import PatchGANCritic
from volo_adapt.models.resnet_generator import ResnetGenerator
from volo_adapt.models.vologan_critic import VoloGANCritic
from volo_adapt.models.vologan_generator import VoloGANGenerator

# resnet9 is ResnetGenerator with its default n_blocks=9.
_GENERATORS: dict[str, type[nn.Module]] = {"vologan": VoloGANGenerator, "resnet9": ResnetGenerator}
_CRITICS: dict[str, type[nn.Module]] = {"vologan": VoloGANCritic, "patchgan": PatchGANCritic}


def list_generators() -> list[str]:
    """Registered generator names, sorted."""
    return sorted(_GENERATORS)


def list_critics() -> list[str]:
    """Registered critic names, sorted."""
    return sorted(_CRITICS)


def _check_kwargs(kind: str, name: str, cls: type[nn.Module], kwargs: dict) -> dict:
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"{kind} {name!r}: unknown keyword argument(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    return kwargs


def create_generator(name: str, in_channels: int = 4, out_channels: int = 4, base: int = 64, **kwargs) -> nn.Module:
    """Build a registered generator.

    Args:
        name: one of :func:`list_generators` (``vologan``, ``resnet9``).
        in_channels: input channels.
        out_channels: output channels.
        base: base width (64 in the original networks).
        **kwargs: architecture options (``levels``, ``attention_level``, ``dropout`` for vologan; ``n_blocks``,
            ``dropout`` for resnet9). ``None`` values are dropped.

    Returns:
        The network (fp32, train mode).

    Raises:
        ConfigError: unknown name or keyword argument; an invalid value (the constructor's ValueError).
    """
    if name not in _GENERATORS:
        raise ConfigError(f"unknown generator {name!r}; valid: {', '.join(list_generators())}")
    kwargs = _check_kwargs("generator", name, _GENERATORS[name], kwargs)
    try:
        return _GENERATORS[name](in_channels=in_channels, out_channels=out_channels, base=base, **kwargs)
    except ValueError as e:
        raise ConfigError(f"generator {name!r}: {e}") from e


def create_critic(name: str, in_channels: int = 4, base: int = 64, **kwargs) -> nn.Module:
    """Build a registered critic.

    Args:
        name: one of :func:`list_critics` (``vologan``, ``patchgan``).
        in_channels: input channels.
        base: base width (64 in the original networks).
        **kwargs: architecture options (``n_down``, ``attention``, ``dropout``, ``low_level`` for vologan;
            ``n_layers``, ``use_spectral_norm`` for patchgan). ``None`` values are dropped.

    Returns:
        The network (fp32, train mode); its ``forward`` returns a list of raw score tensors.

    Raises:
        ConfigError: unknown name or keyword argument; an invalid value (the constructor's ValueError).
    """
    if name not in _CRITICS:
        raise ConfigError(f"unknown critic {name!r}; valid: {', '.join(list_critics())}")
    kwargs = _check_kwargs("critic", name, _CRITICS[name], kwargs)
    try:
        return _CRITICS[name](in_channels=in_channels, base=base, **kwargs)
    except ValueError as e:
        raise ConfigError(f"critic {name!r}: {e}") from e


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters (``requires_grad``) of ``module``.

    Spectral-norm parametrised weights count once (the ``weight.original`` tensor; the power-iteration vectors are
    buffers).
    """
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
