from __future__ import annotations

import os

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
