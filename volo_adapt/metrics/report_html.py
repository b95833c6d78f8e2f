"""``eval_report.html``: one self-contained page people look at after ``volo eval``.

Sections (each a ``<section id=...>``, in :data:`SECTIONS` order): the run summary, the headline table (the rows of
:mod:`volo_adapt.metrics.headline` with the model, identity, floor and sensor values, the target and met / missed),
every metric value per comparison, sample grids, noise against range, depth and gradient histograms, the speckle
figures, point clouds from two viewpoints, the PCA view, and notes (skipped metrics).

Self-contained: every image is a ``data:image/png;base64`` URI, the style sheet is inline and the only script is a
short inline one (no network) that marks ``<body data-images-ok="true">`` once every image has decoded (what the
headless-browser test reads). Nothing is fetched when the page is opened.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.metrics.baselines import COMPARISON_LABELS, COMPARISONS
from volo_adapt.metrics.headline import HEADLINE_ROWS, meets_target
from volo_adapt.metrics.report import _fmt

REPORT_NAME = "eval_report.html"
"""File name of the report inside the plots folder."""
SECTIONS = ("summary", "headline", "metrics", "samples", "noise", "histograms", "speckle", "pointcloud", "pca",
            "notes")
"""Section ids, in page order."""

_STYLE = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1150px;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px}
td.n{text-align:right;font-variant-numeric:tabular-nums}tr.h td{background:#f2f2f2;font-weight:bold}
.met{color:#0a7a2f;font-weight:bold}.missed{color:#b00020;font-weight:bold}figure{margin:1em 0}
img{max-width:100%;border:1px solid #eee}figcaption{font-size:13px;color:#444;max-width:900px}"""

_SCRIPT = """window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-decoded", ok + "/" + imgs.length);
  document.body.setAttribute("data-images-ok", ok === imgs.length ? "true" : "false");
});"""


def data_uri(png: bytes) -> str:
    """``data:image/png;base64,...`` of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_html(png: bytes, alt: str, caption: str) -> str:
    """One ``<figure>`` with the image embedded and an escaped caption."""
    return (f'<figure><img alt="{html.escape(alt)}" src="{data_uri(png)}"><figcaption>{html.escape(caption)}'
            "</figcaption></figure>")


def _cell(v: float | None) -> str:
    return f'<td class="n">{html.escape(_fmt(v))}</td>'


def headline_table(report: Any) -> str:
    """The headline rows present in the report: value per comparison, the target rule and met / missed."""
    flat = {c: report.flat(c) for c in COMPARISONS}
    head = "".join(f"<th>{c}</th>" for c in COMPARISONS)
    rows = []
    for row in HEADLINE_ROWS:
        if row.key not in flat["model"]:
            continue
        met = None
        if row.target and row.key in flat["identity"]:
            met = meets_target(row.target, flat["model"][row.key], flat["identity"][row.key],
                               flat["sensor"].get(row.key))
        verdict = "" if met is None else '<span class="met">met</span>' if met else '<span class="missed">missed</span>'
        cells = "".join(_cell(flat[c].get(row.key)) for c in COMPARISONS)
        rows.append(f"<tr><td>{html.escape(row.label)} ({row.better} is better)</td>{cells}"
                    f"<td>{html.escape(row.target)}</td><td>{verdict}</td></tr>")
    if not rows:
        return "<p>No headline metric was evaluated (see --metrics).</p>"
    return (f'<table id="headline-table"><tr><th>metric</th>{head}<th>target</th><th>met</th></tr>'
            + "".join(rows) + "</table>")


def metrics_table(report: Any) -> str:
    """Every value of every metric, one column per comparison (as the terminal table)."""
    head = "".join(f"<th>{c}</th>" for c in COMPARISONS)
    rows = []
    for name, by_cmp in report.results.items():
        keys: list[str] = []
        for res in by_cmp.values():
            keys += [k for k in res.values if k not in keys]
        rows.append(f'<tr class="h"><td colspan="{len(COMPARISONS) + 1}">{html.escape(name)}</td></tr>')
        for k in keys:
            cells = "".join(_cell(by_cmp[c].values.get(k)) if c in by_cmp else _cell(math.nan) for c in COMPARISONS)
            rows.append(f"<tr><td>{html.escape(k)}</td>{cells}</tr>")
    legend = "; ".join(html.escape(COMPARISON_LABELS[c]) for c in COMPARISONS)
    return f'<table id="metrics-table"><tr><th>metric / value</th>{head}</tr>{"".join(rows)}</table><p>{legend}</p>'


def summary_html(report: Any) -> str:
    """Checkpoint, step, direction, weights, counts, size, data and timestamp as a small definition table."""
    info = report.info
    counts = info.get("counts", {})
    items = [("checkpoint", info.get("checkpoint")), ("global step", info.get("global_step")),
             ("direction", info.get("direction")), ("weights", info.get("weights")),
             ("images", ", ".join(f"{k} {v}" for k, v in counts.items())),
             ("evaluation size", "x".join(str(s) for s in info.get("eval_size", []))),
             ("data", info.get("data")), ("timestamp", info.get("timestamp"))]
    rows = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in items if v not in (None, ""))
    return f"<table>{rows}</table>"


def notes_html(report: Any) -> str:
    """The skipped metrics with their reasons (identical reasons once)."""
    lines = list(dict.fromkeys(report.skipped.values()))
    if not lines:
        return "<p>No metric was skipped.</p>"
    return "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in lines) + "</ul>"


def build_html(report: Any, figures: dict[str, Sequence[str]]) -> str:
    """The page: ``figures`` maps a section id of :data:`SECTIONS` to its ``<figure>`` snippets
    (:func:`figure_html`); a figure section without snippets says so."""
    titles = {"summary": "Run", "headline": "Headline: model vs identity vs floor, with targets",
              "metrics": "All metrics", "samples": "Samples", "noise": "Depth noise against range",
              "histograms": "Depth and gradient histograms", "speckle": "Speckle", "pointcloud": "Point clouds",
              "pca": "PCA", "notes": "Notes"}
    tables = {"summary": summary_html(report), "headline": headline_table(report), "metrics": metrics_table(report),
              "notes": notes_html(report)}
    body = []
    for sid in SECTIONS:
        content = tables.get(sid) or "".join(figures.get(sid, ())) or "<p>Not available for this evaluation.</p>"
        body.append(f'<section id="{sid}"><h2>{titles[sid]}</h2>{content}</section>')
    title = html.escape(f"volo eval: {report.info.get('checkpoint', '?')}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{title}</h1>{''.join(body)}"
            f"<script>{_SCRIPT}</script></body></html>\n")


def write_report_html(report: Any, path: str | Path, pngs: Sequence[Path] = ()) -> Path:
    """Write the self-contained report to ``path`` (atomically); returns the path.

    Args:
        report: an :class:`~volo_adapt.metrics.evaluate.EvalReport` with its tensors.
        path: the HTML file.
        pngs: PNG files of :func:`~volo_adapt.metrics.plots.write_plots` to embed (by file name); the figures of
            ``plots_speckle`` and ``plots_cloud`` are rendered here and embedded without being written.
    """
    from volo_adapt.metrics.plots_report import report_figures

    path = Path(path)
    atomic_write_bytes(path, build_html(report, report_figures(report, pngs)).encode("utf-8"))
    return path
