"""`volo eval` command: a thin wrapper over :func:`volo_adapt.metrics.evaluate.evaluate`."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from cli.app import app, examples
from cli.console import make_console, make_work_bar
from cli.devices import accelerator_option, devices_option, inference_device, legacy_device_option
from volo_adapt.directions import Direction
from volo_adapt.errors import ConfigError, VoloError

FLAGS = {"source_a and source_b": "--data-a and --data-b", "device": "--device"}
"""The flag of each :func:`~volo_adapt.metrics.evaluate.evaluate` option whose errors name it."""


@app.command("eval", epilog=examples(
    "volo eval --ckpt runs/demo/checkpoints/last.ckpt          # on the built-in demo test split",
    "volo eval --ckpt last.ckpt --data-a renders_test/ --data-b phone_test/ --plots runs/v1/plots",
    "volo eval --ckpt runs/demo/run/checkpoints/last.ckpt --no-plots   # table, JSON lines only",
    "volo eval --ckpt last.ckpt --paired pairs/ --out report.json",
    "volo eval --list-metrics",
))
def eval_cmd(
    ckpt: Path = typer.Option(None, "--ckpt", help="Training checkpoint (.ckpt) or exported generator (.pt); "
                              "required unless --list-metrics."),
    data_a: list[str] = typer.Option(None, "--data-a", help="Domain-A source (repeatable). With --data-b; "
                                     "without both, the built-in demo benchmark's test split is used."),
    data_b: list[str] = typer.Option(None, "--data-b", help="Domain-B source (repeatable)."),
    paired: Path = typer.Option(None, "--paired", help="Folder with A/ and B/ holding the same scenes (same "
                                "names) for the paired metrics (the demo benchmark adds its own paired/)."),
    metrics: str = typer.Option("all", "--metrics", help="Comma-separated metric names, or 'all' "
                                "(see --list-metrics)."),
    list_metrics: bool = typer.Option(False, "--list-metrics", help="Print the registered metrics and exit."),
    direction: Direction = typer.Option(Direction.A2B, "--direction", help="a2b: translate A, judge against B."),
    out: Path = typer.Option(None, "--out", help="Write the full report (with noise curves) to this JSON file."),
    plots: Path = typer.Option(None, "--plots", help="Folder of the PNG plots (noise curves, histograms, PCA, "
                               "samples) and the self-contained eval_report.html (default: RUN/eval/ for a "
                               "checkpoint in RUN/checkpoints/, else volo-eval/ next to --out or in the current "
                               "folder)."),
    no_plots: bool = typer.Option(False, "--no-plots", help="Write no plots and no HTML report."),
    max_samples: int = typer.Option(None, "--max-samples", min=2, help="At most this many images per set."),
    batch_size: int = typer.Option(8, "--batch-size", min=1, help="Images per generator call."),
    image_size: int = typer.Option(None, "--image-size", min=16, help="Evaluation side in pixels (default: the "
                                   "checkpoint's data.image_size; shorter side resized, centre square cut)."),
    inception_weights: Path = typer.Option(None, "--inception-weights", help="FID Inception weights file "
                                           "(weights-inception-2015-12-05-6726825d.pth); default: the torch hub "
                                           "cache."),
    seed: int = typer.Option(0, "--seed", help="Seed of C2ST, KID subsets and the target halves."),
    c2st_epochs: int = typer.Option(30, "--c2st-epochs", min=1, help="Training epochs of the C2ST classifier."),
    c2st_repeats: int = typer.Option(5, "--c2st-repeats", min=1, help="C2ST accuracy = mean over this many "
                                     "classifier seeds (--seed, --seed + 1, ...); one split of a small test set "
                                     "is a noisy judge."),
    accelerator: str = accelerator_option(),
    devices: str = devices_option(),
    device: str = legacy_device_option(),
    no_ema: bool = typer.Option(False, "--no-ema", help="Use the raw weights even if the run kept an EMA."),
) -> None:
    """Evaluate a generator: depth-sensor statistics, geometry, C2ST, FID/KID, paired errors, with baselines."""
    if list_metrics:
        _print_metrics()
        return
    names = _metric_names(metrics)  # a bad --metrics fails before anything is loaded
    if ckpt is None:
        raise VoloError("--ckpt: required (the checkpoint or exported generator to evaluate)")

    from volo_adapt.inference import load_generator
    from volo_adapt.metrics.evaluate import evaluate

    console = make_console(stderr=True)
    flags = {**FLAGS, "device": "--device" if device is not None else "--accelerator/--devices"}
    device = inference_device(accelerator, devices, device)
    loaded = load_generator(ckpt, direction=direction.value, use_ema=not no_ema)
    console.print(f"[bold]{loaded.config.model.generator}[/] {loaded.direction} ({loaded.weights} weights) from "
                  f"{ckpt}", highlight=False)
    with make_work_bar(console, "evaluating") as bar, _flag_names(flags):
        report = evaluate(
            loaded, data_a or None, data_b or None, paired=paired, metrics=names, max_samples=max_samples,
            batch_size=batch_size, image_size=image_size, inception_weights=inception_weights, seed=seed,
            c2st_epochs=c2st_epochs, c2st_repeats=c2st_repeats, device=device, log=bar.log, progress=bar.progress,
        )
    _write_outputs(console, report, ckpt, out, None if no_plots else plots or default_plots_dir(ckpt, out))


def _print_metrics() -> None:
    """``--list-metrics``: one line per registered metric, with the data it needs."""
    from volo_adapt.metrics.registry import get_metric, list_metrics

    for n in list_metrics():
        spec = get_metric(n)
        needs = f" [needs {', '.join(spec.requires)}]" if spec.requires else ""
        make_console().print(f"{n:32s} {spec.description}{needs}", highlight=False, soft_wrap=True, markup=False)


def _metric_names(metrics: str) -> list[str]:
    """The ``--metrics`` selection resolved to names (VoloError naming the flag for an unknown one)."""
    from volo_adapt.metrics.registry import resolve_metric_names

    try:
        return resolve_metric_names(metrics)
    except ConfigError as e:
        raise VoloError(f"--metrics: {e}") from e


@contextlib.contextmanager
def _flag_names(flags: dict[str, str]) -> Iterator[None]:
    """Re-word the library's option errors with this command's flags (``paired folder X`` -> ``--paired X``)."""
    from volo_adapt.data.eval_sets import PairedFolderError
    from volo_adapt.errors import options_named

    try:
        with options_named(flags):
            yield
    except PairedFolderError as e:
        raise VoloError(f"--paired {e.root}: {e.problem}") from e


def default_plots_dir(ckpt: Path, out: Path | None) -> Path:
    """Where plots and ``eval_report.html`` go without ``--plots``: ``RUN/eval`` for a checkpoint in
    ``RUN/checkpoints/``; else ``volo-eval/`` in the folder of ``--out``, or in the current folder."""
    resolved = Path(ckpt).resolve()
    if resolved.parent.name == "checkpoints":
        return resolved.parent.parent / "eval"
    return (Path(out).parent if out is not None else Path(".")) / "volo-eval"


def _write_outputs(console: Console, report, ckpt: Path, out: Path | None, plots: Path | None) -> None:
    """The table (stdout), the notes, ``--out`` JSON, the run's ``metrics.jsonl`` line, plots and HTML report."""
    from volo_adapt.metrics.plots import write_plots
    from volo_adapt.metrics.report import append_jsonl, render_table, run_dir_for, skipped_lines, write_json
    from volo_adapt.metrics.report_html import REPORT_NAME, write_report_html

    make_console().print(render_table(report))
    for line in skipped_lines(report):
        console.print(f"[yellow]note:[/] {escape(line)}", highlight=False)
    if out is not None:
        console.print(f"report: {write_json(report, out)}", highlight=False)
    console.print(f"appended to {append_jsonl(report, run_dir_for(ckpt, out))}", highlight=False)
    if plots is not None:
        written = write_plots(report, plots)
        console.print(f"plots: {', '.join(str(p) for p in written)}", highlight=False)
        console.print(f"html report: {write_report_html(report, plots / REPORT_NAME, written)}", highlight=False)
    from volo_adapt.training.log_eval import log_eval_to_run  # a run's checkpoint: its tensorboard/wandb/mlflow too
    log_eval_to_run(report, ckpt, written if plots is not None else ())
