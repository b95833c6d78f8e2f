"""GridResampling: a generic start (area down, bilinear up) on a fractional lattice, constants kept, kernels and
phase that learn from data."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from volo_adapt.models.grid_resampling import GridResampling, _taps, evaluate_kernel


@pytest.mark.parametrize(("cell", "size"), [(16.0, (64, 64)), (10.67, (64, 64)), (2.46, (17, 23)), (1.5, (5, 40))])
def test_constant_images_stay_constant_everywhere(cell, size):
    x = torch.full((2, 4, *size), 0.42)
    y = GridResampling(4, cell)(x)
    assert y.shape == x.shape
    assert torch.allclose(y, x, atol=1e-5)  # replicate padding: no darkened borders


def test_integer_cells_start_as_area_average_then_bilinear():
    """On a 16 px lattice the initial basis is about F.avg_pool2d then bilinear upsampling (inside the image)."""
    x = torch.rand(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    ref = F.interpolate(F.avg_pool2d(x, 16), size=(64, 64), mode="bilinear", align_corners=False)
    y = GridResampling(1, 16.0)(x)
    assert (y - ref)[..., 8:56, 8:56].abs().max() < 0.02  # the box edges ramp over one tap step
    assert (y - x).abs().mean() > 0.1  # a coarse low-pass, not the input


def test_kernel_interpolates_its_taps():
    taps = _taps("tent")[None]
    d = torch.tensor([[[0.0, 0.5, -0.75, 0.1, 3.0]]])
    assert torch.allclose(evaluate_kernel(taps, d), torch.tensor([[[1.0, 0.5, 0.25, 0.9, 0.0]]]), atol=1e-6)


def test_kernels_and_phase_learn_blocks_on_a_shifted_fractional_lattice():
    """Fitted to nearest-neighbour blocks of 6 cells across 64 px, shifted by a third of a cell, the basis moves
    from its smooth start towards them (taps and phase both receive gradient)."""
    torch.manual_seed(0)
    cell = 64 / 6
    x = torch.rand(8, 1, 64, 64)
    pad = round(cell / 3)
    shifted = F.pad(x, (pad, 0, pad, 0), mode="replicate")[..., :64, :64]
    blocks = F.interpolate(F.adaptive_avg_pool2d(shifted, 6), size=(64, 64), mode="nearest")
    target = F.pad(blocks, (0, pad, 0, pad), mode="replicate")[..., pad:, pad:]
    r = GridResampling(1, cell)
    opt = torch.optim.Adam(r.parameters(), lr=0.02)
    first = float((r(x) - target).abs().mean())
    for _ in range(200):
        opt.zero_grad()
        loss = (r(x) - target).abs().mean()
        loss.backward()
        opt.step()
    assert float(loss) < 0.5 * first
    assert float(r.phase.abs().max()) > 0.1


def test_cells_below_the_minimum_are_refused():
    with pytest.raises(ValueError, match="cell"):
        GridResampling(4, 1.2)
