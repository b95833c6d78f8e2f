"""The Typer application objects that every command module attaches to."""

from __future__ import annotations

from enum import Enum

import typer

app = typer.Typer(
    name="volo",
    help="volo-adapt: make synthetic RGB-D look like a real depth sensor (unpaired VoloGAN/CycleGAN).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Inspect and generate RGB-D data sets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


class Direction(str, Enum):
    """Translation direction shared by translate, export and eval: a2b = A (synthetic) -> B (sensor)."""

    a2b = "a2b"
    b2a = "b2a"
