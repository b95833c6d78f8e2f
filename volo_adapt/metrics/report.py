"""Presenting an :class:`~volo_adapt.metrics.evaluate.EvalReport`: a rich table, a JSON file, a JSON-lines history.

* JSON (``--out FILE``): everything, including per-bin noise curves; NaN is written as ``null``.
* ``metrics.jsonl``: one compact line per evaluation (no details), appended to the run folder
  (:func:`run_dir_for`), with checkpoint, step, data sources and timestamp, like stylegan2-ada's
  ``metric-*.jsonl``. Appending opens with ``"a"``, writes one line, flushes and fsyncs.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from rich.table import Table

from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.errors import VoloError
from volo_adapt.metrics.baselines import COMPARISON_LABELS, COMPARISONS
from volo_adapt.metrics.registry import get_metric

REPORT_FORMAT = 1
"""Version of the JSON report layout."""


def _clean(x: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, tuples -> lists, paths -> str."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    return x


def report_to_dict(report: Any, details: bool = True) -> dict[str, Any]:
    """The JSON structure of a report (see the module docstring)."""
    metrics: dict[str, Any] = {}
    for name, by_cmp in report.results.items():
        entry: dict[str, Any] = {"description": get_metric(name).description}
        for cmp_name, res in by_cmp.items():
            entry[cmp_name] = dict(res.values)
            if details and res.details:
                entry[f"{cmp_name}_details"] = res.details
        metrics[name] = entry
    return _clean({"volo_eval_format": REPORT_FORMAT, **report.info, "results": metrics, "skipped": report.skipped})


def write_json(report: Any, path: str | os.PathLike) -> Path:
    """Write the full report to ``path`` atomically; returns the path."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(report_to_dict(report), indent=2) + "\n").encode())
    return path


def run_dir_for(checkpoint: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Where ``metrics.jsonl`` goes: the run folder of a checkpoint in ``RUN/checkpoints/``; otherwise the folder
    of ``--out`` when given; otherwise the checkpoint's own folder."""
    ckpt = Path(checkpoint).resolve()
    if ckpt.parent.name == "checkpoints":
        return ckpt.parent.parent
    if out is not None:
        return Path(out).resolve().parent
    return ckpt.parent


def append_jsonl(report: Any, run_dir: str | os.PathLike) -> Path:
    """Append one JSON line (no details) to ``run_dir/metrics.jsonl``; flush and fsync. Returns the file path."""
    path = Path(run_dir) / "metrics.jsonl"
    line = json.dumps(report_to_dict(report, details=False), separators=(",", ":")) + "\n"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise VoloError(f"{path}: cannot append ({e.strerror or e})") from e
    return path


def _fmt(v: float | None) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 1:
        return f"{v:.3g}" if a < 100 else f"{v:.1f}"
    if a >= 1e-3:
        return f"{v:.4f}"
    return f"{v:.2e}"


def render_table(report: Any) -> Table:
    """A rich table: a heading row per metric, one row per value, one column per comparison (fits 80 columns)."""
    counts = report.info.get("counts", {})
    title = (
        f"volo eval: {report.info.get('checkpoint', '?')} (step {report.info.get('global_step')}), "
        f"{counts.get('source', '?')} source / {counts.get('target', '?')} target images"
        + (f" / {counts['paired']} pairs" if counts.get("paired") else "")
        + f" at {'x'.join(str(s) for s in report.info.get('eval_size', []))}"
    )
    caption = "; ".join(f"{c} = {COMPARISON_LABELS[c].split(': ', 1)[1]}" for c in COMPARISONS)
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    table.add_column("metric / value", no_wrap=True)
    for c in COMPARISONS:
        table.add_column(c, justify="right", no_wrap=True)
    for name, by_cmp in report.results.items():
        keys: list[str] = []
        for res in by_cmp.values():
            keys += [k for k in res.values if k not in keys]
        table.add_row(f"[bold]{name}[/]", *[""] * len(COMPARISONS))
        for i, k in enumerate(keys):
            cells = [_fmt(by_cmp[c].values.get(k)) if c in by_cmp else "n/a" for c in COMPARISONS]
            table.add_row(f"  {k}", *cells, end_section=i == len(keys) - 1)
    return table


def skipped_lines(report: Any) -> list[str]:
    """One message per skipped metric, with identical messages (e.g. FID and KID) shown once."""
    out: list[str] = []
    for msg in report.skipped.values():
        if msg not in out:
            out.append(msg)
    return out
