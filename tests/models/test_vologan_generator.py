"""Tests for volo_adapt/models/vologan_generator.py: structure the reference prescribes, on tiny widths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from volo_adapt.models.attention import GatedSelfAttention
from volo_adapt.models.layers import ConvBlock, has_spectral_norm, iter_convs
from volo_adapt.models.vologan_generator import VoloGANGenerator


def test_spectral_norm_and_no_bias_on_every_conv():
    g = VoloGANGenerator(4, 4, base=4, levels=5)
    convs = list(iter_convs(g))
    assert len(convs) == 5 * 3 + 2 + 5 * 3 + 4 + 1  # encoders, bottleneck, decoders, attention, head
    for name, conv in convs:
        assert has_spectral_norm(conv), name
        assert conv.bias is None, name
        assert type(conv) is not nn.ConvTranspose2d


def test_widths_kernels_and_default_layout():
    g = VoloGANGenerator(4, 4, base=2, levels=5)  # base 64 gives 64-128-256-512-512 (see test_param_counts.py)
    widths = [enc.skip[0].conv.out_channels for enc in g.encoders]
    assert widths == [2, 4, 8, 16, 16]
    assert [enc.skip[0].conv.kernel_size for enc in g.encoders] == [(7, 7)] + [(3, 3)] * 4
    assert all(enc.down.conv.stride == (2, 2) for enc in g.encoders)
    blocks = [m for m in g.modules() if isinstance(m, ConvBlock)]
    assert all(isinstance(m.act, nn.LeakyReLU) and m.act.negative_slope == pytest.approx(0.3) for m in blocks)
    assert all(
        isinstance(m.norm, nn.InstanceNorm2d) and isinstance(m.pad, nn.ReflectionPad2d | nn.Identity) for m in blocks
    )
    assert [type(d.dropout) for d in g.decoders] == [nn.Dropout2d] * 2 + [nn.Identity] * 3
    assert g.decoders[0].dropout.p == pytest.approx(0.2) and g.bottleneck[-1].p == pytest.approx(0.2)
    assert isinstance(g.decoders[0].up[1], nn.PixelShuffle)
    assert g.size_multiple == 32 and g.requires_square


def test_attention_sits_at_input_over_16():
    g = VoloGANGenerator(4, 4, base=4, levels=5)
    seen = []
    att = [m for m in g.modules() if isinstance(m, GatedSelfAttention)]
    assert len(att) == 1
    att[0].register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape)))
    g(torch.rand(1, 4, 64, 64))
    assert seen == [(1, 32, 4, 4)]  # 64 / 16 = 4 px, width base * 8


@pytest.mark.parametrize(("level", "side"), [(0, 32), (1, 16), (2, 8)])
def test_attention_level_is_configurable(level, side):
    g = VoloGANGenerator(4, 4, base=4, levels=3, attention_level=level)
    seen = []
    for m in g.modules():
        if isinstance(m, GatedSelfAttention):
            m.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
    g(torch.rand(1, 4, 32, 32))
    assert seen == [side]


def test_attention_disabled_allows_non_square_inputs():
    g = VoloGANGenerator(4, 4, base=4, levels=3, attention_level=-1)
    assert not any(isinstance(m, GatedSelfAttention) for m in g.modules()) and not g.requires_square
    assert g(torch.rand(1, 4, 16, 48)).shape == (1, 4, 16, 48)
    with pytest.raises(ValueError, match="square"):
        VoloGANGenerator(4, 4, base=4, levels=3)(torch.rand(1, 4, 16, 48))
    with pytest.raises(ValueError, match="attention_level"):
        VoloGANGenerator(4, 4, base=4, levels=3, attention_level=3)


def test_dropout_is_configurable_and_off_in_eval():
    torch.manual_seed(0)
    g = VoloGANGenerator(4, 4, base=4, levels=3, dropout=0.5)
    assert g.bottleneck[-1].p == pytest.approx(0.5)
    x = torch.rand(1, 4, 32, 32)
    assert not torch.allclose(g(x), g(x))  # dropout (and spectral-norm power iteration) in train mode
    g.eval()
    torch.testing.assert_close(g(x), g(x))
    g0 = VoloGANGenerator(4, 4, base=4, levels=3, dropout=0.0)
    assert not any(isinstance(m, nn.Dropout2d) for m in g0.modules())


def test_output_uses_keras_hard_sigmoid():
    g = VoloGANGenerator(4, 2, base=4, levels=3).eval()
    pre = []
    g.head.register_forward_hook(lambda m, i, o: pre.append(o))
    y = g(torch.rand(1, 4, 32, 32))
    torch.testing.assert_close(y, torch.clamp(0.2 * pre[0] + 0.5, 0, 1))
