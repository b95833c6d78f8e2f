"""LearnedResampling: shapes at any size, a generic start (box down, bilinear up), kernels that learn."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.models.resampling import LearnedResampling, bilinear_upsampling_kernel


@pytest.mark.parametrize("factor", [2, 3, 4, 5])
def test_upsampling_kernel_phases_each_sum_to_one(factor: int) -> None:
    k = bilinear_upsampling_kernel(factor)
    assert k.shape == (2 * factor - factor % 2,) * 2
    for py in range(factor):
        for px in range(factor):
            assert float(k[py::factor, px::factor].sum()) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("size", [(16, 16), (17, 23), (5, 64)])
def test_constant_images_stay_constant_up_to_the_border(size: tuple[int, int]) -> None:
    r = LearnedResampling(4, (2, 3, 4))
    x = torch.full((2, 4, *size), 0.42)
    for basis in r(x):
        assert basis.shape == x.shape
        assert torch.allclose(basis, x, atol=1e-6)


def test_the_initial_basis_is_a_smooth_low_pass_and_not_the_input() -> None:
    x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    (basis,) = LearnedResampling(1, (2,))(x)
    assert (basis - x).abs().mean() > 0.05  # it changes a noisy image...
    assert abs(float(basis.mean() - x.mean())) < 0.01  # ...but keeps its mean
    assert basis.var() < 0.5 * x.var()  # and smooths it


def test_kernels_learn_a_nearest_neighbour_resampling() -> None:
    """Fitted on pairs (x, nearest-upsampled 2x2 block means of x), the kernels move from bilinear towards it."""
    torch.manual_seed(0)
    r = LearnedResampling(1, (2,))
    opt = torch.optim.Adam(r.parameters(), lr=0.02)
    x = torch.rand(8, 1, 16, 16)
    target = torch.nn.functional.interpolate(torch.nn.functional.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
    first = float((r(x)[0] - target).abs().mean())
    for _ in range(150):
        opt.zero_grad()
        loss = (r(x)[0] - target).abs().mean()
        loss.backward()
        opt.step()
    assert float(loss) < 0.25 * first


def test_factors_below_two_are_refused() -> None:
    with pytest.raises(ValueError, match="factors"):
        LearnedResampling(4, (1,))
