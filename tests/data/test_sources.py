"""Tests for volo_adapt/data/sources.py: the four source layouts, pairing, keys and read_sample."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from volo_adapt.data.formats import write_depth, write_rgb, write_rgbd_array
from volo_adapt.data.sources import SampleRef, open_source, read_sample, source_kind
from volo_adapt.errors import DataError


def _pair(root: Path, key: str, rgb_ext: str = ".jpg", depth_ext: str = ".png", size=(6, 8)) -> None:
    write_rgb(root / "rgb" / f"{key}{rgb_ext}", torch.rand(3, *size))
    write_depth(root / "depth" / f"{key}{depth_ext}", torch.rand(1, *size) + 0.5)


def test_folder_pairs_nested_stems_and_keeps_orphans(tmp_path):
    _pair(tmp_path, "a/x", ".jpg", ".png")
    _pair(tmp_path, "a/b/y", ".png", ".exr")
    _pair(tmp_path, "z", ".jpeg", ".npy")
    write_rgb(tmp_path / "rgb" / "only_rgb.png", torch.rand(3, 6, 8))
    write_depth(tmp_path / "depth" / "sub" / "only_depth.png", torch.ones(1, 6, 8))
    (tmp_path / "rgb" / ".hidden.png").write_bytes(b"junk")
    (tmp_path / "rgb" / ".x.123.partial.png").write_bytes(b"junk")
    (tmp_path / "rgb" / ".cache").mkdir()
    (tmp_path / "rgb" / ".cache" / "q.png").write_bytes(b"junk")
    (tmp_path / "rgb" / "notes.txt").write_text("ignored")
    spec = str(tmp_path)
    assert source_kind(spec) == "folder"
    refs = open_source(spec)
    assert [r.key for r in refs] == ["a/b/y", "a/x", "only_rgb", "sub/only_depth", "z"]
    by = {r.key: r for r in refs}
    assert by["a/b/y"].rgb_path == tmp_path / "rgb" / "a" / "b" / "y.png"
    assert by["a/b/y"].depth_path == tmp_path / "depth" / "a" / "b" / "y.exr"
    assert by["only_rgb"].depth_path is None and by["sub/only_depth"].rgb_path is None
    assert all(r.source == spec for r in refs)
    with pytest.raises(DataError, match="missing depth partner for only_rgb"):
        read_sample(by["only_rgb"])
    with pytest.raises(DataError, match="missing rgb partner for sub/only_depth"):
        read_sample(by["sub/only_depth"])
    s = read_sample(by["a/b/y"])
    assert s.meta["rgb_format"] == "png8" and s.meta["depth_format"] == "exr"
    assert open_source(spec) == refs  # deterministic


def test_folder_duplicate_stem_is_refused(tmp_path):
    _pair(tmp_path, "x", ".jpg", ".png")
    write_rgb(tmp_path / "rgb" / "x.png", torch.rand(3, 6, 8))
    with pytest.raises(DataError, match="'x'"):
        open_source(str(tmp_path))


def test_read_sample_meta_phone_sizes_and_tum_scale(tmp_path, make_rgbd_folder):
    truth = make_rgbd_folder(tmp_path, keys=("k",), size=(48, 64), depth_size=(12, 16), depth_scale=5000.0)
    (ref,) = open_source(str(tmp_path))
    s = read_sample(ref, depth_scale=5000.0)
    assert s.size == (12, 16)
    assert torch.equal(s.depth, truth["k"][1])  # depth is the smaller image: exact metres at TUM scale
    assert s.meta == {
        "key": "k",
        "source": str(tmp_path),
        "rgb_path": str(tmp_path / "rgb" / "k.png"),
        "depth_path": str(tmp_path / "depth" / "k.png"),
        "rgb_size": (48, 64),
        "depth_size": (12, 16),
        "rgb_format": "png8",
        "depth_format": "png16",
        "depth_scale": 5000.0,
    }
    assert torch.equal(s.valid, s.depth > 0)
    s_mm = read_sample(ref, depth_scale=1000.0)
    torch.testing.assert_close(s_mm.depth, s.depth * 5)


def _index_tree(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    for k in ("s1", "s2", "r1"):
        write_rgb(data / "color" / f"{k}.jpg", torch.rand(3, 6, 8))
        write_depth(data / "depth" / f"{k}.exr", torch.rand(1, 6, 8) + 0.5)
    return data


def test_json_index_with_and_without_key(tmp_path, monkeypatch):
    data = _index_tree(tmp_path)
    index = {
        "synthetic_data": [
            {"color_path": "color/s2.jpg", "depth_path": "depth/s2.exr"},
            {"color_path": str(data / "color" / "s1.jpg"), "depth_path": "depth/s1.exr"},
            {"color_path": "color/missing.jpg"},
        ],
        "real_data": [{"color_path": "color/r1.jpg", "depth_path": "depth/r1.exr"}],
        "note": "not a list",
    }
    (data / "training_paths.json").write_text(json.dumps(index))
    monkeypatch.chdir(tmp_path)  # relative paths resolve against the json file, not the cwd
    spec = str(data / "training_paths.json") + "#synthetic_data"
    assert source_kind(spec) == "index-json"
    refs = open_source(spec)
    assert [r.key for r in refs] == ["missing", "s1", "s2"]
    assert refs[1].depth_path == data / "depth" / "s1.exr"
    assert refs[0].depth_path is None
    assert read_sample(refs[2]).meta["depth_format"] == "exr"
    with pytest.raises(DataError, match="missing depth partner for missing"):
        read_sample(refs[0])
    with pytest.raises(DataError, match="keys: synthetic_data, real_data$"):
        open_source(str(data / "training_paths.json"))
    with pytest.raises(DataError, match="no list under key 'nope'"):
        open_source(str(data / "training_paths.json") + "#nope")
    (data / "one.json").write_text(json.dumps({"real_data": index["real_data"]}))
    assert [r.key for r in open_source(str(data / "one.json"))] == ["r1"]
    (data / "plain.json").write_text(json.dumps(index["real_data"]))
    assert len(open_source(str(data / "plain.json"))) == 1
    (data / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        open_source(str(data / "broken.json"))


def test_csv_index(tmp_path):
    data = _index_tree(tmp_path)
    (data / "pairs.csv").write_text("color_path,depth_path\ncolor/s1.jpg,depth/s1.exr\ncolor/r1.jpg,\n")
    assert source_kind(str(data / "pairs.csv")) == "index-csv"
    refs = open_source(str(data / "pairs.csv"))
    assert [(r.key, r.depth_path) for r in refs] == [("r1", None), ("s1", data / "depth" / "s1.exr")]
    assert read_sample(refs[1]).size == (6, 8)
    (data / "bad.csv").write_text("rgb,depth\na,b\n")
    with pytest.raises(DataError, match="color_path,depth_path"):
        open_source(str(data / "bad.csv"))


def test_array_folder(tmp_path):
    rgb = torch.rand(3, 5, 7)
    depth = torch.rand(1, 5, 7) + 1
    write_rgbd_array(tmp_path / "b.npy", rgb, depth)
    write_rgbd_array(tmp_path / "nested" / "a.npz", rgb, depth)
    np.save(tmp_path / ".hidden.npy", np.zeros(3))
    assert source_kind(str(tmp_path)) == "arrays"
    refs = open_source(str(tmp_path))
    assert refs == [
        SampleRef(key="b", source=str(tmp_path), array_path=tmp_path / "b.npy"),
        SampleRef(key="nested/a", source=str(tmp_path), array_path=tmp_path / "nested" / "a.npz"),
    ]
    s = read_sample(refs[1])
    assert torch.equal(s.rgb, rgb) and torch.equal(s.depth, depth)
    assert s.meta["rgb_format"] == s.meta["depth_format"] == "npz" and s.meta["depth_size"] == (5, 7)


def test_bad_specs(tmp_path):
    with pytest.raises(DataError, match="no such file or folder"):
        open_source(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="no such file or folder"):
        open_source(str(tmp_path / "nope.json#key"))
    (tmp_path / "empty" / "rgb").mkdir(parents=True)
    (tmp_path / "empty" / "depth").mkdir()
    with pytest.raises(DataError, match="no samples found"):
        open_source(str(tmp_path / "empty"))
    (tmp_path / "half" / "rgb").mkdir(parents=True)
    with pytest.raises(DataError, match="depth/ is missing"):
        open_source(str(tmp_path / "half"))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "a.png").write_bytes(b"x")
    with pytest.raises(DataError, match="unknown layout") as e:
        source_kind(str(tmp_path / "other"))
    assert str(tmp_path / "other") in str(e.value)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DataError, match="unknown source file type"):
        open_source(str(tmp_path / "x.txt"))


def test_aspect_mismatch_is_named(tmp_path):
    write_rgb(tmp_path / "rgb" / "k.png", torch.rand(3, 10, 30))
    write_depth(tmp_path / "depth" / "k.png", torch.ones(1, 10, 10))
    (ref,) = open_source(str(tmp_path))
    with pytest.raises(DataError, match=r"k: RGB 30x10 and depth 10x10"):
        read_sample(ref)
