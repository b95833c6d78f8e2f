"""Quality benchmark: train presets at one wall-clock budget over several seeds, evaluate, compare with baselines.

Every variant (a preset plus optional ``--set`` overrides) is trained with ``volo train --max-time BUDGET`` on the
built-in synthetic benchmark for each seed, then judged with the ``volo eval`` metrics on the benchmark's test
split (64 images per set by default). The report puts the mean and spread over seeds beside four reference rows:

* ``identity``: the source images untouched (a translation is only useful where it beats this);
* ``untrained``: each variant's generator with fresh weights (seed 0): what training added;
* ``floor``: target half vs other half (the best reachable);
* ``sensor``: the true target renderings of the paired scenes (a perfect translation; its geometry error is the
  target sensor's own, the bar for ``geometry vs source``).

With ``--ablation`` the first variant is also trained with each sensor-aware switch turned off in turn.

Results: ``OUT/quality.json`` (every run's numbers) and ``OUT/quality.md`` (the table), ``OUT/runs/VARIANT-sSEED/``
(run folders with ``eval.json``). Interrupted benchmarks resume: finished runs are kept, a run cut short continues
its own budget (``--resume auto`` restores the elapsed time).

Usage::

    .venv/bin/python benchmarks/bench_quality.py                       # demo preset vs the paper model, 3 seeds
    .venv/bin/python benchmarks/bench_quality.py --ablation --out benchmarks/results/ablation
    .venv/bin/python benchmarks/bench_quality.py --variant mine=demo:loss.cycle_weight=5 --seeds 0 1 2
    .venv/bin/python benchmarks/bench_quality.py --parallel 2 --threads 1   # two runs side by side, 1 thread each
    .venv/bin/python benchmarks/bench_quality.py --zoo --sensors tof,zone_tof  # every zoo sensor: zoo_quality.py

Wall-clock budgets are only comparable between runs made under the same load: compare variants from one
benchmark run (same ``--parallel``/``--threads``, same machine state), never across runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VOLO = [str(Path(sys.executable).parent / "volo")]

DEFAULT_VARIANTS = {
    "sensor": ("demo", []),
    "vologan": ("demo_vologan", []),
}
"""``name: (preset, overrides)``: the new sensor-aware preset at demo size and the paper's model at demo size."""

ABLATION_SWITCHES = {
    "no-residual": ["model.sensor.residual=false", "model.sensor.new_returns=ramp"],
    "validity-none": ["model.sensor.validity=none", "model.sensor.new_returns=ramp"],
    "no-reach": ["model.sensor.reach=-1", "model.sensor.new_returns=ramp"],
    "ramp-returns": ["model.sensor.new_returns=ramp"],
    "no-fill": ["model.sensor.fill_radii=[]"],
    "no-noise": ["model.sensor.noise=false"],
    "no-coords": ["model.sensor.coords=false"],
    "no-lowpass": ["model.sensor.lowpass_scales=[]"],
    "no-resampling": ["model.sensor.resample_factors=[]"],
    "no-geometry": ["loss.geometry_weight=0"],
    "no-critic-warmup": ["optim.critic_warmup=0"],
    "no-kept-mask": ["loss.reconstruction_mask=none"],
}
"""The new preset with one switch off each (``--ablation``)."""

EXTRA_ABLATIONS = {"plus-swd": ["loss.swd_weight=10", "loss.swd_highpass=true"]}
"""Switches the preset leaves off, turned on (``--ablation``): do they help?"""

from volo_adapt.metrics.headline import HEADLINE_ROWS, headline_metrics, meets_target  # noqa: E402

METRICS = headline_metrics()


@dataclass
class Run:
    variant: str
    preset: str
    overrides: list[str]
    seed: int
    run_dir: Path
    data: Path | None = None
    """A ``volo data synth`` folder (``A/``, ``B/``, ``paired/``) to train and evaluate on; None: the demo set."""

    @property
    def eval_path(self) -> Path:
        return self.run_dir / "eval.json"


def parse_variant(text: str) -> tuple[str, str, list[str]]:
    """``NAME=PRESET[:key=value;key=value]`` -> ``(name, preset, overrides)``."""
    if "=" not in text:
        raise SystemExit(f"--variant {text!r}: expected NAME=PRESET[:key=value;key=value]")
    name, rest = text.split("=", 1)
    preset, _, sets = rest.partition(":")
    return name, preset, [s for s in sets.split(";") if s]


def child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    return env


