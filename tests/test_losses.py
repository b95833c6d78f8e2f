"""Tests for volo_adapt/losses.py against values computed by hand on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from volo_adapt.errors import ConfigError
from volo_adapt.losses import (
    adversarial_d_loss,
    adversarial_g_loss,
    global_ssim,
    global_ssim_per_channel,
    reconstruction_kind_at,
    ssim_loss,
    weighted_reconstruction_loss,
    windowed_ssim_per_channel,
)

W = [1.0, 1.0, 1.0, 3.0]


# ---------------------------------------------------------------- adversarial


def test_lsgan_d_loss_sums_over_outputs():
    real = [torch.full((2, 1, 3, 3), 0.5), torch.tensor([1.0, 3.0])]
    fake = [torch.full((2, 1, 3, 3), 0.5), torch.tensor([0.0, 2.0])]
    # head 1: 0.5 * (0.25 + 0.25) = 0.25; head 2: 0.5 * (mean(0, 4) + mean(0, 4)) = 2.0
    assert adversarial_d_loss("lsgan", real, fake).item() == pytest.approx(2.25)


def test_hinge_d_loss():
    real = [torch.tensor([2.0, 0.0])]  # relu(1 - r) = [0, 1] -> 0.5
    fake = [torch.tensor([-2.0, 0.5])]  # relu(1 + f) = [0, 1.5] -> 0.75
    assert adversarial_d_loss("hinge", real, fake).item() == pytest.approx(1.25)


def test_bce_d_loss():
    real = [torch.zeros(4), torch.zeros(2, 2)]
    fake = [torch.zeros(4), torch.zeros(2, 2)]
    assert adversarial_d_loss("bce", real, fake).item() == pytest.approx(2 * math.log(2))


def test_g_losses():
    fake = [torch.tensor([0.0, 2.0]), torch.tensor([[1.0]])]
    assert adversarial_g_loss("lsgan", fake).item() == pytest.approx(1.0 + 0.0)
    assert adversarial_g_loss("hinge", fake).item() == pytest.approx(-1.0 - 1.0)
    bce = 0.5 * (math.log(2) + math.log(1 + math.exp(-2))) + math.log(1 + math.exp(-1))
    assert adversarial_g_loss("bce", fake).item() == pytest.approx(bce)


def test_adversarial_losses_accept_bf16_and_return_fp32():
    s = [torch.zeros(3, dtype=torch.bfloat16)]
    assert adversarial_d_loss("lsgan", s, s).dtype == torch.float32
    assert adversarial_g_loss("lsgan", s).dtype == torch.float32


def test_unknown_adversarial_kind():
    with pytest.raises(ConfigError, match="wgan.*lsgan, hinge, bce"):
        adversarial_g_loss("wgan", [torch.zeros(1)])
    with pytest.raises(ConfigError, match="wgan"):
        adversarial_d_loss("wgan", [torch.zeros(1)], [torch.zeros(1)])


# ------------------------------------------------------------- reconstruction


def _pair_with_channel_errors(errors):
    x = torch.zeros(2, len(errors), 3, 3)
    y = x.clone()
    for c, e in enumerate(errors):
        y[:, c] = e
    return x, y


def test_weighted_l1_and_l2_with_known_channel_errors():
    x, y = _pair_with_channel_errors([0.1, 0.2, 0.3, 0.4])
    assert weighted_reconstruction_loss(x, y, W).item() == pytest.approx((0.1 + 0.2 + 0.3 + 3 * 0.4) / 6)
    assert weighted_reconstruction_loss(x, y, W, kind="l2").item() == pytest.approx((0.01 + 0.04 + 0.09 + 0.48) / 6)
    assert weighted_reconstruction_loss(x, y, W, normalize="channels").item() == pytest.approx(1.8 / 4)
    assert weighted_reconstruction_loss(x, y, W, normalize="none").item() == pytest.approx(1.8)
    # equal errors: the weighted mean equals the plain L1
    x, y = _pair_with_channel_errors([0.25] * 4)
    assert weighted_reconstruction_loss(x, y, W).item() == pytest.approx(0.25)


def test_l1_uses_signed_differences_per_pixel():
    x = torch.tensor([0.0, 1.0]).view(1, 1, 1, 2)
    y = torch.tensor([0.5, 0.5]).view(1, 1, 1, 2)
    assert weighted_reconstruction_loss(x, y, [1.0]).item() == pytest.approx(0.5)  # not |mean(x - y)| = 0


def test_valid_mask_restricts_only_the_depth_channel():
    x = torch.zeros(1, 4, 2, 2)
    y = x.clone()
    y[:, 0] = 0.1
    y[0, 3] = torch.tensor([[0.2, 0.2], [0.9, 0.9]])
    valid = torch.tensor([[True, True], [False, False]]).view(1, 1, 2, 2)
    assert weighted_reconstruction_loss(x, y, W).item() == pytest.approx((0.1 + 3 * 0.55) / 6)
    assert weighted_reconstruction_loss(x, y, W, valid=valid).item() == pytest.approx((0.1 + 3 * 0.2) / 6)
    nothing = torch.zeros_like(valid)
    assert weighted_reconstruction_loss(x, y, W, valid=nothing).item() == pytest.approx(0.1 / 6)


def test_reconstruction_gradients_and_errors():
    x = torch.rand(2, 4, 4, 4, requires_grad=True)
    weighted_reconstruction_loss(x, torch.rand(2, 4, 4, 4), W).backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="4 channels"):
        weighted_reconstruction_loss(x, x, [1.0, 1.0])
    with pytest.raises(ValueError, match="valid must be"):
        weighted_reconstruction_loss(x, x, W, valid=torch.ones(2, 4, 4, dtype=torch.bool))
    with pytest.raises(ConfigError, match="l3"):
        weighted_reconstruction_loss(x, x, W, kind="l3")


# ------------------------------------------------------------------------ SSIM


def test_global_ssim_identical_is_one():
    x = torch.rand(2, 4, 8, 8)
    assert global_ssim(x, x, W).item() == pytest.approx(1.0, abs=1e-6)
    assert ssim_loss(x, x, W).item() == pytest.approx(0.0, abs=1e-6)


def test_global_ssim_hand_computed_pair():
    c2 = 0.03**2
    x = torch.tensor([0.0, 1.0, 0.0, 1.0]).view(1, 1, 2, 2)
    flat = torch.full((1, 1, 2, 2), 0.5)
    # mu_x = mu_y = 0.5, var_x = 0.25, var_y = 0, cov = 0 -> SSIM = c2 / (0.25 + c2)
    assert global_ssim_per_channel(x, flat).item() == pytest.approx(c2 / (0.25 + c2))
    # y = 1 - x: var_x = var_y = 0.25, cov = -0.25 -> SSIM = (c2 - 0.5) / (c2 + 0.5)
    anti = (c2 - 0.5) / (c2 + 0.5)
    assert global_ssim_per_channel(x, 1 - x).item() == pytest.approx(anti)
    # two channels weighted [1, 3]: channel 0 identical (1), channel 1 the anti pair
    a = torch.cat([x, x], dim=1)
    b = torch.cat([x, 1 - x], dim=1)
    assert global_ssim(a, b, [1.0, 3.0]).item() == pytest.approx((1 + 3 * anti) / 4)
    assert ssim_loss(a, b, [1.0, 3.0]).item() == pytest.approx(1 - (1 + 3 * anti) / 4)


def test_global_ssim_pools_the_whole_batch():
    rng = np.random.default_rng(0)
    x = rng.random((3, 2, 5, 5))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    c1, c2 = 0.01**2, 0.03**2
    expected = []
    for c in range(2):
        a, b = x[:, c].ravel(), y[:, c].ravel()
        cov = ((a - a.mean()) * (b - b.mean())).mean()
        num = (2 * a.mean() * b.mean() + c1) * (2 * cov + c2)
        expected.append(num / ((a.mean() ** 2 + b.mean() ** 2 + c1) * (a.var() + b.var() + c2)))
    got = global_ssim_per_channel(torch.from_numpy(x).float(), torch.from_numpy(y).float())
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-4)


def test_windowed_ssim_uses_kornia_per_channel_weighting():
    import kornia.metrics

    torch.manual_seed(0)
    x = torch.rand(1, 2, 16, 16)
    y = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    assert ssim_loss(x, x, [1.0, 1.0], kind="windowed").item() == pytest.approx(0.0, abs=1e-4)
    only_first = ssim_loss(x, y, [1.0, 0.0], kind="windowed")
    ref = 1 - kornia.metrics.ssim(x[:, :1], y[:, :1], 11, max_val=1.0).mean()
    assert only_first.item() == pytest.approx(ref.item(), abs=1e-5)
    per = windowed_ssim_per_channel(x, y)
    loss = ssim_loss(x, y, [1.0, 3.0], kind="windowed")
    assert loss.item() == pytest.approx(1 - (per[0] + 3 * per[1]).item() / 4, abs=1e-6)
    with pytest.raises(ConfigError, match="ms"):
        ssim_loss(x, y, [1.0, 1.0], kind="ms")


def test_ssim_loss_has_gradients():
    x = torch.rand(2, 4, 16, 16, requires_grad=True)
    y = torch.rand(2, 4, 16, 16)
    for kind in ("global", "windowed"):
        x.grad = None
        ssim_loss(x, y, W, kind=kind).backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ------------------------------------------------------------------ L1 -> L2


def test_l1_to_l2_switch():
    assert [reconstruction_kind_at(p, 0.5) for p in (0.0, 0.49, 0.5, 0.9)] == ["l1", "l1", "l2", "l2"]
    assert reconstruction_kind_at(1.0, -1) == "l1"
    assert reconstruction_kind_at(0.0, 0.0) == "l2"


def test_geometry_loss_measures_moved_surfaces_in_metres_and_ignores_validity_changes():
    from volo_adapt.data.sample import DepthCodec
    from volo_adapt.losses import depth_geometry_loss

    codec = DepthCodec(0.25, 5.0, 0.05)
    depth = torch.full((1, 1, 16, 16), 2.0)
    src = torch.cat([torch.full((1, 3, 16, 16), 0.5), codec.encode(depth)], 1)
    moved = src.clone()
    moved[:, 3:] = codec.encode(depth + 0.1)
    assert abs(float(depth_geometry_loss(src, moved, 0.25, 5.0, 0.05)) - 0.1) < 1e-4
    holed = src.clone()
    holed[:, :, 4:8] = 0.0  # dropped returns are not "moved" surfaces
    assert float(depth_geometry_loss(src, holed, 0.25, 5.0, 0.05)) < 1e-5
    noisy = src.clone()
    noisy[:, 3:] = codec.encode(depth + 0.01 * torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)))
    assert float(depth_geometry_loss(src, noisy, 0.25, 5.0, 0.05)) < 0.005  # zero-mean noise mostly averages out


def test_geometry_loss_interior_region_ignores_the_edge_band_of_the_source_silhouette():
    from volo_adapt.data.sample import DepthCodec
    from volo_adapt.losses import depth_geometry_loss

    codec = DepthCodec(0.25, 5.0, 0.05)
    depth = torch.zeros(1, 1, 16, 16)
    depth[..., :, :10] = 2.0  # a surface on the left 10 columns, no return to its right
    src = torch.cat([torch.full((1, 3, 16, 16), 0.5), codec.encode(depth)], 1)
    mixed = src.clone()
    mixed[:, 3:, :, 8:10] = codec.encode(torch.full((1, 1, 16, 2), 1.0))  # the last two columns mixed, 1 m nearer
    assert float(depth_geometry_loss(src, mixed, 0.25, 5.0, 0.05)) > 0.1
    assert float(depth_geometry_loss(src, mixed, 0.25, 5.0, 0.05, region="interior")) < 1e-5
    moved = src.clone()
    moved[:, 3:, :, :10] = codec.encode(torch.full((1, 1, 16, 10), 2.5))  # the whole surface 0.5 m farther
    # interior: columns 0-7 (the image border cuts the window, it is not a silhouette), every one 0.5 m off
    assert float(depth_geometry_loss(src, moved, 0.25, 5.0, 0.05, region="interior")) == pytest.approx(0.5, abs=1e-4)
    with pytest.raises(ValueError, match="region"):
        depth_geometry_loss(src, moved, 0.25, 5.0, 0.05, region="edges")


def test_patch_sliced_wasserstein_is_zero_for_equal_sets_and_grows_with_the_difference():
    from volo_adapt.losses import patch_sliced_wasserstein

    g = torch.Generator().manual_seed(0)
    real = torch.rand(2, 4, 32, 32, generator=g)
    torch.manual_seed(0)
    assert float(patch_sliced_wasserstein(real, real)) < 1e-5
    near = (real + 0.01 * torch.randn(real.shape, generator=g)).requires_grad_()
    far = (real * 0.5).requires_grad_()
    d_near, d_far = patch_sliced_wasserstein(near, real), patch_sliced_wasserstein(far, real)
    assert 0 < float(d_near) < float(d_far)
    d_far.backward()
    assert far.grad is not None and far.grad.abs().sum() > 0
    # unpaired: a permuted set of the same images is the same distribution
    assert float(patch_sliced_wasserstein(real.flip(0), real)) < 1e-5


def test_colour_anchor_measures_colour_moved_on_pixels_valid_in_both():
    from volo_adapt.losses import colour_anchor_loss

    x = torch.zeros(2, 4, 8, 8)
    x[:, 3] = 0.5
    x[:, :3] = 0.3
    assert float(colour_anchor_loss(x, x.clone(), 0.05)) == 0.0
    y = x.clone()
    y[:, :3, :, :4] += 0.2  # left half: every channel 0.2 brighter
    assert float(colour_anchor_loss(x, y, 0.05)) == pytest.approx(0.1, abs=1e-6)
    y[:, :, :, :4] = 0.0  # the changed half made invalid: a validity change, not compared
    assert float(colour_anchor_loss(x, y, 0.05)) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        colour_anchor_loss(x, y[:, :, :4], 0.05)
