"""Packing one domain into litdata shards: bit-exact round trip, bad files, resumable after an interruption."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from volo_adapt.data.check import check_sources
from volo_adapt.data.formats import read_depth_raw, write_depth, write_rgb, write_rgbd_array
from volo_adapt.data.pack_format import decode_item, is_packed_folder, is_stream_spec
from volo_adapt.data.pack_writer import STATE_DIR, pack_sources, read_manifest
from volo_adapt.data.sources import open_source, read_sample
from volo_adapt.errors import DataError

pytest.importorskip("litdata")


def _items(out: Path) -> list[dict]:
    from litdata import StreamingDataset

    ds = StreamingDataset(str(out))
    return [ds[i] for i in range(len(ds))]


def _mixed_formats(root: Path, make_rgbd_folder) -> list[str]:
    """Four sources covering every stored format: png8 + png16 depth (depth at half size), jpg + npy depth,
    16-bit colour png + EXR depth, and 4-channel arrays (.npy and .npz)."""
    make_rgbd_folder(root / "png", keys=("a0", "a1", "sub/a2"), size=(24, 32), depth_size=(12, 16))
    make_rgbd_folder(root / "jpg", keys=("b0", "b1"), size=(20, 20), rgb_suffix=".jpg", depth_suffix=".npy", seed=1)
    g = torch.Generator().manual_seed(3)
    for k in ("c0", "c1"):
        write_rgb(root / "png16" / "rgb" / f"{k}.png", torch.rand(3, 16, 24, generator=g), bits=16)
        depth = 0.5 + 3 * torch.rand(1, 16, 24, generator=g)
        depth[..., :2] = 0.0
        write_depth(root / "png16" / "depth" / f"{k}.exr", depth)
    for k, suffix in (("d0", ".npy"), ("d1", ".npz")):
        write_rgbd_array(root / "arrays" / f"{k}{suffix}", torch.rand(3, 16, 16, generator=g),
                         1 + torch.rand(1, 16, 16, generator=g))
    return [str(root / s) for s in ("png", "jpg", "png16", "arrays")]


def test_round_trip_is_bit_exact_and_keeps_stem_and_source(tmp_path, make_rgbd_folder):
    specs = _mixed_formats(tmp_path / "src", make_rgbd_folder)
    report = pack_sources(specs, tmp_path / "out", shard_size="8KB", part_size=3)
    refs = {(r.source, r.key): r for s in specs for r in open_source(s)}
    assert report.samples == len(refs) == 9 and not report.bad and report.chunks > 1
    assert is_packed_folder(str(tmp_path / "out")) and is_stream_spec(str(tmp_path / "out"))
    assert not (tmp_path / "out" / STATE_DIR).exists()
    items = _items(tmp_path / "out")
    assert [(i["source"], i["key"]) for i in items] == list(refs), "every sample once, in source then key order"
    for item in items:
        ref = refs[(item["source"], item["key"])]
        packed, loose = decode_item(item), read_sample(ref)
        assert torch.equal(packed.rgb, loose.rgb) and torch.equal(packed.depth, loose.depth)
        assert torch.equal(packed.valid, loose.valid) and packed.meta == loose.meta
        if ref.depth_path is not None:  # the stored depth values themselves: uint16 units or float metres
            assert np.array_equal(item["depth"], read_depth_raw(ref.depth_path), equal_nan=True)
            assert item["depth"].dtype == read_depth_raw(ref.depth_path).dtype
        if ref.rgb_path is not None and ref.rgb_path.suffix == ".png" and "png16" not in str(ref.rgb_path):
            assert np.array_equal(item["rgb"], np.asarray(Image.open(ref.rgb_path).convert("RGB")))
    sixteen = [i for i in items if i["key"] == "c0"][0]
    assert sixteen["rgb"].dtype == np.uint16 and sixteen["depth"].dtype == np.float32
    manifest = read_manifest(tmp_path / "out")
    assert manifest["samples"] == 9 and manifest["sources"] == specs and manifest["bad"] == []


def test_bad_samples_are_listed_and_skipped_as_check_lists_them(tmp_path, make_mixed_rgbd_folder):
    root = tmp_path / "mixed"
    make_mixed_rgbd_folder(root)
    specs = [str(root), str(root.parent / "mixed_arrays")]
    report = pack_sources(specs, tmp_path / "out")
    checked = check_sources(specs)
    assert sorted(b.reason for b in report.bad) == sorted(b.reason for b in checked.bad) and len(report.bad) == 6
    keys = [i["key"] for i in _items(tmp_path / "out")]
    assert keys == ["good0", "good1", "good2", "ok"] and report.samples == 4
    assert len(read_manifest(tmp_path / "out")["bad"]) == 6


def test_interrupted_pack_reruns_to_the_same_pack_without_duplicates(tmp_path, make_rgbd_folder):
    keys = tuple(f"{i:03d}" for i in range(11))
    make_rgbd_folder(tmp_path / "src", keys=keys, size=(16, 16))
    spec = [str(tmp_path / "src")]
    whole = pack_sources(spec, tmp_path / "whole", shard_size="2KB", part_size=3)

    def die_at_7(done: int, total: int) -> None:
        if done == 7:  # inside the third part: two parts finished, one half-written
            raise KeyboardInterrupt

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        pack_sources(spec, out, shard_size="2KB", part_size=3, progress=die_at_7)
    assert not is_packed_folder(str(out)) and sorted(p.name for p in (out / STATE_DIR).glob("part-*")) == [
        "part-00000.json", "part-00001.json"]
    (out / "chunk-0-999.bin").write_bytes(b"half a chunk from a killed writer")
    again = pack_sources(spec, out, shard_size="2KB", part_size=3)
    assert again.parts_reused == 2 and again.samples == whole.samples == 11
    got = [(i["key"], i["rgb"].tobytes(), i["depth"].tobytes()) for i in _items(out)]
    want = [(i["key"], i["rgb"].tobytes(), i["depth"].tobytes()) for i in _items(tmp_path / "whole")]
    assert got == want and [k for k, _, _ in got] == list(keys)
    index = json.loads((out / "index.json").read_text())
    assert sorted(c["filename"] for c in index["chunks"]) == sorted(p.name for p in out.glob("chunk-*.bin"))
    assert not (out / STATE_DIR).exists()
    assert pack_sources(spec, out).already_packed, "rerunning a finished pack does nothing"


def test_refusals_are_one_line(tmp_path, make_rgbd_folder, monkeypatch):
    # a relative "s3://bucket/x" is the folder s3:/bucket/x of the working directory: a writer that forgot the
    # refusal writes there, so make that tmp_path, never the repository (it once left s3:/bucket/x/ in git)
    monkeypatch.chdir(tmp_path)
    make_rgbd_folder(tmp_path / "src", keys=("a",), size=(16, 16))
    make_rgbd_folder(tmp_path / "other", keys=("b",), size=(16, 16))
    spec = str(tmp_path / "src")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    cases = [
        (([spec], tmp_path / "busy"), "not empty"),
        (([spec], tmp_path / "src"), "also a source"),
        (([spec], "s3://bucket/x"), "local folder"),
        (([str(tmp_path / "nope")], tmp_path / "o1"), "no such file"),
    ]
    for (specs, out), match in cases:
        with pytest.raises(DataError, match=match) as e:
            pack_sources(specs, out)
        assert "\n" not in str(e.value)
    pack_sources([spec], tmp_path / "done")
    with pytest.raises(DataError, match="already holds a pack"):
        pack_sources([str(tmp_path / "other")], tmp_path / "done")
    with pytest.raises(DataError, match="already packed"):
        pack_sources([str(tmp_path / "done")], tmp_path / "o2")


def test_check_reads_packed_data_with_the_same_statistics(tmp_path, make_rgbd_folder):
    specs = _mixed_formats(tmp_path / "src", make_rgbd_folder)
    pack_sources(specs, tmp_path / "out")
    loose = check_sources(specs)
    packed = check_sources([str(tmp_path / "out")])
    (st,) = packed.sources
    assert packed.ok and st.kind == "packed" and st.ok == 9
    assert st.resolutions == sum((s.resolutions for s in loose.sources), type(st.resolutions)())
    assert st.depth_min == min(s.depth_min for s in loose.sources)
    assert st.depth_max == max(s.depth_max for s in loose.sources)


@pytest.mark.slow
def test_reader_processes_write_the_same_pack(tmp_path, make_rgbd_folder):
    make_rgbd_folder(tmp_path / "src", keys=tuple(f"{i}" for i in range(6)), size=(16, 16))
    spec = [str(tmp_path / "src")]
    pack_sources(spec, tmp_path / "one", part_size=4)
    pack_sources(spec, tmp_path / "two", part_size=4, workers=2)
    a = [(i["key"], i["rgb"].tobytes(), i["depth"].tobytes()) for i in _items(tmp_path / "one")]
    assert a == [(i["key"], i["rgb"].tobytes(), i["depth"].tobytes()) for i in _items(tmp_path / "two")]
