"""Shared, generic test fixtures (keep them small and format-agnostic)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import settings
from PIL import Image

from volo_adapt.data.formats import write_depth, write_rgb

# Property-based tests: CI (and plain `make test`) runs the "ci" profile, which is derandomised (the same
# examples every run, derived from each test's source) and keeps no example database, so a run cannot pass or
# fail by chance. `make fuzz` selects the "fuzz" profile: many random examples per property, outside CI; every
# counterexample it finds becomes an ordinary regression test next to the property.
settings.register_profile("ci", max_examples=50, derandomize=True, database=None, print_blob=True)
settings.register_profile(
    "fuzz", max_examples=int(os.environ.get("VOLO_FUZZ_EXAMPLES", "10000")), derandomize=False, database=None,
    print_blob=True,
)
settings.load_profile(os.environ.get("VOLO_HYPOTHESIS_PROFILE", "ci"))


# The test session must leave the repository tree as it found it: every test writes under tmp_path. What the
# runner itself writes is not the tests' doing and is left out of the comparison: .venv/ and *.egg-info/ (`make
# setup`), .ruff_cache/ (`make test` lints first), .pytest_cache/ (pytest's cache plugin), .hypothesis/ (Hypothesis
# keeps its constants cache there even without an example database) and __pycache__/ (Python compiling the imports).
_REPO = Path(__file__).resolve().parents[1]
_RUNNER_OWNED = [":!.venv", ":!*.egg-info/*", ":!.ruff_cache", ":!.pytest_cache", ":!.hypothesis", ":!*__pycache__/*"]
_TREE_BEFORE = pytest.StashKey[frozenset]()
_SIGINT_BEFORE = pytest.StashKey[object]()
_SIGINT_CHANGED_BY = pytest.StashKey[str]()


def _tree_state() -> frozenset[str] | None:
    """``git status --porcelain --ignored`` lines of every file (ignored or not) outside the runner's own folders;
    None when the tests do not run from a git checkout (an unpacked sdist), where there is nothing to compare."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=all", "--", ".", *_RUNNER_OWNED],
            cwd=_REPO, capture_output=True, text=True, check=True, timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return frozenset(line for line in out.splitlines() if line.strip())


def pytest_sessionstart(session: pytest.Session) -> None:
    """Record the tree before any test module is imported (the baseline of :func:`_tests_leave_the_tree_alone`),
    and give SIGINT Python's default handler (the baseline of :func:`_tests_restore_sigint`).

    A test run started in the background of a non-interactive shell (``make test &`` in a script, some CI
    runners) inherits SIGINT *ignored* (POSIX: such jobs ignore SIGINT and SIGQUIT), and Python then leaves it
    at ``SIG_IGN`` instead of installing :func:`signal.default_int_handler`: the signal tests would see a
    different starting point than in a terminal. The session starts from Python's default either way."""
    session.config.stash[_TREE_BEFORE] = _tree_state()
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    session.config.stash[_SIGINT_BEFORE] = signal.getsignal(signal.SIGINT)


