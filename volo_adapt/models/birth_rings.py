"""Birth rings: how many one-pixel rings around a source's surfaces the target fills with new returns.

Many depth pipelines return *more* than the surfaces they see: upsampling a coarse depth map, or filtering and
filling it, spreads each surface's returns over the invalid pixels next to it. On the zoo's paired design scenes
85-87 % of `phone_lidar`'s and `builtin_lidar`'s new returns lie on the first ring around the render's returns, and
`filtered_depth`'s fill four rings; time-of-flight and active-stereo sensors add none (docs/sensor-aware.md,
"Twelfth round"). The anchored new-return logit did not learn this from the critic in the budget (0.004 new returns
per source return on `phone_lidar`, whose sensor adds 0.13).

Both quantities are visible in the two *unpaired* sets. The scenes of both domains come from one distribution,
so the target's returns that exceed the source's, depth bin by depth bin, are new returns
(:func:`excess_returns`; a drop lowers a bin, a birth raises the bin of the surface it continues); and the source's
own masks say how many pixels each ring around its surfaces holds (:func:`ring_sizes`). :func:`rings_to_fill`
turns the two into a ring count: whole rings while at least half of the next one is still owed. The generator then
starts with new returns on those rings (``SensorAwareGenerator``'s ``birth_rings``; the ring logit stays learned).

Rings are city-block (4-neighbour) distances: the first ring is the pixels that share an edge with a return.
Hand-written because no library measures this; nothing here knows a sensor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MAX_RINGS = 8
"""Most rings measured or filled (pixels): beyond it a target's extra returns are not a ring around surfaces."""

_CROSS = ((0.0, 1.0, 0.0), (1.0, 1.0, 1.0), (0.0, 1.0, 0.0))


def ring_distance(valid: torch.Tensor, rings: int) -> torch.Tensor:
    """City-block distance of every pixel from the nearest valid pixel, up to ``rings``.

    Args:
        valid: ``(B, 1, H, W)`` bool or 0/1 float.
        rings: the largest distance measured (>= 0).

    Returns:
        ``(B, 1, H, W)`` float: 0 on valid pixels, ``k`` on the ``k``-th ring (``1 <= k <= rings``), ``rings + 1``
        farther away (or everywhere, without a valid pixel).

    Example:
        >>> v = torch.zeros(1, 1, 1, 5, dtype=torch.bool); v[..., 0] = True
        >>> ring_distance(v, 2)[0, 0, 0].tolist()
        [0.0, 1.0, 2.0, 3.0, 3.0]
    """
    reached = valid.float()
    distance = torch.where(reached > 0, torch.zeros_like(reached), torch.full_like(reached, rings + 1.0))
    cross = torch.tensor(_CROSS, dtype=reached.dtype, device=reached.device).view(1, 1, 3, 3)
    for k in range(1, rings + 1):
        grown = (F.conv2d(reached, cross, padding=1) > 0).to(reached.dtype)
        distance = torch.where((grown > reached), torch.full_like(distance, float(k)), distance)
        reached = grown
    return distance


def ring_sizes(valid: torch.Tensor, rings: int = MAX_RINGS) -> list[float]:
    """Mean share of an image's pixels on each ring ``1..rings`` around ``valid``'s returns (``(N, 1, H, W)``),
    as fractions of the image's pixels (the unit of :func:`excess_returns`)."""
    distance = ring_distance(valid, rings)
    return [float((distance == k).float().mean()) for k in range(1, rings + 1)]


def excess_returns(target_hist: torch.Tensor, source_hist: torch.Tensor) -> float:
    """Returns per image pixel that the target has beyond the source, summed over the depth bins where it has
    more: ``sum_j max(n_B(j) - n_A(j), 0)`` (histograms from ``return_statistics.return_histogram``, any shape,
    the same for both). An estimate of the new returns per pixel a translation should add; drops in other bins
    do not cancel it, drops in the same bin hide births there."""
    return float((target_hist - source_hist).clamp_min(0.0).sum())


def rings_to_fill(excess: float, sizes: list[float]) -> int:
    """Whole rings, nearest first, that ``excess`` new returns per pixel fill: a ring counts while at least half
    of it is still owed (``sizes`` from :func:`ring_sizes`).

    Example:
        >>> rings_to_fill(0.033, [0.035, 0.034, 0.033])  # about one ring's worth
        1
        >>> rings_to_fill(0.01, [0.035, 0.034])
        0
    """
    count, owed = 0, excess
    for size in sizes:
        if size <= 0 or owed < 0.5 * size:
            break
        count, owed = count + 1, owed - size
    return count
