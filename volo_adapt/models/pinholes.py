"""Pinholes: missing depth pixels inside a surface, and how often a translation should fill or punch them.

A *surrounded* pixel is one with at least :data:`MIN_VALID_NEIGHBOURS` of its eight neighbours inside the image and
valid; a *pinhole* is a surrounded pixel that is itself invalid: a one-pixel hole, a pair, a one-pixel-wide crack
(the "isolated hole" that the speckle detector counts; a 2x2 hole's pixels have only 5 valid neighbours). How often
a surrounded pixel is a pinhole differs between domains: a clean render has a few (thin geometry, missing
triangles), a pipeline that upsamples or filters depth fills them, and a sensor with random dropouts (dark or
texture-less spots, weak returns) adds its own. A translator is told both domains' rates, measured on their
unpaired training images (:func:`pinhole_rate`, ``model.sensor.pinholes: auto``), and starts from the matching
behaviour (:func:`fill_and_drop`): fill each source pinhole with probability ``p`` when the target has fewer, drop
each surrounded valid pixel with probability ``q`` when it has more. Where the fills and drops happen stays learned
(the sensor head's return logit and the two offsets are trained); the rates only set the start.

Hand-written because no library measures this; nothing here knows any sensor: the two rates are the only input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from volo_adapt.models.box_sums import box_sums

MIN_VALID_NEIGHBOURS = 6
"""Valid neighbours (of 8) that make a pixel surrounded: 6 admits single pixels, pairs and thin cracks, the small
holes that a resampling or filtering pipeline fills and that random dropouts make (measured on the zoo's clean
renders: only about 4 % of their small-hole pixels have all 8 neighbours valid)."""
LOGIT_BOUND = 6.0
"""Bound on the initial fill / drop logits (|logit| <= 6: probabilities 0.0025..0.9975), so that a rate near 0 or
1 still leaves the straight-through mask a gradient."""


def valid_neighbours(valid: torch.Tensor) -> torch.Tensor:
    """How many of each pixel's eight neighbours are valid (pixels outside the image count as not valid).

    Args:
        valid: ``(B, 1, H, W)`` bool.

    Returns:
        ``(B, 1, H, W)`` float32, integers 0..8.
    """
    v = valid.float()
    return F.avg_pool2d(F.pad(v, (1, 1, 1, 1)), 3, 1).mul(9.0).round() - v


def surrounded(valid: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` bool: pixels with at least :data:`MIN_VALID_NEIGHBOURS` valid neighbours in the image."""
    return valid_neighbours(valid) > MIN_VALID_NEIGHBOURS - 0.5


def box_majority(decision: torch.Tensor, among: torch.Tensor) -> torch.Tensor:
    """Each pixel of ``among``: whether at least half of the ``among`` pixels in its 3x3 box (itself included, the
    box cut at the image border) have ``decision`` (ties count as yes); False elsewhere.

    A majority (binary median) filter restricted to ``among``: it removes single pixels that disagree with their
    neighbourhood (and one-pixel spurs) without moving a straight boundary between two regions.

    Args:
        decision: ``(B, 1, H, W)`` bool.
        among: ``(B, 1, H, W)`` bool, the pixels that vote and get a result.

    Returns:
        ``(B, 1, H, W)`` bool.
    """
    return among & (2.0 * box_sums(decision & among, 1) >= box_sums(among, 1))


def pinhole_rate(valid: torch.Tensor) -> float:
    """Fraction of surrounded pixels that are invalid (dimensionless, in ``[0, 1]``; 0.0 without any).

    Args:
        valid: ``(N, 1, H, W)`` bool, the images of one domain at the training size.
    """
    around = surrounded(valid)
    n = int(around.sum())
    return float((around & ~valid).sum()) / n if n else 0.0


def fill_and_drop(source_rate: float, target_rate: float) -> tuple[float, float]:
    """The fill probability ``p`` of a source pinhole and the drop probability ``q`` of a surrounded valid pixel
    that turn ``source_rate`` into ``target_rate`` (both fractions of surrounded pixels); at most one is non-zero.

    Fewer pinholes in the target: ``p = 1 - target / source``. More: ``q = (target - source) / (1 - source)``
    (each drop adds one pinhole: at these rates a dropped pixel's neighbours stay surrounded).

    Example:
        >>> fill_and_drop(0.006, 0.0015)
        (0.75, 0.0)
        >>> fill_and_drop(0.5, 0.75)
        (0.0, 0.5)
    """
    if target_rate < source_rate:
        return 1.0 - target_rate / source_rate, 0.0
    if target_rate > source_rate:
        return 0.0, (target_rate - source_rate) / (1.0 - source_rate)
    return 0.0, 0.0


def bounded_logit(p: float) -> float:
    """``log(p / (1 - p))`` clamped to ``+-LOGIT_BOUND`` (``p`` in ``[0, 1]``)."""
    if p <= 0.0:
        return -LOGIT_BOUND
    if p >= 1.0:
        return LOGIT_BOUND
    return max(-LOGIT_BOUND, min(LOGIT_BOUND, math.log(p / (1.0 - p))))


def logistic(uniform: torch.Tensor) -> torch.Tensor:
    """Standard logistic noise from uniform draws in (0, 1): added to a logit before a hard threshold it makes the
    mask a Bernoulli draw with probability ``sigmoid(logit)``."""
    u = uniform.clamp(1e-6, 1 - 1e-6)
    return torch.log(u) - torch.log1p(-u)
