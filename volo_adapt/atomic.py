"""Atomic file writes: write to a temporary sibling, fsync, then rename over the target.

An interrupted process therefore leaves either the previous file or the new one, never a partial
file. The temporary name starts with ``.`` and ends with ``.partial`` so that scanners skip it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from volo_adapt.errors import VoloError


def temp_path_for(path: Path) -> Path:
    """The temporary sibling used while ``path`` is being written (keeps the suffix for format sniffing)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


_TEMP_NAME = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.partial(?P<suffix>\.[^.]*)?$")
"""Names :func:`temp_path_for` makes: ``.STEM.PID.partial.SUFFIX``."""


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our own earlier life (a container restarts with the same pid): we are not writing yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def remove_leftover_partials(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers killed mid-write left directly in ``folder``.

    Only names made by :func:`temp_path_for` are touched, and only when the process that was writing them is
    gone: a file of a live writer (another process using the same folder) is left alone.

    Returns:
        The files removed (an absent folder gives ``[]``).
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for p in sorted(folder.iterdir()):
        m = _TEMP_NAME.match(p.name)
        if m is None or not p.is_file() or _process_alive(int(m["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):  # gone already: fine
            p.unlink()
            removed.append(p)
    return removed


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
