"""Training-step mechanics that make a step lean without changing what it computes.

* :func:`weights_once` - every spectrally normalised weight computed once per optimiser step (one power iteration per
  step, as Miyato et al. describe) instead of once per network call: a generator is called three times in a step
  (fake, cycle, identity) and recomputed ``W / sigma(W)`` and its power iteration each time. Uses
  :func:`torch.nn.utils.parametrize.cached`; the weights are computed up front, outside any checkpointed segment,
  so activation checkpointing recomputes exactly the forward it replaces.
* :func:`optimizer_flags` - ``optim.implementation`` -> the ``fused`` / ``foreach`` keyword of a torch optimiser.
* :func:`resolve_memory_format`, :func:`to_memory_format` - ``train.memory_format`` for networks and batches.
* :func:`set_activation_checkpointing` - switches the generators' own checkpointing (``torch.utils.checkpoint``,
  non-reentrant) on or off.

Every choice is measured by ``benchmarks/bench_perf.py`` (``make bench``, see ``benchmarks/README.md``); the
equivalence of each with the plain step is tested in ``tests/training/test_step_mechanics.py``.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

OPTIMIZER_IMPLEMENTATIONS = ("auto", "fused", "foreach", "for_loop")
"""``optim.implementation`` values: ``auto`` (fused where torch has a fused kernel for the optimiser, else foreach),
``fused``, ``foreach`` (multi-tensor), ``for_loop`` (one parameter at a time: torch's CPU default)."""

GEN_OPTIMIZERS, CRITIC_OPTIMIZERS = ("nadam", "adam"), ("sgd", "adam")  # optim.gen_optimizer, optim.critic_optimizer
MEMORY_FORMATS = ("auto", "contiguous", "channels_last")
"""``train.memory_format`` values; ``auto`` is :data:`AUTO_MEMORY_FORMAT` for the training device."""

AUTO_MEMORY_FORMAT = {"cpu": "contiguous", "cuda": "contiguous"}
"""What ``train.memory_format: auto`` picks per device type: channels-last was not faster for these generators'
forward in ``benchmarks/bench_translate.py`` (instance norm, reflection padding and pixel shuffle run in NCHW
kernels and convert back and forth), on an H100 nor on the 2-core CPU (``benchmarks/README.md``). For the training
step compare ``benchmarks/bench_perf.py --variants tuned channels_last``."""


def optimizer_flags(optimizer: type[torch.optim.Optimizer], implementation: str) -> dict[str, bool]:
    """Keyword arguments selecting ``optimizer``'s implementation.

    ``auto`` asks for ``fused=True`` when the optimiser's constructor takes a ``fused`` argument (Adam, AdamW, SGD
    in torch 2.13; fused kernels exist for CPU and CUDA), else ``foreach=True``. All compute the same update up to
    float rounding (tested).

    Args:
        optimizer: the optimiser class (``torch.optim.Adam``, ``NAdam``, ``SGD``, ...).
        implementation: one of :data:`OPTIMIZER_IMPLEMENTATIONS`.

    Returns:
        ``{"fused": True}``, ``{"foreach": True}`` or ``{"foreach": False}``.

    Example:
        >>> optimizer_flags(torch.optim.NAdam, "auto")
        {'foreach': True}
    """
    if implementation not in OPTIMIZER_IMPLEMENTATIONS:
        valid = ", ".join(OPTIMIZER_IMPLEMENTATIONS)
        raise ValueError(f"implementation must be one of {valid}, got {implementation!r}")
    takes_fused = "fused" in inspect.signature(optimizer.__init__).parameters
    if implementation == "auto":
        return {"fused": True} if takes_fused else {"foreach": True}
    if implementation == "fused":
        if not takes_fused:
            raise ValueError(f"{optimizer.__name__} has no fused implementation in torch {torch.__version__}")
        return {"fused": True}
    return {"foreach": implementation == "foreach"}


def resolve_memory_format(value: str, device_type: str) -> torch.memory_format:
    """``train.memory_format`` -> a torch memory format (``auto``: :data:`AUTO_MEMORY_FORMAT` of ``device_type``)."""
    if value not in MEMORY_FORMATS:
        raise ValueError(f"memory format must be one of {', '.join(MEMORY_FORMATS)}, got {value!r}")
    if value == "auto":
        value = AUTO_MEMORY_FORMAT.get(device_type, "contiguous")
    return torch.channels_last if value == "channels_last" else torch.contiguous_format


def to_memory_format(batch: Any, fmt: torch.memory_format) -> Any:
    """``batch`` with every 4-D floating tensor (at the top level of a dict, list or tuple) in ``fmt``.

    Values are unchanged; only the strides differ. Masks (bool) and other tensors are left alone.
    """
    def convert(t: Any) -> Any:
        if isinstance(t, torch.Tensor) and t.dim() == 4 and t.is_floating_point():
            return t.contiguous(memory_format=fmt)
        return t

    if fmt == torch.contiguous_format:
        return batch
    if isinstance(batch, dict):
        return {k: convert(v) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch)(convert(v) for v in batch)
    return convert(batch)


def parametrized_modules(*modules: nn.Module) -> list[nn.Module]:
    """Every submodule of ``modules`` with at least one parametrised tensor (e.g. spectral norm), in order."""
    return [m for net in modules for m in net.modules() if parametrize.is_parametrized(m)]


@contextlib.contextmanager
def weights_once(*modules: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Compute each parametrised weight of ``modules`` once for the duration of the block.

    Inside the block every ``module.weight`` of a spectrally normalised conv is the same tensor (computed, with its
    one power iteration in training mode, on entry), so three calls of a generator share one ``W / sigma(W)`` and
    its backward accumulates into that one node. Leave the block before the weights change (after
    ``optimizer.step()``) and enter a new one for the next optimiser step: a weight computed while its network was
    frozen carries no gradient path.

    Args:
        *modules: the networks used inside the block.
        enabled: False = a plain pass-through (every call recomputes its weights, torch's default).
    """
    if not enabled:
        yield
        return
    with parametrize.cached():
        for m in parametrized_modules(*modules):
            for name in m.parametrizations:
                getattr(m, name)  # fills the cache outside any checkpointed segment
        yield


def set_activation_checkpointing(net: nn.Module, enabled: bool) -> int:
    """Switch activation checkpointing on or off in every submodule of ``net`` that supports it.

    Networks that support it declare a class attribute ``activation_checkpointing`` (the VoloGAN and ResNet
    generators; wrappers such as the sensor-aware generator pass it on through their backbone). In training they
    then keep only the outputs of their large segments (U-Net levels, groups of ResNet layers) and recompute the
    rest in the backward pass: about one extra forward of compute for a fraction of the activation memory.

    Returns:
        How many submodules were switched.
    """
    switched = 0
    for m in net.modules():
        if hasattr(type(m), "activation_checkpointing"):
            m.activation_checkpointing = bool(enabled)
            switched += 1
    return switched


GENERATORS = ("gen_a2b", "gen_b2a")
NETWORKS = ("gen_a2b", "gen_b2a", "critic_a", "critic_b")


def prepare(module: nn.Module, train: Any) -> torch.memory_format:
    """Apply ``train.memory_format``, ``train.activation_checkpointing`` and ``train.compile`` to the training
    module's networks (in place; parameter names and the state dict are unchanged).

    Args:
        module: the :class:`~volo_adapt.training.module.VoloGANModule` (networks ``gen_a2b``, ``gen_b2a``,
            ``critic_a``, ``critic_b`` and optional EMA copies).
        train: its :class:`~volo_adapt.config.TrainConfig`.

    Returns:
        The memory format batches must be brought into (see :func:`to_memory_format`).
    """
    from volo_adapt.hardware import train_device

    fmt = resolve_memory_format(train.memory_format, train_device(train.accelerator))
    for name in GENERATORS:
        set_activation_checkpointing(getattr(module, name), train.activation_checkpointing)
    if fmt != torch.contiguous_format:
        module.to(memory_format=fmt)
    if train.compile:
        for name in NETWORKS:
            getattr(module, name).compile()
    return fmt
