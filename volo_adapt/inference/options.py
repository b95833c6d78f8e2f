"""The settings of one :func:`~volo_adapt.inference.translate_source` run, checked once, in the library's terms."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from volo_adapt.errors import OptionError
from volo_adapt.inference.engine import DEFAULT_DEPTH_TOLERANCE_MM, normalise_precision
from volo_adapt.inference.writers import RGB_FORMATS

DEFAULT_MAX_BATCH_PIXELS = 4 * 512 * 512
"""Largest ``B * H' * W'`` (padded network pixels) per batch: big images are translated fewer at a time."""


@dataclass(frozen=True)
class TranslateOptions:
    """How to translate a source; every field is checked on construction (:class:`OptionError` naming the field).

    Attributes:
        batch_size: images per network call (equal-size images only), >= 1.
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ... (checked when the run
            starts, by :func:`~volo_adapt.inference.engine.resolve_device`).
        precision: ``"auto"`` (default: the device's fastest mode whose depth difference to exact fp32 on the
            first batch is within ``depth_tolerance_mm``, see the report's ``depth_check``), ``"32"`` (exact
            fp32), ``"tf32"`` (CUDA), ``"bf16"`` or ``"16"`` (autocast); see
            :data:`~volo_adapt.inference.engine.PRECISIONS` for what the reduced ones cost in depth accuracy.
        skip_existing: leave samples whose output files all exist (resume an interrupted run).
        depth_scale: units per metre of 16-bit PNG depth, for reading and writing, > 0 (None: the run's
            ``data.depth_scale``).
        rgb_format: output colour format: ``"png"`` (default), ``"jpg"`` or ``"same"`` as the input.
        channels_last: channels-last memory format for the network (default off: it was slower for these
            generators on an H100, see ``benchmarks/README.md``).
        compile: run a ``torch.compile``-d copy of the generator (the loaded one is left as is). On an H100 this
            made bf16 translation about 3x faster after a compile of 10-60 s; every new image size recompiles.
        max_batch_pixels: cap on padded pixels per batch (large images go fewer at a time; one image always goes).
        seed: for generators that sample sensor noise, each sample's noise is seeded by ``seed`` and the sample's
            key, so a translation is reproducible and an interrupted run resumed with ``skip_existing`` writes the
            same bytes as an uninterrupted one.
        depth_tolerance_mm: the ``auto`` check's bound on the 99.9th percentile of the depth difference, mm, >= 0.
    """

    batch_size: int = 4
    device: str | torch.device | None = "auto"
    precision: str = "auto"
    skip_existing: bool = False
    depth_scale: float | None = None
    rgb_format: str = "png"
    channels_last: bool = False
    compile: bool = False
    max_batch_pixels: int = DEFAULT_MAX_BATCH_PIXELS
    seed: int = 0
    depth_tolerance_mm: float = DEFAULT_DEPTH_TOLERANCE_MM

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`OptionError` for the first bad field (e.g. ``batch_size 0: must be >= 1``)."""
        if self.batch_size < 1:
            raise OptionError("batch_size", "must be >= 1", value=str(self.batch_size))
        if self.rgb_format not in RGB_FORMATS:
            raise OptionError("rgb_format", f"must be one of {', '.join(RGB_FORMATS)}", value=repr(self.rgb_format))
        normalise_precision(self.precision)
        if not self.depth_tolerance_mm >= 0:
            raise OptionError("depth_tolerance_mm", "must be >= 0 millimetres", value=str(self.depth_tolerance_mm))
        if self.depth_scale is not None:
            self.resolved_depth_scale(self.depth_scale)

    @property
    def requested_precision(self) -> str:
        """``precision`` in :data:`~volo_adapt.inference.engine.PRECISIONS` spelling (``bf16-mixed`` -> ``bf16``)."""
        return normalise_precision(self.precision)

    def resolved_depth_scale(self, run_depth_scale: float) -> float:
        """``depth_scale``, or the run's ``data.depth_scale`` when it is None; units per metre, > 0."""
        scale = float(run_depth_scale if self.depth_scale is None else self.depth_scale)
        if not scale > 0:
            raise OptionError("depth_scale", "must be > 0 units per metre", value=str(self.depth_scale))
        return scale

    def with_overrides(self, overrides: Mapping[str, Any]) -> TranslateOptions:
        """A copy with some fields replaced (checked again).

        Raises:
            TypeError: a name that is not a field (like an unknown keyword argument).
        """
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - fields)
        if unknown:
            raise TypeError(f"unexpected option(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **overrides) if overrides else self
