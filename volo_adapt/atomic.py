"""Atomic file writes: write to a temporary sibling, fsync, then rename over the target.

An interrupted process therefore leaves either the previous file or the new one, never a partial
file. The temporary name starts with ``.`` and ends with ``.partial`` so that scanners skip it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from volo_adapt.errors import VoloError


def temp_path_for(path: Path) -> Path:
    """The temporary sibling used while ``path`` is being written (keeps the suffix for format sniffing)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write; on success fsync it and rename it onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched. ``OSError`` (full
    disk, permission denied) is re-raised as :class:`VoloError` naming ``path``.
    """
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # directory fsync is best effort (not all filesystems allow it)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise VoloError(f"{path}: cannot write ({e.strerror or e})") from e
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_with(path: str | os.PathLike, writer: Callable[[Path], None]) -> None:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
