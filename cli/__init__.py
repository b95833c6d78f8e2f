"""The ``volo`` command line: thin Typer commands, one per library entry point."""
