"""What a perfect translator would score on the zoo table: the target sensor itself, drawn again on the same scenes.

Issue 21's paired targets compare a translation with the truth's *own* draw of the sensor's noise and dropouts.
A translator that reproduces the sensor exactly (its distribution) still draws other noise and other dropouts, so
some targets may be out of reach for it by construction: raw paired MAE (the issue's 1.5x allowance), and valid-mask
IoU >= the untouched input's where a sensor drops returns at random (independent drops cannot coincide with the
truth's; the zoo's sensors turned out to drop almost deterministically). This probe measures it instead of arguing
it: for each sensor of a ``bench_quality.py --zoo`` table it
re-makes the table's data set, measures the test and paired scenes again with the same sensor and ``--draws``
independent draws (:func:`volo_adapt.synth.redraw.write_sensor_redraw`), evaluates each draw as a translation
exactly as the table evaluates a trained run (same metrics, samples, seed, codec of the preset), and judges the
mean over draws against issue 21's targets (``zoo_quality.judge``) beside the table's preset row.

Usage::

    python benchmarks/probe_sensor_redraw.py --table benchmarks/results/quality-zoo/quality.json \\
        --draws 1 2 3 --out runs/redraw          # resumable: finished draws are kept

Writes ``OUT/redraw.json`` and ``OUT/redraw.md``. Takes about 1-2 minutes per draw on one core (C2ST dominates).
Written by hand: it is this project's own protocol, no library implements it.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import shutil
import sys
from pathlib import Path

from bench_quality import METRICS, ROOT, _fmt, flat, headline_stats
from zoo_quality import ensure_data, judge

from volo_adapt.atomic import atomic_write_bytes

KEY_FIGURES = (
    ("c2st_rgbd_acc/acc", "C2ST RGB-D"),
    ("c2st_depth_acc/acc", "C2ST depth"),
    ("paired_depth_mae_mm/mae_mm", "paired MAE mm"),
    ("paired_depth_mae_mm/mae_median5_mm", "5x5-median MAE mm"),
    ("paired_depth_mae_mm/valid_iou", "mask IoU"),
    ("geometry_vs_source_median5/mae_mm", "geometry mm"),
    ("speckle_holes/target_gap", "speckle holes gap"),
)
"""Figures shown per sensor as ``identity / redraw / preset`` (the reference in the target rule second)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=Path, default=ROOT / "benchmarks/results/quality-zoo/quality.json",
                   help="quality.json of a bench_quality.py --zoo table (its data settings and rows)")
    p.add_argument("--draws", type=int, nargs="+", default=[1, 2, 3], help="independent sensor draws (>= 1)")
    p.add_argument("--sensors", default=None, help="comma-separated subset of the table's sensors")
    p.add_argument("--preset", default="demo", help="preset whose depth codec the evaluation uses (the table's)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if any(d < 1 for d in args.draws):
        p.error("--draws: every draw must be >= 1 (0 is the data set's own)")
    return args


def _image_key(x) -> str:
    return hashlib.sha1(x.contiguous().numpy().tobytes()).hexdigest()


def evaluate_draw(data: Path, draw_dir: Path, size: int, max_samples: int, preset: str, baselines: bool):
    """The eval report of one redraw taken as the translation of the table's test and paired source images."""
    import torch

    from volo_adapt.build import build_codec
    from volo_adapt.config import load_config
    from volo_adapt.data.eval_sets import EvalSources, load_eval_set, load_network_tensors
    from volo_adapt.metrics.evaluate import evaluate_tensors
    from volo_adapt.metrics.registry import MetricOptions

    cfg = load_config(preset, [f"data.image_size={size}"])
    codec, scale = build_codec(cfg.data), cfg.data.depth_scale
    sources = EvalSources([str(data / "A" / "test")], [str(data / "B" / "test")], data / "paired")
    ev = load_eval_set(sources, "a2b", size, codec, scale, max_samples)
    redrawn_test, _ = load_network_tensors([str(draw_dir / "test")], size, codec, scale, max_samples)
    redrawn_paired, _ = load_network_tensors([str(draw_dir / "paired")], size, codec, scale, max_samples)
    lookup: dict[str, torch.Tensor] = {}
    pairs = [*zip(ev.source, redrawn_test, strict=True), *zip(ev.paired_source, redrawn_paired, strict=True)]
    for x, y in pairs:
        key = _image_key(x)
        if key in lookup and not torch.equal(lookup[key], y):  # two equal source images with different redraws
            raise SystemExit(f"{data}: two identical source images were measured differently; cannot map them")
        lookup[key] = y

    def translate(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([lookup[_image_key(x)] for x in batch])

    torch.manual_seed(0)
    return evaluate_tensors(translate, ev.source, ev.target, codec, paired_source=ev.paired_source,
                            paired_target=ev.paired_target, metrics=METRICS,
                            options=MetricOptions(seed=0, device="cpu"), baselines=baselines,
                            info={"translation": f"sensor redraw {draw_dir}"})


def probe_sensor(sensor: str, table_summary: dict, args: argparse.Namespace) -> dict:
    """Redraw and evaluate one sensor: the table's summary of it with the ``redraw`` row added and the probe's own
    references (``identity_check`` = how far they are from the table's: 0 when data and evaluation are the same)."""
    from volo_adapt.metrics.report import write_json
    from volo_adapt.synth.redraw import write_sensor_redraw

    d = table_summary["data"]
    data_args = argparse.Namespace(zoo_size=d["size"], zoo_train=d["n_train"], zoo_test=d["n_test"],
                                   zoo_data_seed=d["seed"], threads=args.threads)
    data = args.out / "data" / sensor
    ensure_data(sensor, data, data_args)
    reports = {}
    for k, draw in enumerate(args.draws):
        draw_dir = args.out / "redraw" / sensor / f"draw{draw}"
        if not (draw_dir / "redraw.json").is_file():
            if draw_dir.exists():  # an interrupted draw
                shutil.rmtree(draw_dir)
            write_sensor_redraw(data, draw_dir, draw, threads=args.threads)
        path = args.out / "evals" / sensor / f"draw{draw}.json"
        if not path.is_file():
            print(f"{sensor}: evaluating draw {draw}", flush=True)
            report = evaluate_draw(data, draw_dir, d["size"], table_summary["max_samples"], args.preset,
                                   baselines=k == 0)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(report, path)
        reports[draw] = json.loads(path.read_text())
    first = reports[args.draws[0]]
    if "identity" not in next(iter(first["results"].values())):
        raise SystemExit(f"{sensor}: draw {args.draws[0]} was evaluated without baselines; delete {args.out}/evals")
    summary = copy.deepcopy(table_summary)
    summary["references"] = {c: flat(first, c) for c in ("identity", "floor", "sensor")}
    summary["identity_check"] = _max_relative_difference(summary["references"]["identity"],
                                                         table_summary["references"]["identity"])
    stats = headline_stats({draw: flat(r, "model") for draw, r in reports.items()})
    summary["variants"]["redraw"] = {"draws": args.draws, "stats": stats}
    return summary


def _max_relative_difference(mine: dict, table: dict) -> float:
    """Largest |a - b| / max(|b|, 1e-9) over the identity figures both have (0 = the same data and evaluation)."""
    diffs = [abs(mine[k] - v) / max(abs(v), 1e-9) for k, v in table.items()
             if k in mine and math.isfinite(v) and math.isfinite(mine[k])]
    return max(diffs, default=math.nan)


def _shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (tables written here are committed)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def markdown(summaries: dict[str, dict], tables: dict[str, dict], args: argparse.Namespace) -> str:
    """``redraw.md``: per sensor the key figures and the targets met by the redraw and by the table's preset (judged
    with the table's own references)."""
    head = " | ".join(label for _, label in KEY_FIGURES)
    lines = [
        "# The sensor drawn again: what a perfect translator scores on the zoo table",
        "",
        f"`benchmarks/probe_sensor_redraw.py --table {_shown(args.table)} --draws "
        f"{' '.join(map(str, args.draws))}`: each "
        "sensor measures the table's test and paired scenes again with independent draws of its noise, dropouts "
        "and colour noise; each draw is evaluated as a translation, exactly as the table evaluates a trained run. "
        "Figures: identity / redraw (mean of the draws) / the table's preset row. Targets: issue 21's, judged "
        "as the table judges them (`zoo_quality.judge`).",
        "",
        f"| sensor | {head} | targets met: redraw / preset (of 11) | redraw misses |",
        "| --- |" + " --- |" * (len(KEY_FIGURES) + 2),
    ]
    for sensor, s in summaries.items():
        cells = []
        for key, _ in KEY_FIGURES:
            ident = s["references"]["identity"].get(key, math.nan)
            red = s["variants"]["redraw"]["stats"][key]["mean"]
            pre = s["variants"]["preset"]["stats"][key]["mean"] if "preset" in s["variants"] else math.nan
            cells.append(f"{_fmt(ident)} / {_fmt(red)} / {_fmt(pre)}")
        jr = judge(s, "redraw")
        jp = judge(tables[sensor], "preset") if "preset" in s["variants"] else None
        n = len(jr["met"]) + len(jr["missed"])
        preset_met = "n/a" if jp is None else str(len(jp["met"]))
        lines.append(f"| {sensor} | " + " | ".join(cells) + f" | {len(jr['met'])} / {preset_met} (of {n}) | "
                     + (", ".join(jr["missed"]) or "none") + " |")
    lines += ["", "Identity check (largest relative difference between this probe's identity figures and the "
              "table's; 0 = same data and evaluation): "
              + ", ".join(f"{k} {_fmt(s['identity_check'])}" for k, s in summaries.items())]
    return "\n".join(lines) + "\n"


def read_table(path: Path) -> dict:
    """A ``bench_quality.py --zoo`` ``quality.json``; a one-line SystemExit for a missing or unreadable file, or
    one without per-sensor data settings."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        for summary in table["sensors"].values():
            summary["data"]["size"], summary["max_samples"]  # noqa: B018 (the keys the probe needs)
    except FileNotFoundError:
        raise SystemExit(f"--table {path}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        what = f"{type(e).__name__}: {e}"
        raise SystemExit(f"--table {path}: not a bench_quality.py --zoo quality.json ({what})") from None
    return table


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    table = read_table(args.table)
    sensors = [s.strip() for s in (args.sensors or ",".join(table["sensors"])).split(",") if s.strip()]
    if unknown := [s for s in sensors if s not in table["sensors"]]:
        raise SystemExit(f"--sensors: not in {args.table}: {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    summaries = {s: probe_sensor(s, table["sensors"][s], args) for s in sensors}
    atomic_write_bytes(args.out / "redraw.json", (json.dumps(summaries, indent=2) + "\n").encode())
    text = markdown(summaries, table["sensors"], args)
    atomic_write_bytes(args.out / "redraw.md", text.encode())
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
