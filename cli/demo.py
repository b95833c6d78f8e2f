"""`volo demo`: what `make demo` runs (train the demo preset, translate, evaluate trained vs untrained)."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.table import Table

from cli.app import app, examples
from cli.console import make_console


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4g}"


@app.command("demo", epilog=examples(
    "volo demo                          # train 7 minutes on the built-in data, translate, evaluate",
    "volo demo --out runs/my-demo",
))
def demo_cmd(
    out: Path = typer.Option(Path("runs/demo"), "--out", help="Output folder (run/, translated/, plots/, reports)."),
    config: str = typer.Option("demo", "--config", help="Preset name or YAML file."),
    set_: list[str] = typer.Option(None, "--set", help="Config override key=value (repeatable)."),
    max_eval_samples: int = typer.Option(64, "--max-eval-samples", min=4, help="Images per evaluated set."),
) -> None:
    """Train the CPU demo preset on the built-in synthetic benchmark, translate its test split, evaluate."""
    from volo_adapt.demo_pipeline import comparison_rows, run_demo

    console = make_console(stderr=True)
    result = run_demo(
        out, config=config, overrides=list(set_ or []), max_eval_samples=max_eval_samples,
        log=lambda m: console.print(m, highlight=False, markup=False),
    )
    table = Table(title="demo: the trained A->B generator against doing nothing (identity), an untrained generator, "
                  "the floor (target vs target) and the sensor's own renderings of the same scenes")
    for col in ("metric", "trained", "untrained", "identity", "floor", "sensor truth", "target", "met"):
        table.add_column(col, justify="left" if col in ("metric", "target") else "right")
    for r in comparison_rows(result):
        met = "" if r.met is None else "[green]yes[/]" if r.met else "[red]no[/]"
        table.add_row(f"{r.label} ({r.better} is better)", *(_fmt(v) for v in (
            r.trained, r.untrained, r.identity, r.floor, r.sensor)), r.target, met)
    make_console().print(table)
    console.print(
        "A row shows learning when 'trained' is closer to the floor than 'identity' (and 'untrained'); 'met' judges "
        "the project's target for the row.", highlight=False,
    )
    console.print(f"checkpoint: {result.checkpoint}\ntranslated: {result.translated_dir}", highlight=False)
    for f in result.files:
        console.print(f"wrote {f}", highlight=False)