def train_command(run: Run, budget: str, steps: int | None = None) -> list[str]:
    length = ["--max-time", budget] if steps is None else ["--max-steps", str(steps), "--set", "train.max_time="]
    cmd = [*VOLO, "train", "--config", run.preset, "--out", str(run.run_dir), *length,
           "--resume", "auto", "--set", f"train.seed={run.seed}", "--set", "train.logger=csv"]
    if run.data is not None:
        cmd += ["--data-a", str(run.data / "A" / "train"), "--data-b", str(run.data / "B" / "train")]
    for o in run.overrides:
        cmd += ["--set", o]
    return cmd


def eval_command(run_dir: Path, out: Path, untrained: bool, max_samples: int, data: Path | None = None) -> list[str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--_eval", str(run_dir), "--_eval-out", str(out),
           "--max-samples", str(max_samples)]
    cmd += ["--_data", str(data)] if data is not None else []
    return cmd + (["--_untrained"] if untrained else [])


def _eval_child(run_dir: Path, out: Path, untrained: bool, max_samples: int, data: Path | None = None) -> None:
    """Evaluate ``run_dir``'s last checkpoint (or its architecture with fresh weights) into ``out``; on the test
    splits and ``paired/`` of the synth folder ``data`` (None: the demo benchmark)."""
    import torch

    from volo_adapt.demo_pipeline import untrained_like
    from volo_adapt.inference.loading import load_generator
    from volo_adapt.metrics.evaluate import evaluate
    from volo_adapt.metrics.report import write_json

    torch.manual_seed(0)  # translation samples sensor noise: the same draw for every evaluation
    loaded = load_generator(run_dir / "checkpoints" / "last.ckpt", direction="a2b")
    if untrained:
        loaded = untrained_like(loaded, seed=0)
    sources = {} if data is None else {"source_a": [str(data / "A" / "test")], "source_b": [str(data / "B" / "test")],
                                       "paired": data / "paired"}
    report = evaluate(loaded, metrics=METRICS, max_samples=max_samples, seed=0, **sources)
    report.info["weights"] = "untrained" if untrained else "trained"
    report.info["batches"] = _batches_done(run_dir)
    write_json(report, out)


def _batches_done(run_dir: Path) -> int | None:
    from volo_adapt.checkpoint import stored_batches

    batches = stored_batches(run_dir / "checkpoints" / "last.ckpt")  # -1: none stored (provenance only)
    return batches if batches >= 0 else None


def flat(report: dict, comparison: str) -> dict[str, float]:
    out = {}
    for name, entry in report["results"].items():
        values = entry.get(comparison)
        if isinstance(values, dict):
            for k, v in values.items():
                out[f"{name}/{k}"] = math.nan if v is None else float(v)
    return out


def run_subprocess(cmd: list[str], threads: int, log_path: Path, cpu: int | None) -> int:
    if cpu is not None and _has_taskset():
        cmd = ["taskset", "-c", str(cpu), *cmd]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        return subprocess.call(cmd, cwd=ROOT, env=child_env(threads), stdout=log, stderr=subprocess.STDOUT)


def _has_taskset() -> bool:
    from shutil import which

    return which("taskset") is not None


def do_run(run: Run, args: argparse.Namespace, cpu: int | None) -> str:
    """Train (or continue) and evaluate one run; returns a one-line status."""
    log = run.run_dir / "bench.log"
    t0 = time.time()
    if run.eval_path.is_file():
        if not getattr(args, "reevaluate", False):
            return f"{run.variant} seed {run.seed}: done before"
        rc = run_subprocess(eval_command(run.run_dir, run.eval_path, False, args.max_samples, run.data), args.threads,
                            log, cpu)  # the report is written atomically: a failed evaluation keeps the old one
        verdict = "re-evaluated" if rc == 0 else f"re-evaluation failed (exit {rc}), see {log}"
        return f"{run.variant} seed {run.seed}: {verdict} in {time.time() - t0:.0f} s"
    rc = run_subprocess(train_command(run, args.budget, args.steps), args.threads, log, cpu)
    if rc != 0:
        return f"{run.variant} seed {run.seed}: training failed (exit {rc}), see {log}"
    rc = run_subprocess(eval_command(run.run_dir, run.eval_path, False, args.max_samples, run.data), args.threads,
                        log, cpu)
    if rc != 0:
        return f"{run.variant} seed {run.seed}: evaluation failed (exit {rc}), see {log}"
    return f"{run.variant} seed {run.seed}: {time.time() - t0:.0f} s{short_of_steps(run.eval_path, args.steps)}"


