from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

from volo_adapt.synth import demo_set
from volo_adapt.synth.dataset_writer import MANIFEST
from volo_adapt.synth.demo_set import DEMO_SEED, DemoSplits, demo_dir_name, demo_splits, ensure_demo_dataset

KW = dict(size=24, n_train=2, n_test=1, seed=0)


def test_generates_once_then_reuses(tmp_path):
    root = ensure_demo_dataset(cache_dir=tmp_path, **KW)
    assert root == tmp_path / demo_dir_name(24, 2, 1, 0) and root.name == "demo-24-2-1-0-v1"
    for d in ("A/train", "B/test", "paired/A", "paired/B"):
        assert (root / d / "rgb").is_dir() and (root / d / "depth").is_dir()
    stamp = (root / MANIFEST).stat().st_mtime_ns
    assert ensure_demo_dataset(cache_dir=tmp_path, **KW) == root
    assert (root / MANIFEST).stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # no temporary folder left behind


def test_incomplete_folder_is_not_trusted(tmp_path):
    half = tmp_path / demo_dir_name(24, 2, 1, 0)
    (half / "A" / "train" / "rgb").mkdir(parents=True)  # an interrupted writer's leftovers, no manifest
    root = ensure_demo_dataset(cache_dir=tmp_path, **KW)
    assert root == half and (root / MANIFEST).is_file() and len(list((root / "B/train/rgb").iterdir())) == 2


def test_volo_cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLO_CACHE", os.fspath(tmp_path / "cache"))
    root = ensure_demo_dataset(**KW)
    assert root.parent == tmp_path / "cache" and (root / MANIFEST).is_file()


def test_demo_splits_name_the_folders_of_the_cached_set(tmp_path, monkeypatch):
    root = ensure_demo_dataset(cache_dir=tmp_path, **KW)
    calls = []

    def fake(size, n_train, seed, **kw):  # demo_splits asks ensure_demo_dataset (tests patch it)
        calls.append((size, n_train, seed, kw["cache_dir"]))
        return root

    monkeypatch.setattr(demo_set, "ensure_demo_dataset", fake)
    d = demo_splits(24, 2, cache_dir=tmp_path)
    assert calls == [(24, 2, DEMO_SEED, tmp_path)] and d == DemoSplits.at(root) and d.root == root
    for split, rel in ((d.train_a, "A/train"), (d.train_b, "B/train"), (d.test_a, "A/test"), (d.test_b, "B/test"),
                       (d.paired, "paired")):
        assert split == root / rel and split.is_dir()
    assert (d.paired / "A" / "rgb").is_dir() and (d.paired / "B" / "depth").is_dir()


def _dead_pid() -> int:
    """The PID of a process that has exited and been reaped (reuse within the test is practically impossible)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(proc.stdout)


def _partial(root, pid: int, host: str | None = None):
    folder = root / f".{demo_dir_name(24, 2, 1, 0)}.{pid}@{host or demo_set._host()}.x1y2z3.partial"
    (folder / "A" / "train" / "rgb").mkdir(parents=True)
    (folder / "A" / "train" / "rgb" / "0000.png").write_bytes(b"half")
    return folder


def test_partial_folder_of_a_killed_run_is_removed_by_the_next(tmp_path):
    """A run killed (SIGKILL) while generating leaves its named partial folder; the next call removes it."""
    killed = textwrap.dedent(f"""
        import os, signal
        from pathlib import Path
        from volo_adapt.synth import demo_set
        def write(out, **kw):
            (Path(out) / "A").mkdir()
            os.kill(os.getpid(), signal.SIGKILL)
        demo_set.write_synth_dataset = write
        demo_set.ensure_demo_dataset(cache_dir=Path({str(tmp_path)!r}), size=24, n_train=2, n_test=1, seed=0)
    """)
    proc = subprocess.run([sys.executable, "-c", killed], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".{demo_dir_name(24, 2, 1, 0)}.") and left[0].endswith(".partial")
    root = ensure_demo_dataset(cache_dir=tmp_path, **KW)
    assert [p.name for p in tmp_path.iterdir()] == [root.name]


def test_partial_folders_of_live_or_other_machines_writers_are_kept(tmp_path):
    """Another process generating right now (alive), or one on another machine sharing the cache, keeps its
    partial folder; only a dead writer's of this machine goes, also next to a complete set."""
    ensure_demo_dataset(cache_dir=tmp_path, **KW)
    live = _partial(tmp_path, os.getpid())
    elsewhere = _partial(tmp_path, _dead_pid(), host="another-machine")
    dead = _partial(tmp_path, _dead_pid())
    assert demo_set.remove_abandoned_partials(tmp_path) == [dead]
    assert live.is_dir() and elsewhere.is_dir() and not dead.exists()
    ensure_demo_dataset(cache_dir=tmp_path, **KW)
    assert live.is_dir() and elsewhere.is_dir()


def test_legacy_partial_folders_go_only_when_old(tmp_path):
    """Partial folders of older versions (no PID in the name) are removed once unchanged for a day."""
    old, recent = tmp_path / ".demo-24-2-1-0-v1.abc_1234.partial", tmp_path / ".demo-96-400-64-0-v1.zz99yy88.partial"
    for folder in (old, recent):
        (folder / "A").mkdir(parents=True)
    week_ago = time.time() - 7 * 24 * 3600
    os.utime(old, (week_ago, week_ago))
    (tmp_path / "unrelated.partial").mkdir()
    assert demo_set.remove_abandoned_partials(tmp_path) == [old]
    assert recent.is_dir() and (tmp_path / "unrelated.partial").is_dir()
