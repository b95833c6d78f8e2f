"""Tests for volo_adapt/data/sample.py: the sample container and the exact depth codec."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.data.sample import DepthCodec, RGBDSample, from_network, to_network
from volo_adapt.errors import ConfigError


def test_codec_round_trip_is_exact_to_float_precision():
    codec = DepthCodec(near=0.25, far=5.0, gap=0.05)
    d = torch.linspace(0.25, 5.0, 10001)
    back = codec.decode(codec.encode(d))
    assert torch.allclose(back, d, rtol=0, atol=5.0 * 4e-7)


def test_codec_invalid_and_out_of_range_encode_to_zero_and_decode_invalid():
    codec = DepthCodec(near=0.5, far=4.0)
    d = torch.tensor([0.0, float("nan"), float("inf"), -1.0, 0.3, 4.5, 1.0])
    e = codec.encode(d)
    assert e[:6].eq(0).all() and e[6] > codec.gap
    assert codec.decode(e)[:6].eq(0).all()
    assert codec.valid_from_encoded(e).tolist() == [False] * 6 + [True]


def test_codec_valid_band_starts_at_gap():
    codec = DepthCodec(near=1.0, far=2.0, gap=0.1)
    assert codec.encode(torch.tensor([1.0])).item() == pytest.approx(0.1)
    assert codec.encode(torch.tensor([2.0])).item() == pytest.approx(1.0)


@pytest.mark.parametrize("kw", [dict(near=-1.0), dict(near=2.0, far=1.0), dict(gap=0.7)])
def test_codec_rejects_bad_ranges(kw):
    with pytest.raises(ConfigError):
        DepthCodec(**kw)


def test_to_network_zeroes_every_channel_where_invalid_and_inverts():
    rgb = torch.rand(3, 4, 5)
    depth = torch.rand(1, 4, 5) * 3 + 0.5
    depth[0, 0, 0] = 0.0
    depth[0, 1, 1] = float("nan")
    s = RGBDSample.from_depth(rgb, depth)
    x, valid = to_network(s, DepthCodec())
    assert x.shape == (4, 4, 5) and x.dtype == torch.float32
    assert x[:, 0, 0].eq(0).all() and x[:, 1, 1].eq(0).all()
    rgb2, d2, v2 = from_network(x, DepthCodec())
    assert torch.equal(v2, valid)
    assert torch.allclose(d2[v2], s.depth[v2], atol=1e-6)
    assert torch.allclose(rgb2[v2.expand(3, -1, -1)], rgb[v2.expand(3, -1, -1)])
