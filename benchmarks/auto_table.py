"""The measured table behind ``train.split_backward: auto`` (``volo_adapt/training/auto_mechanics.py``).

Reads every ``perf.json`` the performance runner wrote under a folder (default: :data:`SOURCES`) and
prints the :data:`~volo_adapt.training.auto_mechanics.MEASURED` literal: one row per (device, compute dtype, size,
batch) of the ``cyclegan`` preset that has the ``tuned`` (split), ``one_backward`` and ``classic`` variants (and
``one_backward_unbatched`` where measured).
``tests/training/test_auto_mechanics.py`` checks the committed literal against the committed results with the same
function, so the table in the library cannot drift from the measurement.

Usage: ``.venv/bin/python benchmarks/auto_table.py [FOLDER]``, then paste the output over ``MEASURED``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from volo_adapt.training.auto_mechanics import MeasuredStep

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "perf-auto"
SOURCES: tuple[tuple[Path, frozenset[int] | None], ...] = (
    (RESULTS, None),
    (ROOT / "benchmarks" / "results" / "perf-512", frozenset({512})),
)
"""Where the table comes from: every size of ``perf-auto`` (64, 128 and 256 px), and the 512 px rows of the earlier
``perf-512`` run (fp32 on a 2-core CPU without native bf16; a 512 px group takes tens of minutes per precision)."""


VARIANTS = ("tuned", "one_backward", "one_backward_unbatched", "classic")
"""The runner's variants a row is made of (the unbatched one may be missing)."""


def _device_type(device: str) -> str:
    return "cuda" if device.startswith("cuda") else "cpu"


def rows_from_results(sources: tuple[tuple[Path, frozenset[int] | None], ...] = SOURCES) -> tuple[MeasuredStep, ...]:
    """Every complete (device, dtype, size, batch) of the ``cyclegan`` rows in each source's ``**/perf.json`` (only
    the source's sizes where it names them; a later source does not replace an earlier one's row), sorted; s/step
    rounded to 3 significant digits (the runner's own table shows 3)."""
    found: dict[tuple, dict[str, float]] = {}
    for folder, sizes in sources:
        found |= {k: v for k, v in _rows_of(folder, sizes).items() if k not in found}
    return tuple(
        MeasuredStep(device, dtype, size, batch, split_s=v["tuned"], one_s=v["one_backward"],
                     unbatched_s=v.get("one_backward_unbatched"), classic_s=v["classic"])
        for (device, dtype, size, batch), v in sorted(found.items())
        if {"tuned", "one_backward", "classic"} <= set(v)
    )


def _rows_of(folder: Path, sizes: frozenset[int] | None) -> dict[tuple, dict[str, float]]:
    found: dict[tuple, dict[str, float]] = {}
    for path in sorted(folder.rglob("perf.json")):
        result = json.loads(path.read_text())
        device = _device_type(str(result.get("args", {}).get("device", "cpu")))
        rows = [r for r in result["train"] if r.get("preset") == "cyclegan" and "skipped" not in r]
        dtype_of = {(r["size"], r["batch"]): r["dtype"] for r in rows if r["variant"] == "tuned"}
        for r in rows:
            key = (r["size"], r["batch"])
            if key in dtype_of and r["variant"] in VARIANTS and (
                    sizes is None or r["size"] in sizes):
                found.setdefault((device, dtype_of[key], *key), {})[r["variant"]] = float(f"{r['s_per_step']:.3g}")
    return found


def literal(rows: tuple[MeasuredStep, ...]) -> str:
    """``rows`` as the Python source of :data:`MEASURED`."""
    lines = ["MEASURED: tuple[MeasuredStep, ...] = ("]
    lines += [f"    MeasuredStep({r.device!r}, {r.dtype!r}, {r.size}, {r.batch}, split_s={r.split_s!r}, "
              f"one_s={r.one_s!r},\n                 unbatched_s={r.unbatched_s!r}, classic_s={r.classic_s!r}),"
              for r in rows]
    return "\n".join(lines + [")"])


if __name__ == "__main__":
    print(literal(rows_from_results(((Path(sys.argv[1]), None),) if len(sys.argv) > 1 else SOURCES)))