def short_of_steps(report_path: Path, steps: int | None) -> str:
    """A warning when a ``--steps`` run trained fewer batches than asked (else ""): ``train.max_epochs`` still
    limits a batch budget, and the schedule is planned over ``min(steps, max_epochs x batches per epoch)``."""
    if not steps:
        return ""
    done = json.loads(report_path.read_text()).get("batches")
    if done is None or done >= steps:
        return ""
    return (f" (WARNING: stopped at {done} of {steps} batches: the preset's train.max_epochs ended it; raise "
            "train.max_epochs and optim.warmup_epochs in proportion with --preset-overrides)")


def untrained_report(variant: str, runs: list[Run], args: argparse.Namespace) -> dict | None:
    done = [r for r in runs if r.variant == variant and (r.run_dir / "checkpoints" / "last.ckpt").is_file()]
    first = done[0] if done else None
    if first is None:
        return None
    out = Path(args.out) / "untrained" / f"{variant}.json"
    if not out.is_file():
        rc = run_subprocess(eval_command(first.run_dir, out, True, args.max_samples), args.threads,
                            Path(args.out) / "untrained" / f"{variant}.log", None)
        if rc != 0:
            return None
    return json.loads(out.read_text())


def headline_stats(per_run: dict) -> dict[str, dict]:
    """``{headline key: {"mean", "std", "n", "per_seed"}}`` over runs (``{run: flat "model" figures}``, e.g. one
    per seed); non-finite values are left out of mean and std (``per_seed`` keeps them)."""
    stats = {}
    for key in (row.key for row in HEADLINE_ROWS):
        vals = [d[key] for d in per_run.values() if key in d and math.isfinite(d[key])]
        stats[key] = {
            "mean": statistics.fmean(vals) if vals else math.nan,
            "std": statistics.stdev(vals) if len(vals) > 1 else 0.0 if vals else math.nan,
            "n": len(vals),
            "per_seed": {str(s): d.get(key) for s, d in per_run.items()},
        }
    return stats


def summarise(runs: list[Run], variants: list[str], args: argparse.Namespace, with_untrained: bool = True) -> dict:
    reports = {(r.variant, r.seed): json.loads(r.eval_path.read_text()) for r in runs if r.eval_path.is_file()}
    if not reports:
        raise SystemExit("no finished runs to summarise")
    any_report = next(iter(reports.values()))
    refs = {c: flat(any_report, c) for c in ("identity", "floor", "sensor")}
    summary: dict = {"budget": args.budget, "steps": args.steps, "seeds": args.seeds, "threads": args.threads,
                     "parallel": args.parallel,
                     "max_samples": args.max_samples, "variants": {}, "references": refs}
    for v in variants:
        per_seed = {s: flat(reports[(v, s)], "model") for s in args.seeds if (v, s) in reports}
        batches = {s: reports[(v, s)].get("batches") for s in args.seeds if (v, s) in reports}
        stats = headline_stats(per_seed)
        untrained = untrained_report(v, runs, args) if with_untrained else None
        summary["variants"][v] = {
            "preset": next(r.preset for r in runs if r.variant == v),
            "overrides": next(r.overrides for r in runs if r.variant == v),
            "batches_per_seed": {str(k): b for k, b in batches.items()},
            "stats": stats,
            "untrained": flat(untrained, "model") if untrained else None,
        }
    return summary


def verdict(rule: str, mean: float, refs: dict) -> str:
    ok = meets_target(rule, mean, refs["identity"], refs.get("sensor"))
    return "" if ok is None else "met" if ok else "**missed**"


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "n/a"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def markdown(summary: dict, variants: list[str], untrained_column: bool = True) -> str:
    refs = summary["references"]
    untrained_head = " untrained (" + variants[0] + ") |" if untrained_column else ""
    budget = f"{summary['steps']} training batches" if summary.get("steps") else f"{summary['budget']} of training"
    lines = [
        f"Budget {budget} per run; seeds {', '.join(map(str, summary['seeds']))}; "
        f"{summary['threads']} torch thread(s) per run, {summary['parallel']} run(s) at a time; "
        f"{summary['max_samples']} test images per set. Cells: mean ± std over seeds. "
        "Verdicts judge the first variant's mean against the issue's targets.",
        "",
        "| metric | " + " | ".join(variants) + " | identity |" + untrained_head + " floor | sensor truth | "
        "target | verdict |",
        "| --- | " + " | ".join("---:" for _ in variants) + " | ---: |" + " ---: |" * untrained_column
        + " ---: | ---: | --- | --- |",
    ]
    for row in HEADLINE_ROWS:
        label, key, better, rule = row.label, row.key, row.better, row.target
        cells = []
        for v in variants:
            s = summary["variants"][v]["stats"][key]
            cells.append(f"{_fmt(s['mean'])} ± {_fmt(s['std'])}" if s["n"] else "n/a")
        untrained = summary["variants"][variants[0]]["untrained"] or {}
        ref_vals = {c: refs[c].get(key, math.nan) for c in ("identity", "floor", "sensor")}
        first_mean = summary["variants"][variants[0]]["stats"][key]["mean"]
        lines.append(
            f"| {label} ({better} is better) | " + " | ".join(cells)
            + f" | {_fmt(ref_vals['identity'])}" + (f" | {_fmt(untrained.get(key))}" if untrained_column else "")
            + f" | {_fmt(ref_vals['floor'])}"
            + f" | {_fmt(ref_vals['sensor'])} | {rule} | {verdict(rule, first_mean, ref_vals)} |"
        )
    batches = "; ".join(
        f"{v}: " + ", ".join(str(b) for b in summary["variants"][v]["batches_per_seed"].values()) for v in variants
    )
    lines += ["", f"Training batches done within the budget, per seed: {batches}."]
    return "\n".join(lines) + "\n"


