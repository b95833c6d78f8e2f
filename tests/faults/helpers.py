"""Helpers of the fault-injection suite, importable as ``volo_faults_helpers`` (registered by conftest.py)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from volo_adapt.errors import VoloError

REPO = Path(__file__).resolve().parents[2]


def volo_cmd(*args: str) -> list[str]:
    """The ``volo`` console script as a subprocess command line (same interpreter, repo on the path)."""
    return [sys.executable, "-m", "cli.main", *args]


def volo_env(**extra: str) -> dict[str, str]:
    """Environment for ``volo`` subprocesses: repo importable, few threads (2 shared cores), no colour codes."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS="200",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def run_volo(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run ``volo ARGS`` to completion in a subprocess; returns the completed process (text output)."""
    return subprocess.run(volo_cmd(*args), cwd=REPO, env=volo_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line_error(stderr: str, *fragments: str) -> str:
    """The CLI's ``error: ...`` line: exactly one, no traceback, containing every fragment. Returns the line."""
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def expect_error_or_ok(
    fn: Callable[[], Any], error: type[VoloError], names: str | None, check_ok: Callable[[Any], None] | None = None
) -> Any:
    """Call ``fn``; it may succeed (then ``check_ok(result)``) or raise ``error`` with a one-line message that
    contains ``names``. Any other exception type propagates and fails the test. Returns the result or the error."""
    try:
        out = fn()
    except error as e:
        msg = str(e)
        assert msg and "\n" not in msg, f"not one line: {msg!r}"
        if names is not None:
            assert names in msg, f"{names!r} not named in {msg!r}"
        return e
    if check_ok is not None:
        check_ok(out)
    return out


@contextlib.contextmanager
def assert_silent(what: str = "") -> Iterator[None]:
    """Fail if the block prints anything: to file descriptors 1 or 2 (native libraries), to Python's
    ``sys.stdout``/``sys.stderr``, or as a Python warning. A bad file must give exactly one line, ours."""
    py_out = io.StringIO()
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # ResourceWarning is hidden by Python's default filters (users never see it), and it fires whenever the
        # garbage collector gets round to an object, so inside whatever block happens to run next: not ours to judge
        warnings.simplefilter("ignore", ResourceWarning)
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            with contextlib.redirect_stdout(py_out), contextlib.redirect_stderr(py_out):
                yield
        finally:
            for fd, old in zip((1, 2), saved, strict=True):
                os.dup2(old, fd)
                os.close(old)
            sink.seek(0)
            native = sink.read().decode("utf-8", errors="replace")
    printed = native + py_out.getvalue() + "".join(f"{w.category.__name__}: {w.message}\n" for w in caught)
    assert not printed, f"{what} printed:\n{printed}"


def write_two_domains(root: Path, n: int, size: int = 32) -> tuple[str, str]:
    """Write ``n`` random RGB-D samples per domain under ``root/A`` and ``root/B`` (rgb/ + 16-bit mm depth/ PNGs).

    Depth is uniform in ``[0.5, 1.5)`` m; seeded, so every call writes the same files.
    """
    import torch

    from volo_adapt.data.formats import write_depth, write_rgb

    g = torch.Generator().manual_seed(0)
    for d in "AB":
        for i in range(n):
            write_rgb(root / d / "rgb" / f"{i}.png", torch.rand(3, size, size, generator=g))
            write_depth(root / d / "depth" / f"{i}.png", 0.5 + torch.rand(1, size, size, generator=g))
    return str(root / "A"), str(root / "B")
