"""Errors about one named option, in the library's terms, that a front end can re-word with its own option names.

The library says ``batch_size 0: must be >= 1``; ``volo translate`` says ``--batch-size 0: must be >= 1``. The CLI
does not parse messages: it wraps its library call in :func:`options_named` with a ``{library name: flag}`` table.

Example:
    >>> try:
    ...     with options_named({"batch_size": "--batch-size"}):
    ...         raise OptionError("batch_size", "must be >= 1", value="0")
    ... except VoloError as e:
    ...     print(e)
    --batch-size 0: must be >= 1
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from volo_adapt.errors import VoloError


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
    """Re-raise an :class:`OptionError` from inside the block as a :class:`VoloError` naming ``names[option]``."""
    try:
        yield
    except OptionError as e:
        raised = e.renamed(names)
        if raised is e:
            raise
        raise raised from e