def train_all(runs: list[Run], args: argparse.Namespace) -> None:
    """Train and evaluate ``runs`` (``args.parallel`` at a time) with a rich progress bar; finished runs are kept."""
    from concurrent.futures import ThreadPoolExecutor

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} runs"),
                  TimeElapsedColumn()) as progress:
        task = progress.add_task(f"training {len(runs)} runs at {args.budget} each", total=len(runs))
        free_cpus = list(range(args.parallel)) if args.parallel > 1 else [None]

        def work(run: Run) -> None:
            cpu = free_cpus.pop(0)
            try:
                progress.console.print(f"start {run.variant} seed {run.seed} -> {run.run_dir}", highlight=False)
                progress.console.print(do_run(run, args, cpu), highlight=False)
            finally:
                free_cpus.append(cpu)
                progress.advance(task)

        with ThreadPoolExecutor(max_workers=args.parallel) as pool:
            list(pool.map(work, runs))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--variant", action="append", default=[], help="NAME=PRESET[:key=value;key=value] (repeatable); "
                   "default: sensor=demo and vologan=demo_vologan")
    p.add_argument("--ablation", action="store_true", help="also train the first variant with each switch off")
    p.add_argument("--budget", default="7m", help="training wall-clock budget per run (the demo's: 7m)")
    p.add_argument("--steps", type=int, default=None, help="a budget in training batches instead of time (for "
                   "exploring on a shared machine, where wall-clock budgets are not comparable); the preset's "
                   "train.max_epochs still caps it and the schedule spans min(steps, max_epochs x batches per epoch): "
                   "to match a wall-clock run's schedule, raise train.max_epochs and optim.warmup_epochs in proportion")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=2, help="torch threads per run")
    p.add_argument("--parallel", type=int, default=1, help="runs at a time (each pinned to its own core)")
    p.add_argument("--max-samples", type=int, default=64, help="test images per evaluated set")
    p.add_argument("--reevaluate", action="store_true", help="evaluate finished runs again (their checkpoints, with "
                   "today's metrics) instead of keeping their reports; unfinished runs train as usual")
    p.add_argument("--out", default=None, help="output folder (default benchmarks/results/quality, with --zoo "
                   "benchmarks/results/quality-zoo)")
    p.add_argument("--_data", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--_eval", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--_eval-out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--_untrained", action="store_true", help=argparse.SUPPRESS)
    from zoo_quality import add_zoo_arguments, run_zoo

    add_zoo_arguments(p)
    args = p.parse_args(argv)
    args.out = args.out or str(ROOT / "benchmarks" / "results" / ("quality-zoo" if args.zoo else "quality"))
    if args._eval is not None:
        _eval_child(args._eval, args._eval_out, args._untrained, args.max_samples, args._data)
        return
    if args.zoo:
        run_zoo(args)
        return

    variants: dict[str, tuple[str, list[str]]] = {}
    for text in args.variant:
        name, preset, sets = parse_variant(text)
        variants[name] = (preset, sets)
    variants = variants or dict(DEFAULT_VARIANTS)
    if args.ablation:
        first_name, (first_preset, first_sets) = next(iter(variants.items()))
        for name, sets in {**ABLATION_SWITCHES, **EXTRA_ABLATIONS}.items():
            variants[f"{first_name}/{name}"] = (first_preset, [*first_sets, *sets])
    out = Path(args.out)
    runs = [
        Run(v, preset, sets, s, out / "runs" / f"{v.replace('/', '_')}-s{s}")
        for s in args.seeds for v, (preset, sets) in variants.items()
    ]

    train_all(runs, args)

    names = list(variants)
    summary = summarise(runs, names, args)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(summary, indent=2, default=lambda x: None) + "\n")
    table = markdown(summary, names)
    (out / "quality.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
