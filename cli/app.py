"""The Typer application objects that every command module attaches to."""

from __future__ import annotations

import typer

from volo_adapt.directions import Direction

__all__ = ["Direction", "app", "data_app"]  # Direction: the one definition (volo_adapt/directions.py), re-exported

app = typer.Typer(
    name="volo",
    help="volo-adapt: make synthetic RGB-D look like a real depth sensor (unpaired VoloGAN/CycleGAN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect and generate RGB-D data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: its example command lines, one per line (shown below the options)."""
    body = "\n\n".join(f"  {line}" for line in lines)  # rich help joins single newlines: one blank line each
    return f"Examples:\n\n{body}"
