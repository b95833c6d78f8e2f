"""Entry point of the ``volo`` console script.

User mistakes raise :class:`volo_adapt.errors.VoloError`; they are printed as one ``error:`` line
on stderr and the process exits with code 2, without a traceback.
"""

from __future__ import annotations

import sys

from rich.console import Console

# Importing a command module registers its commands on the app.
from cli import data, demo, eval, export, synth, train, translate  # noqa: F401
from cli.app import app
from volo_adapt.errors import VoloError

__all__ = ["app", "run"]


def run(argv: list[str] | None = None) -> None:
    """Run the CLI; convert VoloError into a one-line message and exit code 2."""
    try:
        app(args=argv, standalone_mode=True)
    except VoloError as e:
        Console(stderr=True).print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        Console(stderr=True).print("[yellow]interrupted[/]")
        sys.exit(130)


if __name__ == "__main__":
    run()
