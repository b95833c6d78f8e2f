"""Box sums with a radius that may be a tensor (volo_adapt/models/box_sums.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from volo_adapt.models.box_sums import _adaptive_means_by_sums, adaptive_mean_pool, box_sums, side_length


def _brute_force(t: torch.Tensor, r: int) -> torch.Tensor:
    h, w = t.shape[-2:]
    out = torch.zeros(t.shape, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            out[..., i, j] = t[..., max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].double().sum((-2, -1))
    return out


@pytest.mark.parametrize("r", [0, 1, 3, 40])
def test_box_sums_equal_a_direct_sum_over_the_border_cut_box(r):
    t = torch.rand(2, 3, 9, 13, generator=torch.Generator().manual_seed(r))
    expected = _brute_force(t, r)
    assert torch.allclose(box_sums(t, r), expected, rtol=0, atol=1e-12)
    assert torch.equal(box_sums(t, torch.tensor(r)), box_sums(t, r))  # a tensor radius is the same box


def test_box_sums_of_a_mask_count_its_pixels_exactly():
    mask = torch.rand(1, 1, 17, 11, generator=torch.Generator().manual_seed(1)) > 0.7
    counts = box_sums(mask, 2)
    assert counts.dtype == torch.float64 and torch.equal(counts, _brute_force(mask.double(), 2))
    assert torch.equal(counts.round(), counts)


def test_side_length_is_the_longer_side_as_a_float64_tensor():
    assert side_length(torch.zeros(2, 4, 12, 30)).item() == 30.0
    assert side_length(torch.zeros(1, 1, 45, 7)).dtype == torch.float64
    # float64, so a fraction of it rounds as Python's round() does (0.3 * 95 -> 28; in float32 it rounds to 29)
    assert torch.round(side_length(torch.zeros(1, 1, 95, 95)) * 0.3).item() == round(0.3 * 95) == 28


@pytest.mark.parametrize("shape", [(10, 7), (64, 64), (5, 3), (1, 9), (17, 33)])
def test_the_exportable_adaptive_means_use_torchs_adaptive_bins(shape):
    """The cumulative-sum form (what a traced graph keeps) against F.adaptive_avg_pool2d, including sizes that
    the factor does not divide (overlapping bins)."""
    h, w = shape
    x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h * w))
    for factor in (1, 2, 3, 4, 5):
        expected = F.adaptive_avg_pool2d(x, (-(-h // factor), -(-w // factor)))
        assert torch.equal(adaptive_mean_pool(x, factor), expected)  # eager: torch's own pooling
        by_sums = _adaptive_means_by_sums(x, factor)
        assert by_sums.shape == expected.shape and (by_sums - expected).abs().max() < 1e-6, factor
