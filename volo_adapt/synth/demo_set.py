"""The built-in demo data set: generated once into a cache folder, then reused by training and evaluation."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from volo_adapt.errors import VoloError
from volo_adapt.synth.dataset_writer import FORMAT_VERSION, MANIFEST, ProgressFn, write_synth_dataset

CACHE_ENV = "VOLO_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/volo-adapt``)."""


def cache_root() -> Path:
    """``$VOLO_CACHE`` if set, else ``~/.cache/volo-adapt``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "volo-adapt"


def demo_dir_name(size: int, n_train: int, n_test: int, seed: int) -> str:
    """Folder name of a demo set: ``demo-<size>-<n_train>-<n_test>-<seed>-v<format version>``."""
    return f"demo-{size}-{n_train}-{n_test}-{seed}-v{FORMAT_VERSION}"


def ensure_demo_dataset(
    size: int = 96,
    n_train: int = 400,
    n_test: int = 64,
    seed: int = 0,
    cache_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Return the root of the demo set (``A/``, ``B/``, ``paired/``), generating it on first use.

    The set is written into a hidden temporary sibling folder and renamed into place only when complete, so a
    concurrent or interrupted run never leaves a half-written folder that looks complete: the final folder exists
    only with its ``synth.json``. When two processes race, the first rename wins and the other discards its copy
    (both copies are byte-identical anyway).

    Args:
        size: image side, pixels.
        n_train: training samples per domain.
        n_test: test samples per domain (and paired scenes).
        seed: generator seed.
        cache_dir: cache root (default :func:`cache_root`); the set goes into
            ``cache_dir / demo_dir_name(...)``.
        progress: optional ``progress(done, total)`` callback while generating.

    Returns:
        The data set root.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    final = root / demo_dir_name(size, n_train, n_test, seed)
    if (final / MANIFEST).is_file():
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=root))
    except OSError as e:
        raise VoloError(f"{root}: cannot create the demo data cache ({e.strerror or e}); set ${CACHE_ENV}") from e
    try:
        write_synth_dataset(tmp, n_train=n_train, n_test=n_test, size=size, seed=seed, progress=progress)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / MANIFEST).is_file():  # not a lost race: a stale incomplete folder without manifest
                if final.is_dir():
                    shutil.rmtree(final, ignore_errors=True)
                os.rename(tmp, final)
    finally:
        with contextlib.suppress(OSError):
            if tmp.exists():
                shutil.rmtree(tmp)
    assert (final / MANIFEST).is_file()
    return final
