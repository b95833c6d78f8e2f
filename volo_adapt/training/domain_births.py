"""``model.sensor.birth_rings: auto``: how many rings around its source's surfaces each generator fills, measured on
both domains' training images at the start (:mod:`volo_adapt.models.birth_rings`).

Reads up to :data:`MAX_SAMPLES` images of each domain's first training source at the training size (as evaluation
reads them), counts each domain's returns per depth bin (``return_statistics.return_histogram``) and the rings
around its surfaces, and returns ``[rings A -> B, rings B -> A]`` for ``model.sensor.birth_ring_counts``; then,
for each direction with rings, the anchor exponents (colour, depth) that give the source's edge returns the
target's (``birth_rings.anchor_power_for``) for ``model.sensor.birth_ring_powers``. Like the
native grid and the pinhole rates, the estimate runs once, at the start of a fresh run; resume, translate and export
rebuild from the stored counts. Nothing here knows any sensor.
"""

from __future__ import annotations

from dataclasses import dataclass

from volo_adapt.config import DataConfig
from volo_adapt.training.training_sample import TrainingSamples

BIRTH_RING_MODES = ("none", "auto", "auto_a2b")
"""Accepted values of ``model.sensor.birth_rings``: ``auto`` estimates both generators' rings, ``auto_a2b`` only the
translation's (A -> B); the B -> A generator, which serves the cycle and identity terms, then fills none."""
ESTIMATED_RING_MODES = ("auto", "auto_a2b")
"""The modes that estimate at the start of a run (and keep the estimate on resume)."""
MAX_SAMPLES = 256
"""Images read per domain (the first ones in key order): the per-bin excess is a difference of two means, so it
needs more images than the pinhole rate (256 at 64 px: about 4 MB per domain)."""


@dataclass(frozen=True)
class DomainBirths:
    """The estimate behind ``birth_ring_counts``.

    Attributes:
        counts: ``[A -> B, B -> A]`` rings filled (integers in ``0..MAX_RINGS``).
        powers: ``[[colour, depth] of A -> B, [colour, depth] of B -> A]``: the rings' anchor exponents.
        note: one line for the run's start-up notes.
    """

    counts: list[int]
    powers: list[list[float]]
    note: str


def estimate_birth_rings(data_a: list[str], data_b: list[str], data: DataConfig, reach: float,
                         max_samples: int = MAX_SAMPLES, samples: TrainingSamples | None = None,
                         a2b_only: bool = False) -> DomainBirths:
    """Both directions' ring counts and anchor exponents from the domains' first sources, and a start-up note.
    ``reach``: the generators' ``model.sensor`` reach as a fraction of the image side (their anchors' box);
    ``samples``: the start-up's shared reads (a fresh one when None); ``a2b_only``: the B -> A generator fills no
    ring whatever its estimate (``birth_rings: auto_a2b``; the note gives the estimate and says so)."""
    from volo_adapt.losses import returns_of
    from volo_adapt.models.birth_rings import (
        RING_ANCHOR_START,
        anchor_power_for,
        edge_ratio,
        excess_returns,
        ring_sizes,
        rings_to_fill,
    )
    from volo_adapt.return_statistics import histogram_of_returns

    samples = samples or TrainingSamples(data)
    purpose = f"measuring new returns for model.sensor.birth_rings: {'auto_a2b' if a2b_only else 'auto'}"
    x = {k: samples.read(spec[0], max_samples, purpose) for k, spec in (("A", data_a), ("B", data_b))}
    gap = data.depth_gap
    hist = {k: histogram_of_returns(t, gap)[0] for k, t in x.items()}
    valid = {k: returns_of(t, gap) > 0 for k, t in x.items()}
    sizes = {k: ring_sizes(v) for k, v in valid.items()}
    excess = {"A": excess_returns(hist["B"], hist["A"]), "B": excess_returns(hist["A"], hist["B"])}  # by source
    estimated = [rings_to_fill(excess["A"], sizes["A"]), rings_to_fill(excess["B"], sizes["B"])]
    counts = [estimated[0], 0] if a2b_only else estimated
    unused = f" of {estimated[1]} estimated, birth_rings: auto_a2b" if a2b_only else ""
    radius = max(1, round(data.image_size * reach))  # the generator's anchor box (SensorAwareGenerator.reach_px)
    # one colour exponent for the three channels (the generator's), measured on their mean
    channels = {"colour": lambda t: t[:, :-1].mean(1, keepdim=True), "depth": lambda t: t[:, -1:]}
    powers = []
    for (source, target), rings in zip((("A", "B"), ("B", "A")), counts, strict=True):
        powers.append([anchor_power_for(edge_ratio(pick(x[target]), valid[target], radius), pick(x[source]),
                                        valid[source], rings, radius, start)
                       for pick, start in zip(channels.values(), RING_ANCHOR_START, strict=True)])
    note = (f"new returns per 1000 pixels beyond the source's, by depth bin: A -> B {1000 * excess['A']:.1f} "
            f"(first ring {1000 * sizes['A'][0]:.1f}; rings filled: {counts[0]}), B -> A {1000 * excess['B']:.1f} "
            f"(first ring {1000 * sizes['B'][0]:.1f}; rings filled: {counts[1]}"
            f"{unused}); ring anchors' exponents (colour, "
            f"depth): A -> B {powers[0][0]:g}, {powers[0][1]:g}; B -> A {powers[1][0]:g}, {powers[1][1]:g}")
    return DomainBirths(counts, powers, note)
