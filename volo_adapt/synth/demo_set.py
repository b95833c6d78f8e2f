"""The built-in demo data set: generated once into a cache folder, then reused by training and evaluation.

:func:`demo_splits` is the one place that knows the demo seed and the folder of each split; training
(``training.run.resolve_data``) and evaluation (``metrics.evaluate.default_demo_sources``) ask it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from volo_adapt.errors import VoloError
from volo_adapt.synth.dataset_writer import FORMAT_VERSION, MANIFEST, ProgressFn, write_synth_dataset

DEMO_SEED = 0
"""Generator seed of the demo set (part of its cache folder name)."""
CACHE_ENV = "VOLO_CACHE"
"""Environment variable naming the cache root (default ``~/.cache/volo-adapt``)."""
LEGACY_PARTIAL_AGE_S = 24 * 3600.0
"""A partial folder named without its writer's PID (written before PIDs were recorded) is removed once it has not
changed for this many seconds."""

_PARTIAL = re.compile(r"^\.demo-[^.]*\.(?:(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]*)\.)?[^.@]*\.partial$")


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
    seed: int = DEMO_SEED,
    cache_dir: Path | None = None,
    progress: ProgressFn | None = None,
) -> Path:
    """Return the root of the demo set (``A/``, ``B/``, ``paired/``), generating it on first use.

    The set is written into a hidden temporary sibling folder and renamed into place only when complete, so a
    concurrent or interrupted run never leaves a half-written folder that looks complete: the final folder exists
    only with its ``synth.json``. When two processes race, the first rename wins and the other discards its copy
    (both copies are byte-identical anyway). The temporary folder ``.<name>.<pid>@<host>.<random>.partial`` names
    its writer; what a killed writer left is removed by the next call (:func:`remove_abandoned_partials`).

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
    remove_abandoned_partials(root)
    if (final / MANIFEST).is_file():
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}@{_host()}.", suffix=".partial", dir=root))
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


def _host() -> str:
    """This machine's name, reduced to letters, digits and ``-`` (it is part of partial folder names)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())


def _process_alive(pid: int) -> bool:
    """True unless no process ``pid`` exists on this machine (a process of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: someone else's process
        return True
    return True


def remove_abandoned_partials(root: Path, legacy_age_s: float = LEGACY_PARTIAL_AGE_S) -> list[Path]:
    """Delete the demo-set partial folders in the cache ``root`` whose writer is gone; return what was removed.

    A partial folder of a live process (another run generating right now) is kept: it is removed only when its
    name says it was written on this machine by a process that no longer exists. One from another machine (a
    shared cache) is kept; one named without a PID (older versions) is removed once unchanged for
    ``legacy_age_s`` seconds. Never raises: a folder that cannot be listed or removed is left.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        if _abandoned(entry, legacy_age_s):
            shutil.rmtree(entry.path, ignore_errors=True)
            if not os.path.lexists(entry.path):
                removed.append(Path(entry.path))
    return removed


def _abandoned(entry: os.DirEntry, legacy_age_s: float) -> bool:
    """True for a partial demo-set folder whose writer is gone (see :func:`remove_abandoned_partials`)."""
    m = _PARTIAL.match(entry.name)
    try:
        if m is None or not entry.is_dir(follow_symlinks=False):
            return False
        if m["pid"] is None:
            return time.time() - entry.stat(follow_symlinks=False).st_mtime > legacy_age_s
    except OSError:
        return False
    return m["host"] == _host() and not _process_alive(int(m["pid"]))


@dataclass(frozen=True)
class DemoSplits:
    """The folders of a demo set (each split holds ``rgb/`` and ``depth/``; see ``dataset_writer``).

    Attributes:
        root: the data set root (holds ``synth.json``).
        train_a, train_b: unpaired training splits of domain A (sensor A, source) and domain B (sensor B, target).
        test_a, test_b: unpaired test splits of the two domains.
        paired: the paired test scenes (``paired/A`` and ``paired/B`` hold the same scenes through both sensors).
    """

    root: Path
    train_a: Path
    train_b: Path
    test_a: Path
    test_b: Path
    paired: Path

    @staticmethod
    def at(root: str | os.PathLike) -> DemoSplits:
        """The split folders of the set at ``root`` (nothing is checked or generated)."""
        root = Path(root)
        return DemoSplits(root=root, train_a=root / "A" / "train", train_b=root / "B" / "train",
                          test_a=root / "A" / "test", test_b=root / "B" / "test", paired=root / "paired")


def demo_splits(
    size: int, n_train: int, cache_dir: Path | None = None, progress: ProgressFn | None = None
) -> DemoSplits:
    """The splits of the demo set with ``size`` px images and ``n_train`` training samples per domain, generated
    into the cache on first use (seed :data:`DEMO_SEED`, the default number of test samples).

    Args:
        size: image side, pixels (``data.demo_size``).
        n_train: training samples per domain (``data.demo_count``).
        cache_dir: cache root (default :func:`cache_root`).
        progress: optional ``progress(done, total)`` callback while generating.
    """
    return DemoSplits.at(ensure_demo_dataset(size=size, n_train=n_train, seed=DEMO_SEED, cache_dir=cache_dir,
                                             progress=progress))
