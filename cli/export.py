"""`volo export` command: a thin wrapper over :func:`volo_adapt.inference.export_generator`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from cli.app import app
from cli.console import make_console
from volo_adapt.directions import Direction


class ExportFormat(str, Enum):
    pt = "pt"
    torchscript = "torchscript"
    onnx = "onnx"


@app.command("export")
def export(
    out: Path = typer.Argument(..., metavar="OUT", help="Output file."),
    ckpt: Path = typer.Option(..., "--ckpt", help="Training checkpoint (.ckpt) or exported generator (.pt)."),
    direction: Direction = typer.Option(Direction.A2B, "--direction", help="a2b: A (synthetic) -> B (sensor)."),
    fmt: ExportFormat = typer.Option(ExportFormat.pt, "--format", help="pt (weights-only dict) | torchscript | "
                                     "onnx (needs the 'onnx' extra)."),
    no_ema: bool = typer.Option(False, "--no-ema", help="Export the raw weights even if the run kept an EMA."),
) -> None:
    """Write one generator as a standalone file, with its input/output normalisation in the file's metadata."""
    from volo_adapt.inference import export_generator, load_generator

    loaded = load_generator(ckpt, direction=direction.value, use_ema=not no_ema)
    path = export_generator(loaded, out, fmt.value)
    make_console().print(
        f"exported {loaded.config.model.generator} {loaded.direction} ({loaded.weights} weights) as {fmt.value}:"
        f" {path} ({path.stat().st_size / 1e6:.1f} MB); input sides must be multiples of {loaded.size_multiple}"
        + (" and square" if loaded.requires_square else ""),
        highlight=False,
    )
