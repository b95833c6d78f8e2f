"""Error types that the CLI turns into clean one-line failures.

User mistakes (a bad path, a corrupt file, an unknown config key) raise :class:`VoloError` or a
subclass; the CLI prints ``error: <message>`` and exits with code 2, without a traceback.
Internal invariants use ``assert`` and are bugs when they fire.
"""

from __future__ import annotations


class VoloError(Exception):
    """A user-facing error: its message is one line that names the file or option and what is wrong."""

    def __str__(self) -> str:
        # Kept on one line whatever it quotes: a file name, an index entry or a library's message may hold newlines.
        return super().__str__().replace("\r", "\\r").replace("\n", "\\n")


class DataError(VoloError):
    """A data source or file cannot be read, or its content is invalid."""


class ConfigError(VoloError):
    """A configuration key or value is unknown or invalid."""


class CheckpointError(VoloError):
    """A checkpoint or exported model cannot be loaded or does not match."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty.

    Libraries (torch, PIL, PyYAML, litdata) raise multi-line messages; a one-line user error quotes only this.
    """
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
