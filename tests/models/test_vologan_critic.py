"""Tests for volo_adapt/models/vologan_critic.py: three outputs, shapes and spectral norm, on tiny widths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from volo_adapt.models.attention import GatedSelfAttention
from volo_adapt.models.layers import has_spectral_norm, iter_convs
from volo_adapt.models.vologan_critic import VoloGANCritic


def test_three_outputs_with_the_reference_shapes():
    d = VoloGANCritic(4, base=4)
    low, content, layout = d(torch.rand(2, 4, 32, 32))
    assert low.shape == (2, 4, 32, 32)  # the raw 7x7 conv output at full resolution
    assert content.shape == (2, 32, 1, 1)  # base * 8
    assert layout.shape == (2, 1, 4, 4)  # input / 8


def test_low_level_one_channel_option():
    low, _, _ = VoloGANCritic(3, base=4, low_level="1x1")(torch.rand(1, 3, 16, 16))
    assert low.shape == (1, 1, 16, 16)
    with pytest.raises(ValueError, match="low_level"):
        VoloGANCritic(3, low_level="mean")


def test_low_level_output_is_the_raw_stem_conv():
    d = VoloGANCritic(4, base=4).eval()
    x = torch.rand(1, 4, 16, 16)
    ref = nn.functional.conv2d(nn.functional.pad(x, (3, 3, 3, 3), mode="reflect"), d.stem.weight)
    torch.testing.assert_close(d(x)[0], ref)


def test_spectral_norm_on_every_conv():
    d = VoloGANCritic(4, base=4, low_level="1x1")
    convs = list(iter_convs(d))
    assert len(convs) == 1 + 1 + 5 + 4 + 3 + 4  # stem, low head, body, attention, content, layout
    for name, conv in convs:
        assert has_spectral_norm(conv), name


def test_widths_and_attention():
    d = VoloGANCritic(4, base=2)  # base 64 gives 128, 256 + 256, 512 + 512
    body_convs = [m.conv.out_channels for m in d.body if hasattr(m, "conv")]
    assert body_convs == [4, 8, 8, 16, 16]
    assert isinstance(d.body[-1], GatedSelfAttention)
    assert sum(isinstance(m, nn.Dropout2d) for m in d.content) == 2
    assert not VoloGANCritic(4, base=4, attention=False).requires_square
    assert VoloGANCritic(4, base=4, attention=False)(torch.rand(1, 4, 16, 32))[2].shape == (1, 1, 2, 4)
