"""``model.sensor.native_grid: auto``: the target domain's native depth grid, estimated from its training images.

Many depth sensors measure on a grid coarser than the image they deliver and resample (a phone LiDAR's dot
pattern, a multizone ToF's 4x4..8x8 zones). ``volo data inspect`` estimates that grid from the unpaired target set
itself (:mod:`volo_adapt.data.inspect_grid`: the periodic kinks that resampling leaves in depth); this module turns
its estimate into the one number the model consumes, the native cell side at the *training* image size in pixels
(``model.sensor.native_cell_px``), from which the model builds a grid-resampling basis
(:class:`~volo_adapt.models.grid_resampling.GridResampling`) and :class:`~volo_adapt.config.SensorHeadConfig` derives
a minimum ``reach`` and the geometry term's scale (docs/sensor-aware.md, "Native grid"). Nothing
here knows any sensor: the number comes from the data, and no grid found means no change.

Resolution happens once, at the start of a fresh run; the value is stored in the run's config (config.yaml and
every checkpoint), so resume, translate and export rebuild the same networks without looking at data again.
"""

from __future__ import annotations

from dataclasses import dataclass

from volo_adapt.errors import DataError, first_line
from volo_adapt.models.grid_resampling import MIN_CELL_PX

NATIVE_GRID_MODES = ("none", "auto")
"""Accepted values of ``model.sensor.native_grid``."""
MAX_SAMPLES = 64
"""Target images read for the estimate (evenly spaced; as ``volo data inspect``'s default)."""


@dataclass(frozen=True)
class TargetCell:
    """The estimate behind ``native_cell_px``.

    Attributes:
        cell_px: native cell side at the training image size, pixels (0.0 = no grid detected).
        note: one line for the run's start-up notes (names the inspected source).
    """

    cell_px: float
    note: str


def cell_at_training_size(fraction_x: float, fraction_y: float, width_px: int, height_px: int,
                          image_size: int) -> float:
    """Native cell side in training pixels, from a grid estimate of ``width_px x height_px`` images.

    The loader resizes the shorter side to ``image_size`` (volo_adapt/data/dataset.py), so a cell of
    ``1 / fraction`` file pixels becomes ``image_size / min(width_px, height_px) / fraction`` training pixels;
    the two axes' cells are averaged.

    Example:
        >>> cell_at_training_size(0.0625, 0.0625, 64, 64, 64)
        16.0
        >>> cell_at_training_size(0.25, 0.25, 256, 192, 96)
        2.0
    """
    scale = image_size / min(width_px, height_px)
    return 0.5 * (1.0 / fraction_x + 1.0 / fraction_y) * scale


def estimate_target_cell(sources: list[str], image_size: int, max_samples: int = MAX_SAMPLES) -> TargetCell:
    """Inspect the first target source and return its native cell at the training size (0.0 when none).

    Raises:
        DataError: the source cannot be read (``volo data inspect``'s one-line error, saying that the estimate read it).
    """
    from volo_adapt.data.inspect import inspect_source

    source = sources[0]
    try:
        grid = inspect_source(source, max_samples=max_samples).grid
    except DataError as e:  # say why training read the data before it started
        raise DataError(f"{first_line(e)} (estimating the target's native grid for model.sensor.native_grid: auto)"
                        ) from e
    if not grid.detected:
        return TargetCell(0.0, f"native depth grid of {source}: none detected (model unchanged)")
    assert grid.fraction_x is not None and grid.fraction_y is not None
    cell = cell_at_training_size(grid.fraction_x, grid.fraction_y, grid.width_px, grid.height_px, image_size)
    found = (f"native depth grid of {source}: {grid.cells_x} x {grid.cells_y} cells of "
             f"{grid.width_px}x{grid.height_px} px")
    if cell < MIN_CELL_PX:  # finer than the training image resolves: nothing to resample
        return TargetCell(0.0, f"{found} -> cell {cell:.2f} px at {image_size} px, below {MIN_CELL_PX} px "
                          "(model unchanged)")
    return TargetCell(round(cell, 3), f"{found} -> cell {cell:.2f} px at {image_size} px (grid resampling "
                      "basis added)")
