"""Replace some trained rows of a zoo quality table by the same rows of another zoo result; re-render the tables.

The repository keeps a zoo benchmark's ``quality.json`` and ``quality.md``, not its run folders (a few hundred MB).
When a change alters the model on some sensors only (for example an estimate that now finds a grid on one target
set, while the others build exactly the previous networks), those rows are re-run into a new folder with
``bench_quality.py --zoo --rows preset --sensors NAME`` and merged here; every other row stays as it was. The merge
refuses rows whose data set (sensor, size, image counts, seed) or budget differ from the base table's, so a merged
table is one protocol. One exception, asked for by name: ``--allow-batch-budget`` takes a row trained to a fixed
number of batches (``bench_quality.py --steps N``) into a wall-clock table. That is for a re-run on a machine slower
than the table's, where a wall-clock budget would under-train the row; choose N from the batches the table's own
runs got (``batches_per_seed`` in its ``quality.json``). The merged table names every such row and its N.

    .venv/bin/python benchmarks/zoo_merge.py benchmarks/results/quality-zoo \\
        --take /tmp/new:phone_lidar/preset --out benchmarks/results/quality-zoo

The merged ``quality.json`` records every taken row under ``zoo.merged`` (source folder, sensor, row).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from zoo_quality import summary_rows, zoo_markdown  # noqa: E402


def _load(folder: Path) -> dict:
    path = folder / "quality.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SystemExit(f"{path}: no such file (a zoo benchmark's output folder holds quality.json)") from None
    except json.JSONDecodeError as e:
        raise SystemExit(f"{path}: not JSON ({e.msg}, line {e.lineno})") from None


def _take_spec(text: str) -> tuple[Path, str, str]:
    """``DIR:SENSOR/ROW`` -> ``(DIR, SENSOR, ROW)``."""
    folder, sep, what = text.rpartition(":")
    sensor, slash, row = what.partition("/")
    if not sep or not slash or not folder or not sensor or not row:
        raise SystemExit(f"--take {text}: expected DIR:SENSOR/ROW, e.g. /tmp/new:phone_lidar/preset")
    return Path(folder), sensor, row


def merge(base: dict, takes: list[tuple[Path, str, str]], allow_batch_budget: bool = False) -> dict:
    """``base`` (a zoo ``quality.json``) with each ``(folder, sensor, row)`` taken from ``folder/quality.json``.

    With ``allow_batch_budget`` a row trained to a fixed number of batches may enter a wall-clock table (its
    record under ``zoo.merged`` then carries ``steps``); any other budget difference is refused.
    """
    merged = json.loads(json.dumps(base))
    record = merged["zoo"].setdefault("merged", [])
    for folder, sensor, row in takes:
        new = _load(folder)
        if sensor not in merged["sensors"] or sensor not in new["sensors"]:
            raise SystemExit(f"--take {folder}:{sensor}/{row}: sensor {sensor} missing from "
                             f"{'the base table' if sensor not in merged['sensors'] else folder / 'quality.json'}")
        mine, theirs = merged["sensors"][sensor], new["sensors"][sensor]
        if row not in theirs["variants"]:
            raise SystemExit(f"--take {folder}:{sensor}/{row}: no trained row {row!r} there "
                             f"(has {', '.join(theirs['variants']) or 'none'})")
        batch_budget = allow_batch_budget and bool(new["zoo"].get("steps")) and not merged["zoo"].get("steps")
        for key in ("budget", "steps"):
            if merged["zoo"].get(key) != new["zoo"].get(key) and not batch_budget:
                hint = " (--allow-batch-budget takes a row trained with --steps)" if key == "steps" else ""
                raise SystemExit(f"--take {folder}:{sensor}/{row}: {key} {new['zoo'].get(key)!r} differs from the "
                                 f"base table's {merged['zoo'].get(key)!r}{hint}")
        if mine["data"] != theirs["data"]:
            raise SystemExit(f"--take {folder}:{sensor}/{row}: data set {theirs['data']} differs from the base "
                             f"table's {mine['data']}")
        mine["variants"][row] = theirs["variants"][row]
        record.append({"from": str(folder), "sensor": sensor, "row": row,
                       "rows": new["zoo"].get("rows", {}).get(row),
                       **({"steps": new["zoo"]["steps"]} if batch_budget else {})})
    merged["summary"] = summary_rows(merged["sensors"])
    return merged


def _header_args(zoo: dict) -> argparse.Namespace:
    """The settings :func:`zoo_quality.zoo_markdown` prints, from a ``quality.json``'s ``zoo`` block."""
    preset, sets = zoo["rows"]["preset"]
    overrides = [s for s in sets if not s.startswith("data.image_size=")]
    return argparse.Namespace(budget=zoo["budget"], steps=zoo["steps"], seeds=zoo["seeds"], preset=preset,
                              preset_overrides=";".join(overrides), zoo_size=zoo["size"], zoo_train=zoo["n_train"],
                              zoo_test=zoo["n_test"], zoo_data_seed=zoo["seed"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base", help="folder holding the base table's quality.json")
    p.add_argument("--take", action="append", required=True, metavar="DIR:SENSOR/ROW",
                   help="a trained row to take from DIR/quality.json (repeatable)")
    p.add_argument("--out", required=True, help="folder for the merged quality.json and quality.md")
    p.add_argument("--allow-batch-budget", action="store_true",
                   help="take rows trained to a fixed number of batches (bench_quality.py --steps) into a wall-clock "
                        "table, for a re-run on a slower machine; the table names them")
    args = p.parse_args(argv)
    merged = merge(_load(Path(args.base)), [_take_spec(t) for t in args.take], args.allow_batch_budget)
    table = zoo_markdown(merged["sensors"], merged["summary"], _header_args(merged["zoo"]))
    lines = table.split("\n")
    lines[2:2] = ["Merged rows (zoo_merge.py): " + "; ".join(
        f"`{m['sensor']}/{m['row']}` from a re-run ({m['rows'] and '; '.join(m['rows'][1]) or 'same settings'}"
        + (f"; trained to {m['steps']} batches, not for the wall-clock budget" if m.get("steps") else "") + ")"
        for m in merged["zoo"]["merged"]) + "; every other row as first run.", ""]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(merged, indent=2) + "\n")
    (out / "quality.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
