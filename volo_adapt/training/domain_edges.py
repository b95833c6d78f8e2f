"""``loss.geometry_region: auto``: whether the two domains' silhouettes differ, measured on both domains' training
images at the start, and so whether the geometry term may judge the edge band.

A sensor that upsamples or blurs its depth mixes every surface with what lies beside it along the silhouette; a
sensor with clean (or hole-filled) edges does not. Which kind a target is shows in its own unpaired images: the
median, over its *edge returns* (returns with a 4-neighbour that has none), of the return's value against the
valid-only mean of its 3x3 box (:func:`~volo_adapt.models.birth_rings.edge_ratio`, radius 1) is about 1 where edges
are clean and well below 1 where they mix. Where the two domains' ratios differ by more than
:data:`EDGE_MIX_TOLERANCE`, a translation must change the values in the edge band, and the geometry term compares
only the interior (``interior``, ``losses.depth_geometry_loss``); otherwise it compares every pixel (``all``), which
keeps the edges of clean sensors in place.

Measured on the zoo sets (docs/sensor-aware.md, "Sixteenth round"): every render 1.007; `builtin_lidar` and
`phone_lidar` 0.62-0.69, the table's `zone_tof` 0.875; `tof`, `active_stereo`, `filtered_depth` and the `zone_tof`
design instance 1.00-1.006. The tolerance was chosen on the design instances (any value from 1 % to 35 % separates
them). Like the other start-up estimates it runs once, at the start of a fresh run, and is stored with the run
(``loss.geometry_region_estimate``); resume rebuilds from it. Nothing here knows any sensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from volo_adapt.config import DataConfig
from volo_adapt.training.training_sample import TrainingSamples

MAX_SAMPLES = 128
"""Images read per domain (the first ones in key order): a median over some 10^4 edge returns at 64 px."""
EDGE_MIX_TOLERANCE = 0.1
"""Largest relative difference of the two domains' edge ratios (larger / smaller - 1) read as "the same edges";
beyond it the geometry term leaves the edge band to the critic."""


@dataclass(frozen=True)
class DomainEdges:
    """The estimate behind ``loss.geometry_region_estimate``.

    Attributes:
        region: ``all`` or ``interior`` (``losses.GEOMETRY_REGIONS``).
        ratios: ``(A, B)`` edge ratios of the encoded depth (NaN: a domain without edge returns).
        note: one line for the run's start-up notes.
    """

    region: str
    ratios: tuple[float, float]
    note: str


def region_for(ratio_a: float, ratio_b: float, tolerance: float = EDGE_MIX_TOLERANCE) -> str:
    """``interior`` when the two edge ratios differ by more than ``tolerance`` (relative, larger over smaller),
    ``all`` otherwise or when either is not a positive finite number.

    Example:
        >>> region_for(1.007, 0.63), region_for(1.007, 1.0), region_for(1.0, float("nan"))
        ('interior', 'all', 'all')
    """
    if not all(math.isfinite(r) and r > 0 for r in (ratio_a, ratio_b)):
        return "all"
    return "interior" if max(ratio_a, ratio_b) / min(ratio_a, ratio_b) - 1.0 > tolerance else "all"


def estimate_geometry_region(data_a: list[str], data_b: list[str], data: DataConfig,
                             max_samples: int = MAX_SAMPLES, samples: TrainingSamples | None = None) -> DomainEdges:
    """Both domains' depth edge ratios from their first sources, the region they imply, and a start-up note.
    ``samples``: the start-up's shared reads (a fresh one when None)."""
    from volo_adapt.losses import returns_of
    from volo_adapt.models.birth_rings import edge_ratio

    samples = samples or TrainingSamples(data)
    purpose = "comparing the domains' silhouettes for loss.geometry_region: auto"
    ratios = []
    for spec in (data_a, data_b):
        x = samples.read(spec[0], max_samples, purpose)
        ratios.append(edge_ratio(x[:, -1:], returns_of(x, data.depth_gap) > 0, 1))
    region = region_for(*ratios)
    compared = "the interior only" if region == "interior" else "all pixels"
    note = (f"depth at the silhouettes against the surface's 3x3 mean (median over edge returns): A {ratios[0]:.3f}, "
            f"B {ratios[1]:.3f}; the geometry term compares {compared}")
    return DomainEdges(region, (ratios[0], ratios[1]), note)
