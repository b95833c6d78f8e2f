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

What a ring's new return holds is estimated the same way. Along a silhouette, a hole-filling pipeline repeats the
surface's own value, while upsampling (or a camera's blur towards a dark background) mixes the surface with the
no-return pixels beside it. A new return starts at :func:`ring_anchor`: the valid-only mean of its box times the
box's share of returns to a power (0: the surface's value; 1: the plain box mean with no-return pixels as 0), one
power for colour and one for depth. :func:`anchor_power_for` picks the powers at which the source's edge returns,
after the rings are filled, look like the target's own (:func:`edge_ratio`: an edge return against the valid-only
mean of its box, a median over the set); the generator learns from there.

Rings are city-block (4-neighbour) distances: the first ring is the pixels that share an edge with a return.
Hand-written because no library measures this; nothing here knows a sensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from volo_adapt.models.box_sums import box_sums

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


RING_ANCHOR_GAIN = 4.0
"""Factor on the learned part of the rings' anchor exponents (``SensorAwareGenerator.ring_anchor_power``). Adam moves
a parameter by about the learning rate per step: at the presets' 5e-4, 0.3 in 600 batches; the gain makes the
exponent's steps four times larger, so that it can cross from one end of its useful range (0-1.5) to the other
within a short run (as ``KEEP_LOGIT_GAIN`` does for the keep logit)."""

RING_ANCHOR_START = (1.0, 0.5)
"""``(colour, depth)``: the exponents the rings' anchors start with. On the design instances' paired scenes
(docs/sensor-aware.md, "Fourteenth round") the colour of every sensor's new returns sat closest to the exponent
1.5 (the camera sees the dark background there, not the surface), and their depth at 0 (hole-filling sensors) or
about 1.5 (upsampling with no-return pixels mixed in): colour starts at 1, depth halfway between, both learned."""


def valid_share(valid: torch.Tensor, radius: int | torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` float64 in [0, 1]: the share of each pixel's ``(2 radius + 1)``-sided box (cut at the image
    border) that holds returns; ``valid`` ``(B, 1, H, W)`` bool, ``radius`` an int or a 0-dim integer tensor."""
    return box_sums(valid, radius) / box_sums(torch.ones_like(valid, dtype=torch.float64), radius)


def ring_anchor(fill: torch.Tensor, share: torch.Tensor, power: torch.Tensor) -> torch.Tensor:
    """The starting value of a ring's new return: the valid-only mean ``fill`` times the box's valid share raised to
    ``power`` (per channel).

    Exponent 0 keeps the valid-only mean (a hole filled with the surface's own value); exponent 1 gives the plain
    box mean with the no-return pixels counted as 0, the codec's value for "no return" (a surface mixed with what
    lies beside it, as upsampling or blur across a silhouette mixes it); in between and beyond, a learned mix. Hand-
    written because no library anchors a new return; nothing here knows a sensor.

    Args:
        fill: ``(B, C, H, W)`` float, the valid-only means of each pixel's box (``valid_mean_basis``).
        share: ``(B, 1, H, W)``, the same box's share of returns (:func:`valid_share`).
        power: ``(C,)`` float, the exponents (>= 0; clamped there).

    Returns:
        ``(B, C, H, W)``, ``fill``'s dtype; equals ``fill`` where the box is all returns, 0 where it has none.

    Example:
        >>> fill = torch.full((1, 1, 1, 3), 0.8); valid = torch.tensor([[[[True, False, False]]]])
        >>> ring_anchor(fill, valid_share(valid, 1), torch.tensor([1.0]))
        tensor([[[[0.4000, 0.2667, 0.0000]]]])
    """
    scale = share.to(fill.dtype).clamp_min(1e-6) ** power.clamp_min(0.0).view(1, -1, 1, 1).to(fill.dtype)
    return fill * torch.where(share > 0, scale, torch.zeros_like(scale))


ANCHOR_POWERS = tuple(0.125 * k for k in range(25))
"""The exponents :func:`anchor_power_for` tries (0 to 3 in steps of 0.125)."""


def edge_ratio(channel: torch.Tensor, valid: torch.Tensor, radius: int) -> float:
    """Median, over an image set's *edge returns* (returns with a 4-neighbour that has none), of the value divided
    by the valid-only mean of its ``(2 radius + 1)``-sided box; NaN without edge returns.

    About 1 where a set's silhouettes are clean or filled with the surface's own value; well below 1 where the
    returns along a silhouette mix the surface with the no-return pixels beside it (upsampled or blurred depth, a
    camera's blur towards a dark background).

    Args:
        channel: ``(N, 1, H, W)`` float, one channel of network tensors (encoded depth or a colour), >= 0.
        valid: ``(N, 1, H, W)`` bool, the returns.
        radius: the box radius, pixels (>= 1).
    """
    return _median_edge_ratio(channel, valid, edge_returns(valid), radius)


def edge_returns(valid: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` bool: the returns of ``valid`` with a 4-neighbour that has none."""
    return valid & (ring_distance(~valid, 1) == 1)


def _median_edge_ratio(channel: torch.Tensor, valid: torch.Tensor, edge: torch.Tensor, radius: int) -> float:
    """:func:`edge_ratio` with the edge returns given (:func:`edge_returns` of ``valid``)."""
    from volo_adapt.models.sensor_head import valid_mean_basis  # the generator's own normalised box mean

    mean = valid_mean_basis(channel, valid, radius)
    ok = edge & (mean > 0)
    if not bool(ok.any()):
        return float("nan")
    return float((channel[ok] / mean[ok]).median())


def anchor_power_for(target_ratio: float, channel: torch.Tensor, valid: torch.Tensor, rings: int,
                     radius: int, default: float) -> float:
    """The exponent of :data:`ANCHOR_POWERS` whose rings rule (the first ``rings`` rings around the source's
    returns, within the box ``radius``, take :func:`ring_anchor`) gives the source's images the target's
    :func:`edge_ratio`, nearest in log ratio. ``default`` without rings or a finite target ratio; a target ratio
    of 0 (more than half of the target's edge returns are exactly 0: black colour beside every silhouette) is
    matched as 1e-3, i.e. by the largest exponents.

    Args:
        target_ratio: the target set's :func:`edge_ratio` of the same channel.
        channel: ``(N, 1, H, W)`` float, the channel of the source's images.
        valid: ``(N, 1, H, W)`` bool, the source's returns.
        rings, radius: the rings filled and the anchor's box radius, pixels.
        default: returned when there is nothing to match.
    """
    from volo_adapt.models.sensor_head import valid_mean_basis

    if rings <= 0 or not math.isfinite(target_ratio) or target_ratio < 0:
        return default
    target = max(target_ratio, 1e-3)
    share = valid_share(valid, radius)
    ring = ~valid & (ring_distance(valid, rings) <= rings) & (share > 0)
    mean = valid_mean_basis(channel, valid, radius)
    filled_valid = valid | ring
    filled_edge = edge_returns(filled_valid)  # the same for every exponent: only the values change

    def miss(power: float) -> float:
        filled = torch.where(ring, ring_anchor(mean, share, torch.tensor([power])), channel)
        ratio = _median_edge_ratio(filled, filled_valid, filled_edge, radius)
        return abs(math.log(max(ratio, 1e-6) / target)) if math.isfinite(ratio) else math.inf

    return min(ANCHOR_POWERS, key=miss)
