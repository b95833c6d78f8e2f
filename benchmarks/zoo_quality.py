"""``bench_quality.py --zoo``: the quality benchmark on every sensor of the synthetic sensor zoo.

For each zoo sensor (``--sensors a,b``; default all of ``volo data synth --list-sensors``) a data set is generated
once with ``volo data synth OUT/data/SENSOR --sensor SENSOR`` (unpaired ``A/train`` and ``B/train``, test splits and
``paired/``; 64 px, 300 train / 60 test images by default) and kept. On it, two rows are trained at one budget
(``--budget`` or ``--steps``) for every seed: ``preset`` (``--preset``, default ``demo``) and ``cyclegan`` (the
classic CycleGAN preset at the data set's size), then evaluated with the ``volo eval`` headline metrics on the
sensor's test splits, beside the ``identity`` (source untouched) and ``floor`` (target half vs other half) rows.

Results: ``OUT/quality.md`` (a summary table, sensor x row, with the headline targets met and missed, then one
section per sensor with the full table) and ``OUT/quality.json``; run folders ``OUT/runs/SENSOR/ROW-sSEED/``. A run
whose ``eval.json`` exists is not redone, so an interrupted benchmark resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
from pathlib import Path

from bench_quality import HEADLINE_ROWS, ROOT, VOLO, Run, _fmt, child_env, markdown, summarise, train_all

from volo_adapt.metrics.headline import meets_target

ROWS = ("preset", "cyclegan")
"""The trained rows of every sensor: the quality preset and the classic CycleGAN."""

REFERENCE_ROWS = ("identity", "floor")
"""The report's reference rows shown in the summary table."""

CYCLEGAN_SETS = ["data.num_workers=1"]
"""What the ``cyclegan`` preset (256 px, 2 loader workers) needs besides ``data.image_size`` to run like the demo
preset on the benchmark machine (one loader worker, as ``demo``); its networks, losses and optimisers stay."""

STAMP = "bench_data.json"
"""Written into a data folder once ``volo data synth`` finished: the settings it was generated with."""


def add_zoo_arguments(p: argparse.ArgumentParser) -> None:
    """The ``--zoo`` options of ``bench_quality.py``."""
    g = p.add_argument_group("sensor zoo (--zoo)")
    g.add_argument("--zoo", action="store_true", help="benchmark the preset and the classic CycleGAN on every zoo "
                   "sensor (default --out benchmarks/results/quality-zoo)")
    g.add_argument("--sensors", default=None, help="comma-separated zoo sensors (default: all)")
    g.add_argument("--preset", default="demo", help="the quality preset of the 'preset' row")
    g.add_argument("--preset-overrides", default="", help="key=value;key=value on top of the 'preset' row")
    g.add_argument("--cyclegan-overrides", default="", help="key=value;key=value on top of the 'cyclegan' row")
    g.add_argument("--rows", default=",".join(ROWS), help="comma-separated trained rows (default: all); "
                   "exploring designs with --rows preset skips the CycleGAN runs")
    g.add_argument("--summarise-only", action="store_true", help="generate and train nothing: the tables from the "
                   "runs already finished under --out (a row's seeds column says how many it has)")
    g.add_argument("--zoo-size", type=int, default=64, help="image side of the zoo data sets, px")
    g.add_argument("--zoo-train", type=int, default=300, help="training images per domain")
    g.add_argument("--zoo-test", type=int, default=60, help="test images per domain (and paired scenes)")
    g.add_argument("--zoo-data-seed", type=int, default=0, help="seed of the zoo data sets (scenes and sensors)")


def sensor_names(text: str | None) -> list[str]:
    """``"a,b"`` -> checked zoo sensor names (None or empty: every family); SystemExit on an unknown name."""
    from volo_adapt.synth.zoo import FAMILIES

    names = [s.strip() for s in (text or "").split(",") if s.strip()] or list(FAMILIES)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise SystemExit(f"--sensors: unknown sensor(s) {', '.join(unknown)} (known: {', '.join(FAMILIES)})")
    return names


def data_settings(sensor: str, args: argparse.Namespace) -> dict:
    return {"sensor": sensor, "size": args.zoo_size, "n_train": args.zoo_train, "n_test": args.zoo_test,
            "seed": args.zoo_data_seed}


