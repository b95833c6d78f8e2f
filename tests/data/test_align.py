"""Tests for volo_adapt/data/align.py: the single RGB/depth size policy."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.data.align import align_rgb_depth, common_size, resize_depth_nearest, resize_rgb, restore_sizes
from volo_adapt.errors import DataError


def _blocks(h: int, w: int, k: int, channels: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``(channels, h*k, w*k)`` image made of constant ``k x k`` blocks, and its ``(channels, h, w)`` block values."""
    small = torch.rand(channels, h, w, generator=torch.Generator().manual_seed(seed))
    return small.repeat_interleave(k, 1).repeat_interleave(k, 2), small


def test_phone_sized_depth_beside_large_rgb():
    # Phone LiDAR layout scaled down: RGB 8x the depth resolution, same 4:3 aspect (1920x1440 vs 256x192 is 7.5x).
    big_rgb, rgb_truth = _blocks(12, 16, 8, 3)
    depth = torch.rand(1, 12, 16) * 5
    depth[0, 3, 4] = 0
    rgb, d = align_rgb_depth(big_rgb, depth)
    assert rgb.shape == (3, 12, 16) and d.shape == (1, 12, 16)
    torch.testing.assert_close(rgb, rgb_truth, rtol=0, atol=1e-6)  # area mean of a constant block is the block
    assert torch.equal(d, depth)  # the smaller image is untouched


def test_real_phone_ratio_rgb_is_area_averaged():
    rgb = torch.rand(3, 1440 // 10, 1920 // 10)
    out = resize_rgb(rgb, (192 // 10 + 1, 256 // 10))  # 20x25 from 144x192, non-integer ratio 7.2 / 7.68
    assert out.shape == (3, 20, 25)
    assert out.min() >= 0 and out.max() <= 1
    # area averaging keeps the global mean (exactly for integer ratios, closely otherwise)
    assert abs(float(out.mean()) - float(rgb.mean())) < 0.01


def test_depth_is_resampled_nearest_never_invents_values():
    g = torch.Generator().manual_seed(0)
    depth = (torch.rand(1, 37, 50, generator=g) * 4).round(decimals=2)
    depth[torch.rand(depth.shape, generator=g) < 0.3] = 0
    for size in [(24, 32), (9, 13), (80, 100), (37, 50)]:
        out = resize_depth_nearest(depth, size)
        assert out.shape == (1, *size)
        assert torch.isin(out, depth).all()  # every value is a copy of an input value (no averaging over 0)


def test_depth_downsample_by_two_picks_block_values():
    big, small = _blocks(6, 8, 2, 1)
    big[0, 0, 1] = 0.0  # one invalid pixel inside the first block
    out = resize_depth_nearest(big, (6, 8))
    assert torch.isin(out, big).all()
    assert torch.equal(out[:, 1:, 1:], small[:, 1:, 1:])


def test_rgb_smaller_than_depth_downsamples_depth():
    rgb = torch.rand(3, 10, 20)
    depth, truth = _blocks(10, 20, 3, 1)
    r, d = align_rgb_depth(rgb, depth)
    assert torch.equal(r, rgb) and d.shape == (1, 10, 20)
    assert torch.equal(d, truth)  # nearest-exact samples block centres


def test_aspect_ratio_tolerance():
    assert common_size((1440, 1920), (192, 256)) == (192, 256)
    assert common_size((100, 201), (50, 100)) == (50, 100)  # 0.5 % off: accepted
    with pytest.raises(DataError) as e:
        common_size((100, 300), (50, 100), name="src: k")
    msg = str(e.value)
    assert "300x100" in msg and "100x50" in msg and msg.startswith("src: k")


def test_restore_sizes_and_batches():
    rgb = torch.rand(2, 3, 12, 16)
    depth = torch.rand(2, 1, 12, 16)
    r, d = restore_sizes(rgb, depth, (96, 128), (24, 32))
    assert r.shape == (2, 3, 96, 128) and d.shape == (2, 1, 24, 32)
    assert r.min() >= 0 and r.max() <= 1
    assert torch.equal(d[:, :, ::2, ::2], depth)  # nearest 2x up-sampling repeats each value
    assert torch.isin(d, depth).all()
    r2, d2 = restore_sizes(rgb[0], depth[0], (12, 16), (12, 16))
    assert r2 is rgb[0] or torch.equal(r2, rgb[0])
    assert torch.equal(d2, depth[0])
