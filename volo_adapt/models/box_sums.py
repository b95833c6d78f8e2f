"""Box sums whose radius may follow the input's size, in a form that exports (TorchScript, ONNX) at any size.

A window that scales with the image (``model.sensor.reach``: a fraction of the longer side) cannot be a pooling
kernel in an exported graph: pooling kernels are fixed attributes, so the tracer baked the example's window in and
the exported generator silently used the wrong reach at every other size. Here the window is a tensor: sums come
from cumulative sums (integral images) read at index offsets ``i - r`` and ``i + r + 1``, so the radius is data
and the graph follows the input's size. Sums are taken in float64 (exact for 0/1 masks; the differences of
cumulative sums of depth keep far more than float32's digits) and boxes are cut at the image border.

Why by hand: kornia's box filters and torch's pooling take the window as a Python int.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def side_length(x: torch.Tensor) -> torch.Tensor:
    """The longer of ``x``'s last two sides (``(..., H, W)``) as a 0-dim float64 tensor.

    Counted with a sum over ones rather than read from ``x.shape``, so that a traced or exported graph follows the
    input's size instead of baking in the example's; float64, so ``side * fraction`` rounds exactly as Python's
    ``round(fraction * side)`` does.
    """
    ones = torch.ones_like(x[(0,) * (x.dim() - 2)], dtype=torch.float64)  # (H, W)
    return torch.maximum(ones[:, 0].sum(), ones[0, :].sum())


def box_sums(t: torch.Tensor, radius: int | torch.Tensor) -> torch.Tensor:
    """Sum of each pixel's ``(2 radius + 1)``-sided box, the box cut at the image border.

    Args:
        t: ``(B, C, H, W)`` float or bool.
        radius: integer >= 0, pixels: a Python int or a 0-dim integer tensor (e.g. computed from the input's size).

    Returns:
        ``(B, C, H, W)`` float64.

    Example:
        >>> box_sums(torch.ones(1, 1, 3, 4), 1)[0, 0]
        tensor([[4., 6., 6., 4.],
                [6., 9., 9., 6.],
                [4., 6., 6., 4.]], dtype=torch.float64)
    """
    out = t.to(torch.float64)
    for dim in (2, 3):
        out = _axis_box_sums(out, radius, dim)
    return out


def _axis_prefix_sums(t: torch.Tensor, dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Along ``dim`` (2 or 3) of ``(B, C, H, W)`` ``t`` of length ``L``: the prefix sums ``(B, C, L + 1, W)`` or
    ``(B, C, H, L + 1)`` (entry ``k`` = sum of the first ``k`` values), the positions ``0 .. L-1`` (``(L,)`` int64)
    and ``L`` (0-dim int64), the last two counted from the input (an exported graph follows its size)."""
    line = t[0, 0, :, 0] if dim == 2 else t[0, 0, 0, :]
    ones = torch.ones_like(line, dtype=torch.int64)
    pad = (0, 0, 1, 0) if dim == 2 else (1, 0)
    return F.pad(t.cumsum(dim), pad), ones.cumsum(0) - 1, ones.sum()


def _axis_box_sums(t: torch.Tensor, radius: int | torch.Tensor, dim: int) -> torch.Tensor:
    """Sums over ``[i - radius, i + radius]`` along ``dim`` (2 or 3) of ``(B, C, H, W)`` float64 ``t``."""
    cumulative, index, length = _axis_prefix_sums(t, dim)
    hi = torch.minimum(index + radius + 1, length)
    lo = (index - radius).clamp_min(0)
    return cumulative.index_select(dim, hi) - cumulative.index_select(dim, lo)


def adaptive_mean_pool(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, (ceil(H / factor), ceil(W / factor)))`` in a form that exports at any size.

    Cell ``i`` of an axis of ``L`` pixels and ``n = ceil(L / factor)`` cells averages pixels
    ``floor(i L / n) .. ceil((i + 1) L / n) - 1``, exactly torch's adaptive bins. An adaptive pooling's output size
    is a fixed attribute in an exported graph, so while a graph is traced or exported the bins are read from
    cumulative sums at index tensors instead (:func:`_adaptive_means_by_sums`); in eager mode torch's own pooling
    runs (several times faster on CPU; the two agree to float rounding, tests/models/test_box_sums.py).

    Args:
        x: ``(B, C, H, W)`` float.
        factor: integer >= 1.

    Returns:
        ``(B, C, ceil(H / factor), ceil(W / factor))``, same dtype (summed in float64).

    Example:
        >>> x = torch.rand(2, 3, 10, 7)
        >>> bool(torch.allclose(_adaptive_means_by_sums(x, 4), F.adaptive_avg_pool2d(x, (3, 2))))
        True
    """
    if not (torch.jit.is_tracing() or torch.compiler.is_exporting()):
        h, w = x.shape[-2:]
        return F.adaptive_avg_pool2d(x, (-(-h // factor), -(-w // factor)))
    return _adaptive_means_by_sums(x, factor)


def _adaptive_means_by_sums(x: torch.Tensor, factor: int) -> torch.Tensor:
    """:func:`adaptive_mean_pool` from cumulative sums (float64): the form a traced graph keeps at any size."""
    out = x.to(torch.float64)
    for dim in (2, 3):
        out = _axis_adaptive_means(out, factor, dim)
    return out.to(x.dtype)


def _axis_adaptive_means(t: torch.Tensor, factor: int, dim: int) -> torch.Tensor:
    """Adaptive-bin means along ``dim`` (2 or 3) of ``(B, C, H, W)`` float64 ``t`` into ``ceil(L / factor)`` cells."""
    cumulative, index, length = _axis_prefix_sums(t, dim)
    cell = index[::factor] // factor  # 0 .. n-1: one entry per cell, n = ceil(L / factor)
    n = (length + factor - 1) // factor
    start = cell * length // n
    end = ((cell + 1) * length + n - 1) // n
    sums = cumulative.index_select(dim, end) - cumulative.index_select(dim, start)
    shape = [1, 1, -1, 1] if dim == 2 else [1, 1, 1, -1]
    return sums / (end - start).to(t.dtype).view(shape)
