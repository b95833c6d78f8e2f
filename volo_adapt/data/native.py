"""Capture what native decoders print on bad files, so that a bad file gives exactly one line: ours.

The OpenEXR module reports a corrupt file twice before it raises: its C core writes lines such as
``FILE: (EXR_ERR_BAD_CHUNK_LEADER) Invalid chunk index ...`` straight to file descriptor 2, and its Python
binding prints ``Warning: Exception raised reading pixel data for part 0 - ...`` through Python's
``sys.stdout``. The binding offers no switch for either, so :func:`captured_native_output` points fd 2 at a
temporary file and swaps ``sys.stdout`` / ``sys.stderr`` for the duration of the call, restores them, and hands
the text to the caller, which puts its first line into the :class:`~volo_adapt.errors.DataError` (it is the most
specific reason the library gives) or logs it at debug level when the read succeeded.

Caveat: fd 2 and ``sys.stdout`` belong to the whole process, so whatever *another thread* prints during the
(millisecond) call is captured too and ends up in the debug log instead of the terminal. Captures are serialised
by a lock: two overlapping redirections could otherwise restore each other's temporary file as stderr.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

__all__ = ["NativeOutput", "captured_native_output"]

log = logging.getLogger(__name__)
_LOCK = threading.Lock()


class NativeOutput:
    """What was printed during a :func:`captured_native_output` block (filled in when the block ends).

    Attributes:
        text: everything captured (fd 2 first, then Python-level stdout/stderr), possibly empty.
    """

    def __init__(self) -> None:
        self.text = ""

    def first_line(self, strip_prefix: str = "") -> str:
        """The first non-blank captured line, without a leading ``strip_prefix`` (e.g. ``"FILE: "``); "" if none."""
        for line in self.text.splitlines():
            line = line.strip()
            if line:
                if strip_prefix and line.startswith(strip_prefix):
                    line = line[len(strip_prefix):].strip()
                return line
        return ""


def _flush(stream: object) -> None:
    with contextlib.suppress(Exception):  # a closed or missing stream (pythonw: None) has nothing pending
        stream.flush()  # type: ignore[attr-defined]


@contextlib.contextmanager
def captured_native_output() -> Iterator[NativeOutput]:
    """Capture fd 2 and Python's ``sys.stdout``/``sys.stderr`` during the block.

    Yields:
        A :class:`NativeOutput` whose ``text`` is set when the block exits (also when it raises).

    Example:
        >>> with captured_native_output() as out:
        ...     print("noise from a library")
        >>> out.text
        'noise from a library\\n'
    """
    out = NativeOutput()
    with _LOCK, tempfile.TemporaryFile() as sink:
        _flush(sys.stdout)
        _flush(sys.stderr)
        try:
            saved_fd2 = os.dup(2)
        except OSError:  # fd 2 is closed: nothing can be printed there anyway
            saved_fd2 = None
        if saved_fd2 is not None:
            os.dup2(sink.fileno(), 2)
        py_out = io.StringIO()
        try:
            with contextlib.redirect_stdout(py_out), contextlib.redirect_stderr(py_out):
                yield out
        finally:
            if saved_fd2 is not None:
                os.dup2(saved_fd2, 2)
                os.close(saved_fd2)
            sink.seek(0)
            out.text = sink.read().decode("utf-8", errors="replace") + py_out.getvalue()
