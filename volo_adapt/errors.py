"""Error types that the CLI turns into clean one-line failures.

User mistakes (a bad path, a corrupt file, an unknown config key) raise :class:`VoloError` or a
subclass; the CLI prints ``error: <message>`` and exits with code 2, without a traceback.
Internal invariants use ``assert`` and are bugs when they fire.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping


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


FIRST_LINE_CHARS = 300
"""Longest quote of a library's message, characters: torch's ONNX exporter once put a whole graph dump (tens of
kilobytes) on its first line."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (at most :data:`FIRST_LINE_CHARS` characters, cut with ``...``),
    or its type name when the message is empty.

    Libraries (torch, PIL, PyYAML, litdata) raise multi-line messages; a one-line user error quotes only this.
    """
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line if len(line) <= FIRST_LINE_CHARS else line[: FIRST_LINE_CHARS - 3].rstrip() + "..."

# --------------------------------------------------------------------------- errors about one named option
# The library says ``batch_size 0: must be >= 1``; ``volo translate`` says ``--batch-size 0: must be >= 1``. The CLI
# does not parse messages: it wraps its library call in :func:`options_named` with a ``{library name: flag}`` table.


class OptionError(VoloError):
    """A bad value of one option: ``"{option} {value}: {problem}"`` (``"{option}: {problem}"`` without a value).

    Attributes:
        option: the library's name of the option (a parameter or field name, e.g. ``batch_size``).
        problem: what is wrong, e.g. ``must be >= 1``.
        value: the offending value as it should be shown (e.g. ``0`` or ``'tif'``), or None.
    """

    def __init__(self, option: str, problem: str, value: str | None = None) -> None:
        self.option, self.problem, self.value = option, problem, value
        super().__init__(self.worded(option))

    def worded(self, name: str) -> str:
        """The message with ``name`` in place of the option's library name."""
        return f"{name}{'' if self.value is None else ' ' + self.value}: {self.problem}"

    def renamed(self, names: Mapping[str, str]) -> VoloError:
        """The same error naming ``names[option]`` (e.g. a CLI flag); itself when ``names`` has no entry for it."""
        name = names.get(self.option)
        return self if name is None else VoloError(self.worded(name))


@contextlib.contextmanager
def options_named(names: Mapping[str, str]) -> Iterator[None]:
    """Re-raise an :class:`OptionError` from inside the block as a :class:`VoloError` naming ``names[option]``.

    Example:
        >>> try:
        ...     with options_named({"batch_size": "--batch-size"}):
        ...         raise OptionError("batch_size", "must be >= 1", value="0")
        ... except VoloError as e:
        ...     print(e)
        --batch-size 0: must be >= 1
    """
    try:
        yield
    except OptionError as e:
        raised = e.renamed(names)
        if raised is e:
            raise
        raise raised from e
