"""Tests for volo_adapt/training/ema.py."""

from __future__ import annotations

import torch
from torch import nn

from volo_adapt.training.ema import init_ema, update_ema


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(2, 3, 3), nn.BatchNorm2d(3))


def test_init_copies_and_freezes():
    model, ema = _net(), _net()
    init_ema(ema, model)
    assert not any(p.requires_grad for p in ema.parameters())
    assert ema.state_dict().keys() == model.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(ema.state_dict().values(), model.state_dict().values(), strict=True))


def test_update_is_exponential_average_and_copies_buffers():
    model, ema = _net(), _net()
    init_ema(ema, model)
    old = [p.detach().clone() for p in ema.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(7.0)
    update_ema(ema, model, decay=0.75)
    for e, o, p in zip(ema.parameters(), old, model.parameters(), strict=True):
        torch.testing.assert_close(e, 0.75 * o + 0.25 * p.detach())
    assert torch.all(ema[1].running_mean == 7.0)