@pytest.fixture(scope="session", autouse=True)
def _tests_leave_the_tree_alone(request):
    """After the last test: fail (an error in the summary) if the session created or changed a file in the
    repository tree, ignored or not, outside the runner's folders. Fix such a test to write under tmp_path; adding
    its output to .gitignore is not a fix. (Files you edit while the tests run show up here too.)"""
    yield
    before = request.config.stash.get(_TREE_BEFORE, None)
    after = _tree_state()
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        pytest.fail(f"files of the repository tree {_REPO} changed during the test session (a test must write "
                    "under tmp_path; files edited by hand while the tests ran also show here):\n"
                    + "\n".join(f"  {line}" for line in new), pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    """After each test's teardown: remember the first test after which SIGINT's handler is not the session's."""
    result = yield
    stash = item.config.stash
    if _SIGINT_CHANGED_BY not in stash and signal.getsignal(signal.SIGINT) != stash.get(_SIGINT_BEFORE, None):
        stash[_SIGINT_CHANGED_BY] = f"{item.nodeid} (SIGINT handler now {signal.getsignal(signal.SIGINT)!r})"
    return result


@pytest.fixture(scope="session", autouse=True)
def _tests_restore_sigint(request):
    """After the last test: fail (an error in the summary) if SIGINT's handler differs from the session's start
    (code that sets a signal handler must put the previous one back), naming the first test after which it did."""
    yield
    before = request.config.stash.get(_SIGINT_BEFORE, None)
    if signal.getsignal(signal.SIGINT) != before:
        culprit = request.config.stash.get(_SIGINT_CHANGED_BY, "the last test (or a session fixture's teardown)")
        pytest.fail(f"SIGINT's handler changed during the test session: {before!r} at the start, "
                    f"{signal.getsignal(signal.SIGINT)!r} at the end; first seen after {culprit}", pytrace=False)


@pytest.fixture(autouse=True)
def _same_precision_on_every_cpu(monkeypatch):
    """``auto`` precisions (``volo translate``'s default, ``train.precision: auto``) resolve as on a CPU without
    native bf16, i.e. to exact fp32, so that a test comparing outputs to fp32 passes or fails alike on AVX2 and on
    AVX-512 BF16/AMX machines. Tests of the ``auto`` choice set ``fast_bf16`` themselves."""
    import volo_adapt.hardware as hw

    monkeypatch.setattr(hw, "fast_bf16", lambda device: False)


def _make_rgbd_folder(
    root: Path,
    keys: tuple[str, ...] = ("0000", "0001", "0002"),
    size: tuple[int, int] = (24, 32),
    depth_size: tuple[int, int] | None = None,
    rgb_suffix: str = ".png",
    depth_suffix: str = ".png",
    depth_scale: float = 1000.0,
    seed: int = 0,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Write a folder source ``root/rgb/KEY.ext`` + ``root/depth/KEY.ext`` and return what was written.

    Colour is a random 8-bit image (exact in PNG), depth random millimetres in ``[0.3, 6]`` m with a few
    invalid (0) pixels, quantised to ``1 / depth_scale`` so that 16-bit PNG stores it exactly.

    Returns:
        key -> ``(rgb (3,H,W) float32 [0,1], depth (1,h,w) float32 metres)`` as stored.
    """
    g = torch.Generator().manual_seed(seed)
    dh, dw = depth_size or size
    truth = {}
    for key in keys:
        rgb = torch.randint(0, 256, (3, *size), generator=g).float() / 255.0
        units = torch.randint(int(0.3 * depth_scale), int(6 * depth_scale), (1, dh, dw), generator=g).float()
        units[torch.rand(units.shape, generator=g) < 0.1] = 0.0
        depth = units / depth_scale
        write_rgb(root / "rgb" / f"{key}{rgb_suffix}", rgb)
        write_depth(root / "depth" / f"{key}{depth_suffix}", depth, depth_scale=depth_scale)
        truth[key] = (rgb, depth)
    return truth


@pytest.fixture
def make_rgbd_folder() -> Callable[..., dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Factory fixture: ``make_rgbd_folder(root, keys=..., size=(H, W), depth_size=None, rgb_suffix=".png",
    depth_suffix=".png", depth_scale=1000.0, seed=0)`` writes a folder source and returns its ground truth."""
    return _make_rgbd_folder


def _make_mixed_rgbd_folder(root: Path, n_good: int = 3, size: tuple[int, int] = (12, 16)) -> dict[str, str]:
    """Write a folder source with ``n_good`` readable samples (``good0``...) plus one sample of each bad kind.

    Returns:
        bad key -> a fragment of its expected one-line reason. (A wrong-channel-count array lives in the
        separate array source ``root.parent / (root.name + "_arrays")``, key ``three_channels``.)
    """
    _make_rgbd_folder(root, keys=tuple(f"good{i}" for i in range(n_good)), size=size)
    rgb, depth = root / "rgb", root / "depth"
    # truncated PNG colour (half of a valid file)
    write_rgb(rgb / "truncated.png", torch.rand(3, 64, 64))
    data = (rgb / "truncated.png").read_bytes()
    (rgb / "truncated.png").write_bytes(data[: len(data) // 2])
    write_depth(depth / "truncated.png", torch.ones(1, 64, 64))
    # empty depth file
    write_rgb(rgb / "empty.png", torch.rand(3, *size))
    (depth / "empty.png").write_bytes(b"")
    # text file named .png
    (rgb / "text.png").write_text("hello, I am not a PNG\n")
    write_depth(depth / "text.png", torch.ones(1, *size))
    # missing partner
    write_rgb(rgb / "orphan.png", torch.rand(3, *size))
    # 8-bit depth PNG
    write_rgb(rgb / "depth8.png", torch.rand(3, *size))
    Image.new("L", (size[1], size[0]), 7).save(depth / "depth8.png")
    # wrong channel count in a 4-channel array source
    arrays = root.parent / f"{root.name}_arrays"
    arrays.mkdir(parents=True, exist_ok=True)
    np.save(arrays / "three_channels.npy", np.zeros((*size, 3), np.float32))
    arr = np.zeros((*size, 4), np.float32)
    arr[..., 3] = 1.5
    np.save(arrays / "ok.npy", arr)
    return {
        "truncated": "truncated",
        "empty": "empty file",
        "text": "not an image",
        "orphan": "missing depth partner for orphan",
        "depth8": "8-bit depth",
        "three_channels": "wrong array shape",
    }


@pytest.fixture
def make_mixed_rgbd_folder() -> Callable[..., dict[str, str]]:
    """Factory fixture: ``make_mixed_rgbd_folder(root, n_good=3, size=(H, W))`` writes good samples and one of
    each bad kind (see :func:`_make_mixed_rgbd_folder`) and returns ``bad key -> reason fragment``."""
    return _make_mixed_rgbd_folder
