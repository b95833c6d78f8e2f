"""`volo data synth`: write the built-in two-sensor synthetic benchmark."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cli.app import data_app
from cli.console import make_console, make_progress


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Output folder (new or empty): gets A/, B/, paired/, synth.json."),
    n_train: int = typer.Option(400, "--n-train", help="Training samples per domain (A and B, unpaired)."),
    n_test: int = typer.Option(64, "--n-test", help="Test samples per domain, and paired scenes in paired/."),
    size: int = typer.Option(96, "--size", help="Image side in pixels (square)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives byte-identical files."),
    preview: Path | None = typer.Option(None, "--preview", help="Also write a PNG grid of paired A/B samples."),
) -> None:
    """Generate synthetic RGB-D for two sensors: A = clean render (source), B = phone RGB + LiDAR model (target)."""
    from volo_adapt.synth.dataset_writer import check_synth_args, write_synth_dataset

    check_synth_args(out, n_train, n_test, size, seed)  # fail before drawing a progress bar
    console = make_console(stderr=True)
    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with make_progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("synth", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        m = write_synth_dataset(out, n_train=n_train, n_test=n_test, size=size, seed=seed, preview=preview,
                                progress=progress)
    counts = ", ".join(f"{k} {v}" for k, v in m["counts"].items())
    console.print(f"wrote {out} ({size}x{size}, seed {seed}): {counts}", highlight=False)
    if preview is not None:
        console.print(f"preview: {preview}", highlight=False)
