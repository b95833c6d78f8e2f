"""`volo data inspect`: estimate a depth sensor's properties from its unpaired images (data.inspect.inspect_source)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.app import data_app, examples
from cli.console import make_console
from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.data.formats import DEFAULT_PIXEL_LIMIT
from volo_adapt.data.inspect import SensorReport, inspect_source
from volo_adapt.errors import DataError


def _num(x: float | None, fmt: str = ".4g", unit: str = "") -> str:
    return "-" if x is None else f"{x:{fmt}}{unit}"


UPSAMPLING = {2: "kinks in the 2nd difference (piecewise-linear or nearest upsampling)",
              4: "kinks in the 4th difference (piecewise-cubic upsampling, e.g. bicubic)"}
"""What the difference order that found the grid says about the upsampling (NativeGrid.order)."""


def _grid_rows(r: SensorReport) -> list[tuple[str, str, str]]:
    g = r.grid
    if not g.detected:
        return [("native grid", "none detected (native resolution)", f"confidence {g.confidence:.1f}")]
    return [
        ("native grid", f"{g.cells_x} x {g.cells_y} cells = {_num(g.fraction_x, '.3f')} x {_num(g.fraction_y, '.3f')}"
         " of the image", f"confidence {g.confidence:.1f}; {UPSAMPLING.get(g.order, '')}"),
        ("grid phase", f"x {_num(g.phase_x, '.2f')}, y {_num(g.phase_y, '.2f')} of a cell", "kink position"),
    ]


def _depth_rows(r: SensorReport) -> list[tuple[str, str, str]]:
    q, n, d = r.quantisation, r.noise, r.depth
    rows = [
        ("depth step", _num(q.step_m, ".4g", " m") if q.step_m else "none (continuous)",
         f"coherence {q.step_coherence:.2f}; {q.distinct_values} distinct values"),
        ("disparity step", _num(q.disparity_step_per_m, ".4g", " 1/m") if q.disparity_step_per_m else "none",
         f"lattice in 1/z, coherence {q.disparity_coherence:.2f}"),
    ]
    if n.a_m is not None:
        rows.append(("noise law", f"sigma = {n.a_m:.3g} m + {n.b:.3g} z + {n.c_per_m:.3g} z^2 /m",
                     "grows with range" if n.grows_with_range else "flat or falling"))
        rows += [(f"noise at {b.z_m:.2f} m", f"{b.sigma_m * 1000:.2f} mm", f"{b.count} residuals") for b in n.bins]
    pct = ", ".join(f"{k} {v:.3f}" for k, v in d.percentiles_m.items())
    rows += [("depth range", f"{_num(d.min_m, '.3f')} - {_num(d.max_m, '.3f')} m", pct + " (m)"),
             ("valid pixels", f"{d.valid_fraction:.1%}", "mean over images")]
    return rows


def _hole_rows(r: SensorReport) -> list[tuple[str, str, str]]:
    h = r.holes

    def pc(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    sizes = ", ".join(f"{k} {v:g}" for k, v in h.hole_size_px.items()) or "-"
    hist = ", ".join(f"{k}: {v}" for k, v in h.hole_size_hist.items())
    return [
        ("invalid inside", pc(h.invalid_inside), f"area {pc(h.area_inside)}"),
        ("invalid at silhouettes", pc(h.invalid_silhouette), f"area {pc(h.area_silhouette)}, band {h.band_px} px"),
        ("invalid background", pc(h.invalid_background), f"area {pc(h.area_background)}"),
        ("enclosed holes", f"{h.holes_per_image:.2f} per image", f"size px: {sizes}; histogram {hist}"),
    ]


def _colour_rows(r: SensorReport) -> list[tuple[str, str, str]]:
    c = r.colour

    def rgb(t: tuple[float, float, float]) -> str:
        return " / ".join(f"{v:.3f}" for v in t)

    return [("colour mean (R/G/B)", rgb(c.mean), "[0, 1]"), ("colour std", rgb(c.std), "[0, 1]"),
            ("colour noise std", rgb(c.noise_std), f"[0, 1] (x255 = {c.noise_std[1] * 255:.2f} codes, G)")]


def render_report(r: SensorReport, console: Console) -> None:
    """Print the report as one rich table (estimate, value with unit, note)."""
    size = f"{r.size_px[1]}x{r.size_px[0]}"
    table = Table(title=f"sensor estimates: {r.source}",
                  caption=f"{r.samples} images ({size})" + (f", {r.skipped} unreadable skipped" if r.skipped else ""),
                  show_lines=False)
    for col in ("estimate", "value", "note"):
        table.add_column(col, overflow="fold")
    for row in _grid_rows(r) + _depth_rows(r) + _hole_rows(r) + _colour_rows(r):
        table.add_row(*row)
    console.print(table)


@data_app.command("inspect", epilog=examples(
    "volo data inspect phone/",
    "volo data inspect phone/index.json#train --max-samples 128 --json phone_sensor.json",
))
def inspect(
    source: str = typer.Argument(..., help="Source spec: folder with rgb/ and depth/, FILE.json#KEY, FILE.csv, "
                                 "a folder of .npy/.npz, or a pack."),
    max_samples: int = typer.Option(64, "--max-samples", help="Images analysed (evenly spaced over the source)."),
    json_out: Path | None = typer.Option(None, "--json", help="Also write the report as JSON to this file."),
    depth_scale: float = typer.Option(1000.0, "--depth-scale", help="16-bit PNG depth units per metre."),
    pixel_limit: int = typer.Option(DEFAULT_PIXEL_LIMIT, "--pixel-limit", help="Largest H*W accepted per file."),
) -> None:
    """Estimate the sensor's native grid, quantisation, noise vs range, holes and colour from its images."""
    if max_samples < 1:
        raise DataError(f"--max-samples {max_samples}: must be >= 1")
    if not depth_scale > 0:
        raise DataError(f"--depth-scale {depth_scale}: must be > 0")
    report = inspect_source(source, max_samples=max_samples, depth_scale=depth_scale, pixel_limit=pixel_limit)
    render_report(report, make_console())
    if json_out is not None:
        try:
            atomic_write_bytes(json_out, report.to_json().encode("utf-8"))
        except OSError as e:
            raise DataError(f"--json {json_out}: cannot write ({e.strerror or e})") from e
