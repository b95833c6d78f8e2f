"""Speckle figures of an evaluation (:mod:`volo_adapt.metrics.speckle`): where the isolated holes, depth outliers
and colour specks are, and how their rates compare.

* :func:`speckle_rates_figure`: per detector, the rate per 1000 subject pixels of the translation, the untouched
  source (identity) and the real target set, from the report's speckle metrics (no recomputation).
* :func:`speckle_map_figure`: a few source / translated / target images, depth in grey with the flagged pixels
  marked (holes red, depth outliers blue, colour specks magenta), computed with the metric's own detectors.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from matplotlib.figure import Figure

from volo_adapt.data.sample import from_network
from volo_adapt.metrics import depth_stats as ds
from volo_adapt.metrics import speckle as sp

DETECTORS = (("speckle_holes", "isolated holes"), ("speckle_outliers", "depth outliers"),
             ("colour_speckle", "colour specks"))
"""``(metric name, label)`` of the three detectors, in display order."""
MARK_COLOURS = {"holes": (1.0, 0.1, 0.1), "outliers": (0.1, 0.4, 1.0), "colour": (1.0, 0.0, 1.0)}
"""RGB of the marks of each detector on the maps."""


def speckle_rates(report: Any) -> dict[str, dict[str, float]]:
    """``{metric: {"translated": r, "source (identity)": r, "target": r}}`` per 1000 subject pixels (NaN if n/a)."""
    out = {}
    for name, _ in DETECTORS:
        by_cmp = report.results.get(name, {})
        model = by_cmp["model"].values if "model" in by_cmp else {}
        ident = by_cmp["identity"].values if "identity" in by_cmp else {}
        out[name] = {"translated": model.get("per_1000", math.nan),
                     "source (identity)": ident.get("per_1000", math.nan),
                     "target": model.get("target_per_1000", math.nan)}
    return out


def speckle_rates_figure(report: Any) -> Figure | None:
    """Grouped bars of :func:`speckle_rates`; None when the report has no speckle metric."""
    rates = speckle_rates(report)
    if not any(name in report.results for name, _ in DETECTORS):
        return None
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    sets = ("source (identity)", "translated", "target")
    colours = ("tab:blue", "tab:orange", "tab:green")
    width = 0.26
    for j, (s, colour) in enumerate(zip(sets, colours, strict=True)):
        xs = [i + (j - 1) * width for i in range(len(DETECTORS))]
        ys = [rates[name][s] if math.isfinite(rates[name][s]) else 0.0 for name, _ in DETECTORS]
        ax.bar(xs, ys, width, color=colour, label=s)
    ax.set_xticks(range(len(DETECTORS)), [label for _, label in DETECTORS])
    ax.set_ylabel("per 1000 subject pixels")
    ax.set_title("speckle rates (a missing bar: 0 or n/a)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def speckle_marks(x: torch.Tensor, codec: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Depth ``(N, H, W)`` metres (NaN invalid) and the flagged masks ``{"holes"|"outliers"|"colour": (N, H, W)
    bool}`` of network tensors ``x`` ``(N, 4, H, W)`` (the detectors of :func:`~volo_adapt.metrics.speckle.
    speckle_counts`, restricted to the subject)."""
    rgb, d, v = from_network(x.float(), codec)
    subject = ds.subject_mask(v)
    marks = {
        "holes": sp.isolated_holes(v, subject),
        "outliers": sp.isolated_outliers(d, v, sp.DEPTH_T_ABS_M) & subject,
        "colour": sp.isolated_outliers(sp.luminance(rgb), v, sp.COLOUR_T_ABS) & subject,
    }
    depth = torch.where(v, d, torch.tensor(math.nan))[:, 0]
    return depth, {k: m[:, 0] for k, m in marks.items()}


def _overlay(depth: torch.Tensor, marks: dict[str, torch.Tensor], near: float, far: float) -> torch.Tensor:
    """``(H, W, 3)`` float: depth as grey (near dark, invalid white) with the marks painted on."""
    g = ((depth - near) / (far - near)).clamp(0, 1) * 0.7 + 0.15
    img = torch.where(torch.isnan(depth), torch.tensor(1.0), g).unsqueeze(-1).repeat(1, 1, 3)
    for name, m in marks.items():
        img[m] = torch.tensor(MARK_COLOURS[name])
    return img


def speckle_map_figure(report: Any, k: int = 3) -> Figure:
    """Rows source / translated / target (first ``k`` images each), depth in grey with the flagged pixels marked."""
    t = report.tensors
    sets = [("source", t["source"]), ("translated", t["translated"]), ("target", t["target"])]
    k = max(1, min(k, *(len(x) for _, x in sets)))
    fig = Figure(figsize=(2.3 * k, 2.3 * len(sets)))
    axes = fig.subplots(len(sets), k, squeeze=False)
    codec = report.codec
    for r, (label, x) in enumerate(sets):
        depth, marks = speckle_marks(x[:k], codec)
        for c in range(k):
            ax = axes[r][c]
            ax.imshow(_overlay(depth[c], {n: m[c] for n, m in marks.items()}, codec.near, codec.far).numpy(),
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            counts = ", ".join(f"{int(m[c].sum())}" for m in marks.values())
            ax.set_title(f"h/o/c: {counts}", fontsize=7)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle("speckle: holes red, depth outliers blue, colour specks magenta (counts h/o/c per image);\n"
                 "depth grey (dark = near), white = invalid", fontsize=8)
    return fig
