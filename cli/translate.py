"""`volo translate` command: a thin wrapper over :func:`volo_adapt.inference.translate_source`."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cli.app import app, examples
from cli.console import LineProgress, make_console, make_progress
from cli.devices import accelerator_option, devices_option, inference_device, legacy_device_option
from volo_adapt.directions import Direction

FLAGS = {
    "batch_size": "--batch-size",
    "device": "--device",
    "precision": "--precision",
    "depth_tolerance_mm": "--depth-tolerance-mm",
    "depth_scale": "--depth-scale",
    "rgb_format": "--rgb-format",
    "seed": "--seed",
}
"""The flag of each :class:`~volo_adapt.inference.options.TranslateOptions` field: library option errors are
re-worded with it (``batch_size 0: must be >= 1`` -> ``--batch-size 0: must be >= 1``)."""


class RgbFormat(str, Enum):
    png = "png"
    jpg = "jpg"
    same = "same"


@app.command("translate", epilog=examples(
    "volo translate renders/ renders_as_phone/ --ckpt runs/v1/checkpoints/last.ckpt",
    "volo translate scans.json#test out/ --ckpt a2b.pt --batch-size 8 --accelerator gpu --devices 1,",
    "volo translate renders/ out/ --ckpt last.ckpt --skip-existing   # resume an interrupted run",
))
def translate(
    source: str = typer.Argument(..., metavar="IN", help="Source: folder with rgb/+depth/, FILE.json#KEY, CSV, or "
                                 "a folder of (H,W,4) arrays."),
    out: Path = typer.Argument(..., metavar="OUT", help="Output folder (same layout as IN; must not be inside IN)."),
    ckpt: Path = typer.Option(..., "--ckpt", help="Training checkpoint (.ckpt) or exported generator (.pt)."),
    direction: Direction = typer.Option(Direction.A2B, "--direction", help="a2b: A (synthetic) -> B (sensor)."),
    batch_size: int = typer.Option(4, "--batch-size", min=1, help="Images per network call (same-size images)."),
    accelerator: str = accelerator_option(),
    devices: str = devices_option(),
    device: str = legacy_device_option(),
    precision: str = typer.Option("auto", "--precision", help="auto (the device's fastest mode whose depth stays "
                                  "within --depth-tolerance-mm of exact fp32 on the first batch: bf16 where it is "
                                  "native, then TF32 on CUDA; exact fp32 on other CPUs) | 32 (exact) | tf32 (CUDA) | "
                                  "bf16 | 16 (autocast; these three unchecked)."),
    depth_tolerance_mm: float = typer.Option(10.0, "--depth-tolerance-mm", min=0.0, help="--precision auto: largest "
                                             "99.9th-percentile depth difference to exact fp32, millimetres."),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the generator (GPU: several times faster "
                                  "after a compile of up to a minute; recompiles per image size)."),
    skip_existing: bool = typer.Option(False, "--skip-existing", help="Keep samples whose outputs all exist "
                                       "(resume an interrupted run)."),
    depth_scale: float = typer.Option(None, "--depth-scale", help="16-bit PNG depth units per metre, read and "
                                      "written (default: the run's data.depth_scale; TUM RGB-D: 5000)."),
    no_ema: bool = typer.Option(False, "--no-ema", help="Use the raw weights even if the run kept an EMA."),
    rgb_format: RgbFormat = typer.Option(RgbFormat.png, "--rgb-format", help="Output colour format: png "
                                         "(lossless), jpg, or same as the input."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampled sensor noise and holes (generators with "
                             "model.sensor.noise or validity=sampled); each image's draw depends only on the seed "
                             "and its name."),
) -> None:
    """Translate every RGB-D sample of IN with a trained generator into OUT (same names, formats, sizes)."""
    from volo_adapt.errors import options_named
    from volo_adapt.inference import TranslateOptions, load_generator, translate_source
    from volo_adapt.inference.engine import resolve_device

    console = make_console(stderr=True)
    flags = {**FLAGS, "device": "--device" if device is not None else "--accelerator/--devices"}
    device = inference_device(accelerator, devices, device)
    with options_named(flags):  # option errors before the progress bar appears
        options = TranslateOptions(
            batch_size=batch_size, device=device, precision=precision, skip_existing=skip_existing,
            depth_scale=depth_scale, rgb_format=rgb_format.value, compile=compile_, seed=seed,
            depth_tolerance_mm=depth_tolerance_mm,
        )
        resolve_device(device)
    loaded = load_generator(ckpt, direction=direction.value, use_ema=not no_ema)
    console.print(f"[bold]{loaded.config.model.generator}[/] {loaded.direction} ({loaded.weights} weights) from "
                  f"{ckpt}", highlight=False)
    progress, on_progress = _progress_bar(console)
    with progress, options_named(flags):
        report = translate_source(source, out, loaded, options, progress=on_progress)
    _print_summary(console, report, loaded.codec)
    if report.failed:
        console.print(f"[bold red]error:[/] {len(report.failed)} sample(s) failed (see {report.report_file})",
                      highlight=False)
        raise typer.Exit(code=2)


def _progress_bar(console: Console) -> tuple[Progress | LineProgress, Callable]:
    """A rich progress bar with a running images-per-second rate, and the ``progress`` callback that drives it."""
    progress = make_progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    start = time.perf_counter()
    counts = {"translated": 0, "skipped": 0, "failed": 0}
    task = progress.add_task("translate", total=None, rate="")

    def on_progress(done: int, total: int, item) -> None:
        if item is not None:
            counts[item.status] += 1
            if item.status == "failed":
                progress.console.print(f"[red]failed[/] {item.key}: {item.reason}", highlight=False)
        elapsed = max(time.perf_counter() - start, 1e-9)
        progress.update(task, total=total, completed=done, rate=f"{counts['translated'] / elapsed:.2f} img/s")

    return progress, on_progress


def _print_summary(console: Console, report, codec) -> None:
    """The counts table (stdout), then out-of-range depth, the ``auto`` precision check and the report path."""
    table = Table(title=f"volo translate -> {report.out_dir}", show_header=True)
    for col in ("translated", "skipped", "failed", "time", "img/s"):
        table.add_column(col, justify="right")
    table.add_row(
        str(len(report.translated)),
        str(len(report.skipped)),
        str(len(report.failed)),
        f"{report.elapsed_s:.1f} s",
        f"{report.images_per_s:.2f}",
    )
    make_console().print(table)
    if report.out_of_range_images:
        console.print(
            f"[yellow]note:[/] {report.out_of_range_images} image(s) had {report.out_of_range_px} depth pixel(s)"
            f" outside the trained range [{codec.near}, {codec.far}] m; they were translated as invalid",
            highlight=False,
        )
    check = report.depth_check
    if check is not None:
        for t in check["tried"]:
            console.print(
                f"precision auto: {t['mode']} vs exact fp32 on the first batch: depth p99.9 {t['p999_mm']:.2f} mm,"
                f" max {t['max_mm']:.2f} mm, {100 * t['flipped']:.3f} % of pixels changed validity"
                f" (tolerance {check['tolerance_mm']:g} mm): {'within' if t['within'] else 'over'}",
                highlight=False,
            )
    console.print(f"precision: {report.precision}", highlight=False)
    console.print(f"report: {report.report_file}", highlight=False)
