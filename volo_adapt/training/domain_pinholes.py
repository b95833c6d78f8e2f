"""``model.sensor.pinholes: auto``: both domains' pinhole rates, measured on their training images at the start.

A pinhole is a pixel without a return whose neighbours (at least 6 of 8) return (:mod:`volo_adapt.models.pinholes`).
Clean renders have a few; a depth pipeline that upsamples or filters fills them, a sensor with random dropouts adds
more. This module reads up to :data:`MAX_SAMPLES` images of each domain's first training source at the training size
(resized and cropped as evaluation does, so a pinhole is counted at the resolution the generator sees) and returns the
two rates that ``model.sensor.pinhole_rates`` stores. Nothing here knows any sensor.

As with the native grid (:mod:`volo_adapt.training.target_grid`), the estimate runs once, at the start of a fresh
run; resume, translate and export rebuild from the stored rates.
"""

from __future__ import annotations

from dataclasses import dataclass

from volo_adapt.config import DataConfig
from volo_adapt.training.training_sample import TrainingSamples

PINHOLE_MODES = ("none", "auto")
"""Accepted values of ``model.sensor.pinholes``."""
MAX_SAMPLES = 64
"""Images read per domain (the first ones in key order)."""


@dataclass(frozen=True)
class DomainPinholes:
    """The estimate behind ``pinhole_rates``.

    Attributes:
        rates: ``[domain A, domain B]``, fraction of surrounded pixels that are pinholes (dimensionless).
        note: one line for the run's start-up notes.
    """

    rates: list[float]
    note: str


def source_rate(spec: str, data: DataConfig, max_samples: int = MAX_SAMPLES,
                samples: TrainingSamples | None = None) -> float:
    """Pinhole rate of the first ``max_samples`` images of ``spec`` at ``data.image_size`` (read through
    ``samples``, the start-up's shared reads, when given).

    Raises:
        DataError: the source cannot be read (one line, saying that the pinhole estimate read it).
    """
    from volo_adapt.build import build_codec
    from volo_adapt.models.pinholes import pinhole_rate

    x = (samples or TrainingSamples(data)).read(spec, max_samples, "measuring pinholes for model.sensor.pinholes: auto")
    return pinhole_rate(build_codec(data).valid_from_encoded(x[:, -1:]))


def estimate_domain_pinholes(data_a: list[str], data_b: list[str], data: DataConfig,
                             max_samples: int = MAX_SAMPLES, samples: TrainingSamples | None = None) -> DomainPinholes:
    """Both domains' rates from their first sources, and a start-up note with the fill / drop they imply.
    ``samples``: the start-up's shared reads (a fresh one when None)."""
    from volo_adapt.models.pinholes import fill_and_drop

    rate_a = source_rate(data_a[0], data, max_samples, samples)
    rate_b = source_rate(data_b[0], data, max_samples, samples)
    fill, drop = fill_and_drop(rate_a, rate_b)
    start = (f"A -> B starts filling {fill:.0%} of source pinholes" if fill else
             f"A -> B starts dropping {1000 * drop:.2f} per 1000 surrounded pixels" if drop else "no change")
    note = (f"pinholes per 1000 surrounded pixels: A {1000 * rate_a:.2f} ({data_a[0]}), B {1000 * rate_b:.2f} "
            f"({data_b[0]}); {start}")
    return DomainPinholes([rate_a, rate_b], note)