def ensure_data(sensor: str, folder: Path, args: argparse.Namespace) -> bool:
    """Generate ``folder`` with ``volo data synth --sensor SENSOR`` unless done before; True when generated now.

    A folder without the stamp (an interrupted generation) is removed and redone; one stamped with other settings
    is a SystemExit (use another ``--out`` or delete it).
    """
    want = data_settings(sensor, args)
    stamp = folder / STAMP
    if stamp.is_file():
        have = json.loads(stamp.read_text())
        if have != want:
            raise SystemExit(f"{folder}: generated with {have}, this run asks for {want}: use another --out")
        return False
    if folder.exists():
        shutil.rmtree(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*VOLO, "data", "synth", str(folder), "--sensor", sensor, "--size", str(args.zoo_size),
           "--n-train", str(args.zoo_train), "--n-test", str(args.zoo_test), "--seed", str(args.zoo_data_seed)]
    log = folder.parent / f"{sensor}.log"
    with open(log, "w") as f:
        rc = subprocess.call(cmd, cwd=ROOT, env=child_env(args.threads), stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        raise SystemExit(f"volo data synth --sensor {sensor} failed (exit {rc}), see {log}")
    stamp.write_text(json.dumps(want, indent=2) + "\n")
    return True


def split_sets(text: str) -> list[str]:
    """``"a=1;b=2"`` -> ``["a=1", "b=2"]``."""
    return [s.strip() for s in text.split(";") if s.strip()]


def row_presets(args: argparse.Namespace) -> dict[str, tuple[str, list[str]]]:
    """``{row: (preset, overrides)}`` of the trained rows at the zoo's image size."""
    size = [f"data.image_size={args.zoo_size}"]
    rows = {
        "preset": (args.preset, [*size, *split_sets(args.preset_overrides)]),
        "cyclegan": ("cyclegan", [*size, *CYCLEGAN_SETS, *split_sets(args.cyclegan_overrides)]),
    }
    wanted = [r.strip() for r in args.rows.split(",") if r.strip()]
    if unknown := [r for r in wanted if r not in rows]:
        raise SystemExit(f"--rows {args.rows}: unknown row(s) {', '.join(unknown)} (rows: {', '.join(ROWS)})")
    return {row: rows[row] for row in wanted}


def zoo_runs(sensors: list[str], out: Path, args: argparse.Namespace) -> list[Run]:
    """Every (sensor, row, seed) run; ``variant`` is ``SENSOR/ROW``."""
    rows = row_presets(args)
    return [
        Run(f"{sensor}/{row}", preset, sets, seed, out / "runs" / sensor / f"{row}-s{seed}", out / "data" / sensor)
        for sensor in sensors for seed in args.seeds for row, (preset, sets) in rows.items()
    ]


def sensor_summary(sensor: str, runs: list[Run], args: argparse.Namespace) -> dict | None:
    """:func:`bench_quality.summarise` of one sensor's runs, variants keyed by row; None without finished runs."""
    mine = [r for r in runs if r.variant.startswith(f"{sensor}/") and r.eval_path.is_file()]
    if not mine:
        return None
    names = [f"{sensor}/{row}" for row in ROWS if any(r.variant == f"{sensor}/{row}" for r in mine)]
    summary = summarise(mine, names, args, with_untrained=False)
    summary["variants"] = {name.split("/", 1)[1]: v for name, v in summary["variants"].items()}
    summary["data"] = data_settings(sensor, args)
    summary["max_samples"] = min(args.max_samples, args.zoo_test)
    return summary


def row_values(summary: dict, row: str) -> dict[str, float]:
    """``{headline key: value}`` of one row: a trained row's mean over seeds or a reference row's value."""
    if row in summary["variants"]:
        return {k: s["mean"] for k, s in summary["variants"][row]["stats"].items()}
    return {h.key: summary["references"][row].get(h.key, math.nan) for h in HEADLINE_ROWS}


ZOO_TARGETS = {
    "c2st_rgbd_acc/acc": "< identity",
    "c2st_depth_acc/acc": "< identity",
    "paired_depth_mae_mm/mae_mm": "<= 1.5 x identity",
}
"""Issue 21's targets where they differ from the headline rows' (``volo eval``'s, set for the built-in demo):
C2ST below the identity's on every sensor (and <= 0.70 on at least four: :data:`C2ST_BAR`, counted across
sensors), raw paired MAE up to 1.5x the identity's (independently drawn noise cannot match the truth's own draw;
the 5x5-median MAE row holds the systematic part to the identity's)."""

DEPTH_STATISTICS = ("depth_invalid_fraction_subject/abs_diff", "depth_tail_fraction/abs_diff",
                    "depth_noise_vs_range/curve_dist_mm", "depth_gradient_w1/w1_mm_per_px",
                    "depth_histogram_w1/w1_mm")
"""The five depth statistics: issue 21 asks for at least :data:`DEPTH_STATISTICS_NEEDED` closer to the target than
the identity, judged as one target ``depth statistics 4 of 5``."""
DEPTH_STATISTICS_NEEDED = 4
C2ST_BAR, C2ST_BAR_SENSORS = 0.70, 4
"""C2ST RGB-D (and depth-only) at most 0.70 on at least four sensors (the summary counts them)."""


def target_of(key: str, default: str) -> str:
    """The zoo's rule for headline ``key`` (:data:`ZOO_TARGETS`, else the headline row's)."""
    return ZOO_TARGETS.get(key, default)


def judge(summary: dict, row: str) -> dict:
    """``{"met": [...], "missed": [...], "undecided": [...]}`` (headline keys) of ``row`` against issue 21's
    targets: the headline rules with :data:`ZOO_TARGETS` instead where given, the five
    :data:`DEPTH_STATISTICS` as one target ``depth statistics 4 of 5``."""
    refs = summary["references"]
    values = row_values(summary, row)
    out: dict[str, list[str]] = {"met": [], "missed": [], "undecided": []}
    stats_met = 0
    for h in HEADLINE_ROWS:
        rule = target_of(h.key, h.target)
        if not rule:
            continue
        ok = meets_target(rule, values.get(h.key, math.nan), refs["identity"].get(h.key, math.nan),
                          refs["sensor"].get(h.key, math.nan))
        if h.key in DEPTH_STATISTICS:
            stats_met += bool(ok)
            continue
        out["undecided" if ok is None else "met" if ok else "missed"].append(h.key)
    stats = f"depth statistics {DEPTH_STATISTICS_NEEDED} of {len(DEPTH_STATISTICS)} ({stats_met} closer)"
    out["met" if stats_met >= DEPTH_STATISTICS_NEEDED else "missed"].append(stats)
    return out


def worse_than_cyclegan(summary: dict) -> list[str]:
    """Headline keys with a target where the preset's mean is not better than the classic CycleGAN's (issue 21:
    better on every row); empty without both rows."""
    variants = summary["variants"]
    if "preset" not in variants or "cyclegan" not in variants:
        return []
    mine, theirs = row_values(summary, "preset"), row_values(summary, "cyclegan")
    out = []
    for h in HEADLINE_ROWS:
        a, b = mine.get(h.key, math.nan), theirs.get(h.key, math.nan)
        if target_of(h.key, h.target) and math.isfinite(a) and math.isfinite(b):
            if not (a < b if h.better == "lower" else a > b):
                out.append(h.key)
    return out


def seeds_of(summary: dict, row: str) -> int:
    """How many seeds a trained row's means are over (0 for reference rows)."""
    return len(summary["variants"][row]["batches_per_seed"]) if row in summary["variants"] else 0


def summary_rows(summaries: dict[str, dict]) -> list[dict]:
    """One row per (sensor, row): the first headline value, C2ST depth, the targets met / missed, seeds, and for
    the preset the rows not better than the classic CycleGAN."""
    first, depth = HEADLINE_ROWS[0].key, "c2st_depth_acc/acc"
    rows = []
    for sensor, summary in summaries.items():
        for row in [r for r in ROWS if r in summary["variants"]] + list(REFERENCE_ROWS):
            values = row_values(summary, row)
            rows.append({"sensor": sensor, "row": row, first: values.get(first, math.nan),
                         depth: values.get(depth, math.nan), "seeds": seeds_of(summary, row), **judge(summary, row),
                         "not_better_than_cyclegan": worse_than_cyclegan(summary) if row == "preset" else []})
    return rows


def c2st_bar_count(rows: list[dict], row: str = "preset") -> dict[str, int]:
    """Sensors where ``row``'s C2ST RGB-D and depth-only are both at most :data:`C2ST_BAR`, and the total."""
    mine = [r for r in rows if r["row"] == row]
    ok = [r for r in mine if r["c2st_rgbd_acc/acc"] <= C2ST_BAR and r["c2st_depth_acc/acc"] <= C2ST_BAR]
    return {"met": len(ok), "of": len(mine)}


def zoo_markdown(summaries: dict[str, dict], rows: list[dict], args: argparse.Namespace) -> str:
    """The summary table, then one :func:`bench_quality.markdown` section per sensor."""
    budget = f"{args.steps} training batches" if args.steps else f"{args.budget} of training"
    first = HEADLINE_ROWS[0]
    preset_sets = split_sets(args.preset_overrides)  # the candidate tables differ only here: say so in the header
    preset = f"`{args.preset}`" + (f" with `{'; '.join(preset_sets)}`" if preset_sets else "")
    lines = [
        "# Sensor zoo quality", "",
        f"Rows: `preset` = {preset}, `cyclegan` = the classic CycleGAN preset, both at {args.zoo_size} px; "
        f"{budget} per run; seeds {', '.join(map(str, args.seeds))}; data: `volo data synth --sensor NAME` "
        f"({args.zoo_train} train / {args.zoo_test} test images, seed {args.zoo_data_seed}).", "",
        "## Summary", "",
        "Issue 21's targets: the headline rows' (`volo_adapt/metrics/headline.py`) with C2ST RGB-D and depth "
        "`< identity` and raw paired MAE `<= 1.5 x identity` (`zoo_quality.ZOO_TARGETS`), the five depth statistics "
        f"as one target ({DEPTH_STATISTICS_NEEDED} of 5 closer than the identity); the reference rows are judged by "
        "the same rules (identity cannot meet `< identity`). `seeds`: trained runs behind a row's means. "
        "`not better than cyclegan`: target rows where the preset's mean is not better than the classic CycleGAN's.",
        "",
        f"| sensor | row | {first.label} | C2ST depth | seeds | targets met | missed | missed targets "
        "| not better than cyclegan |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['sensor']} | {r['row']} | {_fmt(r[first.key])} | {_fmt(r['c2st_depth_acc/acc'])} "
                     f"| {r['seeds'] or '-'} | {len(r['met'])} | {len(r['missed'])} | {', '.join(r['missed'])} "
                     f"| {', '.join(r['not_better_than_cyclegan'])} |")
    bar = c2st_bar_count(rows)
    lines += ["", f"C2ST RGB-D and depth-only both <= {C2ST_BAR:.2f} for the preset on {bar['met']} of {bar['of']} "
              f"sensors (target: at least {C2ST_BAR_SENSORS})."]
    for sensor, summary in summaries.items():
        lines += ["", f"## {sensor}", "", markdown(summary, list(summary["variants"]), untrained_column=False).rstrip()]
    return "\n".join(lines) + "\n"


def run_zoo(args: argparse.Namespace) -> None:
    """Generate the zoo data sets, train and evaluate every run (resumable), write ``quality.md``/``.json``."""
    from rich.console import Console

    if args.variant or args.ablation:
        raise SystemExit("--zoo trains the rows preset and cyclegan: use --preset and --preset-overrides / "
                         "--cyclegan-overrides instead of --variant / --ablation")
    console = Console()
    sensors = sensor_names(args.sensors)
    out = Path(args.out)
    for sensor in [] if args.summarise_only else sensors:
        with console.status(f"data set of {sensor}"):
            made = ensure_data(sensor, out / "data" / sensor, args)
        console.print(f"data {sensor}: {'generated' if made else 'kept'} ({out / 'data' / sensor})", highlight=False)
    runs = zoo_runs(sensors, out, args)
    if not args.summarise_only:
        train_all(runs, args)
    summaries = {s: summary for s in sensors if (summary := sensor_summary(s, runs, args)) is not None}
    if not summaries:
        raise SystemExit("no finished runs to summarise")
    rows = summary_rows(summaries)
    settings = {"budget": args.budget, "steps": args.steps, "seeds": args.seeds, "preset": args.preset,
                "rows": row_presets(args), **{k: v for k, v in data_settings("", args).items() if k != "sensor"}}
    doc = {"zoo": settings, "summary": rows, "sensors": summaries}
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(doc, indent=2, default=lambda x: None) + "\n")
    table = zoo_markdown(summaries, rows, args)
    (out / "quality.md").write_text(table)
    print(table)
