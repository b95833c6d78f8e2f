"""The figures of ``eval_report.html`` (:mod:`volo_adapt.metrics.report_html`), as ``<figure>`` snippets per section.

The four PNGs of :func:`~volo_adapt.metrics.plots.write_plots` are embedded as written (read back by file name,
drawn again when not given); the speckle figures (:mod:`~volo_adapt.metrics.plots_speckle`) and point clouds
(:mod:`~volo_adapt.metrics.plots_cloud`) exist only in the page.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from volo_adapt.metrics import plots, plots_cloud, plots_speckle
from volo_adapt.metrics.plots_grid import DEPTH_CMAP, png_bytes
from volo_adapt.metrics.report_html import figure_html

CAPTIONS = {
    "samples.png": ("samples", "Per column one scene: RGB and depth of the source, its translation and the target "
                    "(the true target rendering of the same scene with paired data, else target images of other "
                    f"scenes). Depth in metres on one fixed {DEPTH_CMAP} scale (colour bar); grey = invalid."),
    "noise_vs_range.png": ("noise", "Pixel-scale depth noise (robust std of a 3x3 high-pass, mm) against depth per "
                           "0.5 m bin, for source, translation and target: a translation should follow the target."),
    "histograms.png": ("histograms", "Distributions of valid depths (m) and of depth-gradient magnitudes (mm/px, "
                       "log density) of the three sets."),
    "pca.png": ("pca", "PCA components 1-2 of flattened real target and translated RGB-D images (the original "
                "VoloGAN's view): overlapping clouds mean similar global statistics."),
}


def _written(report: Any, pngs: Sequence[Path]) -> dict[str, bytes]:
    """PNG bytes of the write_plots files by name (drawn into a temporary folder when not given)."""
    by_name = {Path(p).name: Path(p) for p in pngs}
    if all(name in by_name for name in CAPTIONS):
        return {name: by_name[name].read_bytes() for name in CAPTIONS}
    with tempfile.TemporaryDirectory() as tmp:
        return {p.name: p.read_bytes() for p in plots.write_plots(report, tmp)}


def report_figures(report: Any, pngs: Sequence[Path] = ()) -> dict[str, list[str]]:
    """``{section id: [<figure> html, ...]}`` for :func:`~volo_adapt.metrics.report_html.build_html`."""
    out: dict[str, list[str]] = {}
    for name, png in _written(report, pngs).items():
        section, caption = CAPTIONS[name]
        out.setdefault(section, []).append(figure_html(png, name, caption))
    rates = plots_speckle.speckle_rates_figure(report)
    if rates is not None:
        out.setdefault("speckle", []).append(figure_html(png_bytes(rates), "speckle rates", (
            "Isolated holes, depth outliers and colour specks per 1000 subject pixels: untouched source, "
            "translation and real target (speckle metrics of the report).")))
    out.setdefault("speckle", []).append(figure_html(png_bytes(plots_speckle.speckle_map_figure(report)),
                                                     "speckle maps", (
        "Where the speckle detectors fire on the first images of each set: depth in grey (dark = near, white = "
        "invalid), holes red, depth outliers blue, colour specks magenta; h/o/c = their counts per image.")))
    size = report.tensors["source"].shape[-1]
    out["pointcloud"] = [figure_html(png_bytes(plots_cloud.point_cloud_figure(report)), "point clouds", (
        "Source images and their translations back-projected to 3-D, seen from two azimuths, coloured by depth. "
        + plots_cloud.intrinsics_note(size) + "; real data from another lens looks stretched in x/y, depth is "
        "exact."))]
    return out
