"""Exponential moving average of a network's weights, kept in a plain copy of the network.

Hand-written rather than ``torch.optim.swa_utils.AveragedModel`` because that wrapper nests the copy
under ``.module`` and adds an ``n_averaged`` buffer, which would change the checkpoint keys that
``volo translate``/``export`` read (``gen_a2b_ema.<same keys as gen_a2b>``).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def init_ema(ema: nn.Module, model: nn.Module) -> nn.Module:
    """Copy ``model``'s weights into ``ema`` (same architecture) and freeze it (no gradients)."""
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    ema.eval()
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema_p <- decay * ema_p + (1 - decay) * p`` for floating parameters; buffers are copied.

    Args:
        ema: the averaged copy (same architecture as ``model``).
        model: the trained network.
        decay: in ``[0, 1)``; 0.999 averages over roughly the last 1000 steps.
    """
    assert 0.0 <= decay < 1.0, decay
    ema_params = [p for p in ema.parameters()]
    params = [p.detach() for p in model.parameters()]
    assert len(ema_params) == len(params), "EMA copy and model differ in structure"
    float_pairs = [(e, p) for e, p in zip(ema_params, params, strict=True) if e.dtype.is_floating_point]
    if float_pairs:
        torch._foreach_lerp_([e for e, _ in float_pairs], [p.to(e.dtype) for e, p in float_pairs], 1.0 - decay)
    for eb, b in zip(ema.buffers(), model.buffers(), strict=True):
        eb.copy_(b)
