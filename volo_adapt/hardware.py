"""What the hardware can do fast, decided once in one place (training and translate both ask here).

* :func:`fast_bf16` - does this device run bfloat16 convolutions natively? CUDA: ``torch.cuda.is_bf16_supported()``;
  CPU: oneDNN's own check (AVX-512 BF16 or AMX). Without native support oneDNN emulates bf16 and a convolution is
  many times *slower* than fp32 (measured 20x on a 2-core AVX2 EPYC, see ``benchmarks/README.md``), so "bf16 where
  the hardware supports it" has to be decided per device, not per preset.
* :func:`resolve_train_precision` - ``train.precision: auto`` -> ``bf16-mixed`` or ``32-true``.

Used by training (:mod:`volo_adapt.training.step_mechanics`) and by ``volo translate``'s ``--precision auto``.
"""

from __future__ import annotations

import torch

TRAIN_PRECISIONS = ("32-true", "32", "bf16-mixed", "16-mixed", "auto")
"""``train.precision`` values that :func:`resolve_train_precision` turns into a Lightning precision."""


def fast_bf16(device: str | torch.device) -> bool:
    """True when ``device`` computes bfloat16 convolutions and matmuls in hardware.

    Args:
        device: ``cpu``, ``cuda``, ``cuda:1``, ... (other device types: False).

    Example:
        >>> isinstance(fast_bf16("cpu"), bool)
        True
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a torch build without oneDNN
            return False
    return False


def train_device(accelerator: str) -> str:
    """The device type a ``train.accelerator`` value trains on: ``cuda`` or ``cpu``."""
    if accelerator in ("gpu", "cuda"):
        return "cuda"
    if accelerator == "auto" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


def resolve_train_precision(precision: str, accelerator: str = "auto") -> str:
    """A Lightning precision string for ``train.precision``; ``auto`` becomes ``bf16-mixed`` on hardware with
    native bf16 (:func:`fast_bf16`) and ``32-true`` elsewhere; ``32`` becomes ``32-true``; others are returned as is.

    Example:
        >>> resolve_train_precision("32")
        '32-true'
    """
    if precision == "auto":
        return "bf16-mixed" if fast_bf16(train_device(accelerator)) else "32-true"
    return "32-true" if precision == "32" else precision
