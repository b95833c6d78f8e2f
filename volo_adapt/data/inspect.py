"""``volo data inspect``: estimate a depth sensor's properties from its unpaired images alone.

A translator must learn the user's sensor from that sensor's data. :func:`inspect_source` reads (a deterministic,
evenly spaced subset of) a source and estimates, from depth and colour only:

* the native depth grid (was depth upsampled from a coarser grid; its fraction of the image and phase):
  :mod:`volo_adapt.data.inspect_grid`;
* quantisation (metric step, or a lattice in inverse depth = disparity), noise versus range with a fitted law
  ``sigma = a + b z + c z^2`` and the valid depth range: :mod:`volo_adapt.data.inspect_depth`;
* holes inside the subject, at silhouettes and in the background, hole sizes, and colour statistics with a noise
  estimate: :mod:`volo_adapt.data.inspect_holes`.

The result is a frozen, JSON-serialisable :class:`SensorReport` (:meth:`SensorReport.to_dict`). Units are in the
field names and docstrings: ``_m`` metres, ``_per_m`` 1/metre, ``_px`` pixels; fractions are dimensionless; colour
values are in ``[0, 1]`` as stored. See ``docs/inspect.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from volo_adapt.data.formats import DEFAULT_PIXEL_LIMIT
from volo_adapt.data.inspect_depth import (
    DepthRange,
    NoiseModel,
    Quantisation,
    depth_range,
    estimate_noise,
    estimate_quantisation,
    smooth_residuals,
    strided,
)
from volo_adapt.data.inspect_grid import GridEstimator, NativeGrid
from volo_adapt.data.inspect_holes import ColourStats, HoleAccumulator, HoleStats, immerkaer_noise
from volo_adapt.data.pack_format import decode_item, is_stream_spec, require_litdata
from volo_adapt.data.sample import RGBDSample
from volo_adapt.data.sources import open_source, read_sample
from volo_adapt.errors import DataError, first_line

__all__ = ["SensorReport", "inspect_samples", "inspect_source"]

VALUES_PER_IMAGE = 100_000
"""Valid depths kept per image for the quantisation and range estimates (evenly strided)."""

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SensorReport:
    """What the unpaired images of one source say about their sensor.

    Attributes:
        source: the source spec.
        samples: images analysed (count); skipped: unreadable images left out (count).
        size_px: most common ``(H, W)`` of the analysed images, px.
        grid: native depth grid (:class:`~volo_adapt.data.inspect_grid.NativeGrid`).
        quantisation: depth quantisation (:class:`~volo_adapt.data.inspect_depth.Quantisation`).
        noise: noise versus range (:class:`~volo_adapt.data.inspect_depth.NoiseModel`).
        holes: missing-depth statistics (:class:`~volo_adapt.data.inspect_holes.HoleStats`).
        depth: valid depth range (:class:`~volo_adapt.data.inspect_depth.DepthRange`).
        colour: colour statistics (:class:`~volo_adapt.data.inspect_holes.ColourStats`).
    """

    source: str
    samples: int
    skipped: int
    size_px: tuple[int, int]
    grid: NativeGrid
    quantisation: Quantisation
    noise: NoiseModel
    holes: HoleStats
    depth: DepthRange
    colour: ColourStats

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (tuples become lists)."""
        return json.loads(json.dumps(asdict(self)))

    def to_json(self) -> str:
        """Indented JSON text (with a trailing newline)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


class _Pool:
    """Running accumulators of every estimator."""

    def __init__(self) -> None:
        self.grid, self.holes = GridEstimator(), HoleAccumulator()
        self.values: list[torch.Tensor] = []
        self.res_z: list[torch.Tensor] = []
        self.res_r: list[torch.Tensor] = []
        self.valid: list[float] = []
        self.sizes: dict[tuple[int, int], int] = {}
        self.rgb_sum = torch.zeros(3, dtype=torch.float64)
        self.rgb_sq = torch.zeros(3, dtype=torch.float64)
        self.rgb_noise = torch.zeros(3, dtype=torch.float64)
        self.pixels = 0

    def add(self, sample: RGBDSample) -> None:
        depth = sample.depth[0].float()
        self.grid.add(depth)
        self.holes.add(depth)
        self.values.append(strided(depth[depth > 0], VALUES_PER_IMAGE))
        z, r = smooth_residuals(depth)
        self.res_z.append(z)
        self.res_r.append(r)
        self.valid.append(float((depth > 0).float().mean()))
        self.sizes[tuple(depth.shape)] = self.sizes.get(tuple(depth.shape), 0) + 1
        rgb = sample.rgb.double()
        self.rgb_sum += rgb.sum(dim=(1, 2))
        self.rgb_sq += (rgb * rgb).sum(dim=(1, 2))
        self.rgb_noise += immerkaer_noise(sample.rgb) if min(rgb.shape[-2:]) >= 3 else 0.0
        self.pixels += rgb.shape[1] * rgb.shape[2]

    def colour(self, images: int) -> ColourStats:
        n = max(1, self.pixels)
        mean = self.rgb_sum / n
        std = (self.rgb_sq / n - mean * mean).clamp_min(0).sqrt()
        noise = self.rgb_noise / max(1, images)

        def r3(t: torch.Tensor) -> tuple[float, float, float]:
            return tuple(round(float(v), 5) for v in t)  # type: ignore[return-value]

        return ColourStats(r3(mean), r3(std), r3(noise))


def inspect_samples(samples: Iterator[RGBDSample], source: str = "", skipped: int = 0) -> SensorReport:
    """Estimate a :class:`SensorReport` from in-memory samples (rgb ``(3, H, W)`` in ``[0, 1]``, depth
    ``(1, H, W)`` metres, 0 = invalid).

    Raises:
        DataError: no samples.
    """
    pool, n = _Pool(), 0
    for s in samples:
        pool.add(s)
        n += 1
    if n == 0:
        raise DataError(f"{source or 'inspect'}: no readable samples to inspect")
    values = torch.cat(pool.values) if pool.values else torch.zeros(0)
    size = max(pool.sizes, key=pool.sizes.get)
    return SensorReport(
        source=source, samples=n, skipped=skipped, size_px=(int(size[0]), int(size[1])),
        grid=pool.grid.estimate(),
        quantisation=estimate_quantisation(values),
        noise=estimate_noise(torch.cat(pool.res_z), torch.cat(pool.res_r)),
        holes=pool.holes.result(), depth=depth_range(values, pool.valid), colour=pool.colour(n),
    )


def _pick(n: int, max_samples: int) -> list[int]:
    """``max_samples`` evenly spaced indices of ``range(n)`` (all when ``n <= max_samples``)."""
    if n <= max_samples:
        return list(range(n))
    return sorted({round(i * (n - 1) / (max_samples - 1)) for i in range(max_samples)}) if max_samples > 1 else [0]


def _read_all(spec: str, max_samples: int, depth_scale: float, pixel_limit: int,
              progress: Progress | None, skipped: list[int]) -> Iterator[RGBDSample]:
    """Yield the chosen samples of a loose or packed source; unreadable ones are counted in ``skipped[0]``."""
    if is_stream_spec(spec):
        require_litdata()
        from litdata import StreamingDataset

        try:
            ds = StreamingDataset(spec)
        except Exception as e:  # litdata raises many types (no index, no credentials)
            raise DataError(f"{spec}: cannot open the pack ({first_line(e)})") from e
        items: list[Any] = list(range(len(ds)))

        def read(i: Any) -> RGBDSample:
            return decode_item(ds[i])
    else:
        items = open_source(spec)

        def read(ref: Any) -> RGBDSample:
            return read_sample(ref, depth_scale=depth_scale, pixel_limit=pixel_limit)
    chosen = [items[i] for i in _pick(len(items), max_samples)]
    for k, item in enumerate(chosen):
        try:
            yield read(item)
        except (DataError, OSError, ValueError, RuntimeError):
            skipped[0] += 1
        if progress is not None:
            progress(k + 1, len(chosen))


def inspect_source(spec: str, max_samples: int = 64, depth_scale: float = 1000.0,
                   pixel_limit: int = DEFAULT_PIXEL_LIMIT, progress: Progress | None = None) -> SensorReport:
    """Read up to ``max_samples`` evenly spaced samples of a source and estimate its sensor's properties.

    Args:
        spec: a source spec (folder with rgb/ and depth/, FILE.json[#KEY], FILE.csv, arrays folder, or a pack).
        max_samples: images analysed (``>= 1``); more give steadier grid and noise estimates.
        depth_scale: 16-bit PNG depth units per metre (1000 = mm).
        pixel_limit: largest accepted ``H * W`` per file.
        progress: optional ``progress(done, total)`` callback.

    Raises:
        DataError: bad arguments, a source that cannot be opened, or no readable sample.
    """
    if max_samples < 1:
        raise DataError(f"max_samples {max_samples}: must be >= 1")
    if not depth_scale > 0:
        raise DataError(f"depth_scale {depth_scale}: must be > 0 PNG units per metre")
    skipped = [0]
    with torch.inference_mode():
        samples = _read_all(str(spec), max_samples, depth_scale, pixel_limit, progress, skipped)
        report = inspect_samples(samples, str(spec))
    return replace(report, skipped=skipped[0])
