"""`volo export` command: a thin wrapper over :func:`volo_adapt.inference.export_generator`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer

from cli.app import app, examples
from cli.console import make_console
from volo_adapt.directions import Direction
from volo_adapt.errors import VoloError


class ExportFormat(str, Enum):
    pt = "pt"
    torchscript = "torchscript"
    onnx = "onnx"
    hub = "hub"


FLAGS = {"force": "--force", "eval_report": "--eval-json", "out_dir": "OUT"}
"""The flag of each library option whose errors name it."""


@app.command("export", epilog=examples(
    "volo export --ckpt runs/v1/checkpoints/last.ckpt a2b.pt",
    "volo export --ckpt last.ckpt --format onnx --direction a2b a2b.onnx",
    "volo export --ckpt last.ckpt --format hub --eval-json eval.json my-model/   # then: huggingface-cli upload",
))
def export(
    out: Path = typer.Argument(..., metavar="OUT", help="Output file (a folder for --format hub)."),
    ckpt: Path = typer.Option(..., "--ckpt", help="Training checkpoint (.ckpt) or exported generator (.pt)."),
    direction: Direction = typer.Option(Direction.A2B, "--direction", help="a2b: A (synthetic) -> B (sensor)."),
    fmt: ExportFormat = typer.Option(ExportFormat.pt, "--format", help="pt (weights-only dict) | torchscript | "
                                     "onnx (needs the 'onnx' extra) | hub (a Hugging Face Hub model folder: "
                                     "model.safetensors, config.json, README.md; needs the 'hub' extra)."),
    no_ema: bool = typer.Option(False, "--no-ema", help="Export the raw weights even if the run kept an EMA."),
    eval_json: Path = typer.Option(None, "--eval-json", help="--format hub: a `volo eval --out` report (or a "
                                   "run's metrics.jsonl: its last line) whose headline rows go into the model card."),
    license_id: str = typer.Option("apache-2.0", "--license", help="--format hub: the licence id of the model "
                                   "card (a Hugging Face Hub identifier)."),
    force: bool = typer.Option(False, "--force", help="--format hub: write into a non-empty OUT folder, replacing "
                               "its model files."),
) -> None:
    """Write one generator as a standalone file, with its input/output normalisation in the file's metadata."""
    from volo_adapt.errors import options_named
    from volo_adapt.inference import export_generator, load_generator

    hub = fmt == ExportFormat.hub
    if not hub and (eval_json is not None or force):
        raise VoloError(f"{'--eval-json' if eval_json is not None else '--force'}: only with --format hub")
    with options_named(FLAGS):
        report = None
        if eval_json is not None:
            from volo_adapt.inference.model_card import read_eval_report

            report = read_eval_report(eval_json)
        if hub:
            from volo_adapt.inference.hub import require_hub_extra

            require_hub_extra("--format hub", "safetensors.torch")  # before the checkpoint is read
        loaded = load_generator(ckpt, direction=direction.value, use_ema=not no_ema)
        options = {"eval_report": report, "license": license_id, "force": force} if hub else {}
        path = export_generator(loaded, out, fmt.value, **options)
    size = (path / "model.safetensors" if hub else path).stat().st_size / 1e6
    make_console().print(
        f"exported {loaded.config.model.generator} {loaded.direction} ({loaded.weights} weights) as {fmt.value}:"
        f" {path} ({size:.1f} MB); input sides must be multiples of {loaded.size_multiple}"
        + (" and square" if loaded.requires_square else "")
        + (f"\nupload with: huggingface-cli upload YOUR_ORG/{path.resolve().name} {path}" if hub else ""),
        highlight=False,
    )
