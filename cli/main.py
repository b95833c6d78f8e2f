"""Entry point of the ``volo`` console script.

User mistakes raise :class:`volo_adapt.errors.VoloError`; they are printed as one ``error:`` line
on stderr and the process exits with code 2, without a traceback.
"""

from __future__ import annotations

import logging
import sys
import warnings

import typer
from rich.markup import escape

# Importing a command module registers its commands on the app.
from cli import data, demo, eval, export, inspect, synth, train, translate  # noqa: F401
from cli.app import app
from cli.console import is_launched_worker, make_console
from volo_adapt import __version__
from volo_adapt.errors import VoloError

__all__ = ["app", "run"]


class _DropAdverts(logging.Filter):
    """Drops Lightning's start-up advertisement (a litlogger tip) from the console; everything else passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _quiet_third_party_noise() -> None:
    """Silence messages that are not actionable for a volo user (an advert, a deprecation inside Lightning)."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def _print_version(value: bool) -> None:
    """``--version``: print ``volo-adapt X.Y.Z`` and exit 0 before any command runs."""
    if value:
        typer.echo(f"volo-adapt {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """Options that come before the command (``volo --version``)."""


def run(argv: list[str] | None = None) -> None:
    """Run the CLI; convert VoloError into a one-line message and exit code 2."""
    _quiet_third_party_noise()
    try:
        app(args=argv, standalone_mode=True)
    except VoloError as e:
        if not is_launched_worker():
            # the message is text, not markup: "volo-adapt[hub]" must print its brackets
            make_console(stderr=True).print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        make_console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    run()
