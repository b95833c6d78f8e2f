"""Tests for volo_adapt/models/layers.py: TF hard sigmoid, channel layer norm, conv block, spectral-norm baking."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from volo_adapt.models.layers import (
    ConvBlock,
    LayerNorm2d,
    bake_spectral_norm,
    check_input,
    hard_sigmoid_tf,
    has_spectral_norm,
    iter_convs,
)


def test_hard_sigmoid_is_the_keras_one_not_torch():
    x = torch.tensor([-10.0, -2.5, -1.0, 0.0, 1.0, 2.0, 2.5, 10.0])
    expected = torch.tensor([0.0, 0.0, 0.3, 0.5, 0.7, 0.9, 1.0, 1.0])
    torch.testing.assert_close(hard_sigmoid_tf(x), expected)
    assert not torch.allclose(hard_sigmoid_tf(x), nn.Hardsigmoid()(x))


def test_layer_norm_2d_normalises_channels_per_pixel():
    torch.manual_seed(0)
    ln = LayerNorm2d(5)
    with torch.no_grad():
        ln.weight.copy_(torch.arange(1.0, 6.0))
        ln.bias.fill_(0.5)
    x = torch.randn(2, 5, 3, 4) * 3 + 1
    y = ln(x)
    mean = x.mean(dim=1, keepdim=True)
    var = x.var(dim=1, unbiased=False, keepdim=True)
    ref = (x - mean) / torch.sqrt(var + ln.eps) * torch.arange(1.0, 6.0).view(1, 5, 1, 1) + 0.5
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)


def test_conv_block_shapes_and_spectral_norm():
    blk = ConvBlock(3, 6, kernel=7, stride=2)
    assert blk(torch.rand(1, 3, 16, 12)).shape == (1, 6, 8, 6)
    assert has_spectral_norm(blk.conv) and blk.conv.bias is None
    assert isinstance(blk.pad, nn.ReflectionPad2d)
    assert blk.norm.affine
    assert blk.act.negative_slope == pytest.approx(0.3)
    plain = ConvBlock(3, 6, kernel=1, norm="none", act=False)
    assert isinstance(plain.norm, nn.Identity) and isinstance(plain.act, nn.Identity)


def test_spectral_norm_converges_to_unit_sigma():
    torch.manual_seed(0)
    blk = ConvBlock(8, 16, kernel=3)
    for _ in range(30):  # one power iteration per training forward
        blk(torch.rand(1, 8, 8, 8))
    blk.eval()
    sigma = torch.linalg.matrix_norm(blk.conv.weight.reshape(16, -1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=0.02)


def test_bake_spectral_norm_keeps_outputs_and_leaves_the_original_intact():
    torch.manual_seed(0)
    net = nn.Sequential(ConvBlock(3, 4, 3), ConvBlock(4, 2, 1, norm="none", act=False)).eval()
    x = torch.rand(2, 3, 8, 8)
    ref = net(x)
    baked = bake_spectral_norm(copy.deepcopy(net))
    assert not any(has_spectral_norm(c) for _, c in iter_convs(baked))
    assert all(type(c) is nn.Conv2d for _, c in iter_convs(baked))
    torch.testing.assert_close(baked(x), ref)
    torch.testing.assert_close(net(x), ref)  # the deep-copied original still works
    assert all(has_spectral_norm(c) for _, c in iter_convs(net))


def test_check_input_messages():
    with pytest.raises(ValueError, match=r"multiples of 8.*got input \(1, 4, 20, 32\)"):
        check_input(torch.zeros(1, 4, 20, 32), 4, 8, "Net")
    with pytest.raises(ValueError, match="square"):
        check_input(torch.zeros(1, 4, 16, 32), 4, 8, "Net", square=True)
    with pytest.raises(ValueError, match="at least 16"):
        check_input(torch.zeros(1, 4, 8, 8), 4, 8, "Net", min_size=16)
    check_input(torch.zeros(1, 4, 16, 32), 4, 8, "Net")
