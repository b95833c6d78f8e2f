"""Tests for volo_adapt/inference/translate.py (+ writers.py): whole sources in, the same layout out.

Named test_translate_source.py, not test_translate.py: pytest (rootdir import mode, no packages under tests/)
needs unique basenames and tests/cli/test_translate.py holds the CLI tests."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch

from volo_adapt.data.formats import (
    load_rgb,
    read_depth,
    read_depth_raw,
    read_rgbd_array,
    write_depth,
    write_rgb,
    write_rgbd_array,
)
from volo_adapt.data.sample import RGBDSample, from_network, to_network
from volo_adapt.errors import VoloError
from volo_adapt.inference import load_generator, translate_source, translate_tensors


@pytest.fixture(scope="module")
def gen(tiny_ckpt):
    return load_generator(tiny_ckpt)


def _rgb(h, w, seed):
    return torch.rand(3, h, w, generator=torch.Generator().manual_seed(seed))


def _depth(h, w, seed, far=4.0):
    d = 0.3 + (far - 0.3) * torch.rand(1, h, w, generator=torch.Generator().manual_seed(100 + seed))
    d[:, : h // 4] = 0.0  # an invalid band
    return d


def make_folder(root, sizes=((33, 51), (40, 40), (33, 51)), rgb_suffix=".png", depth_suffix=".png", scale=1000.0):
    for i, (h, w) in enumerate(sizes):
        sub = "a" if i % 2 == 0 else "b/c"
        write_rgb(root / "rgb" / sub / f"{i:03d}{rgb_suffix}", _rgb(h, w, i))
        write_depth(root / "depth" / sub / f"{i:03d}{depth_suffix}", _depth(h, w, i), depth_scale=scale)
    return root


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _expected(gen, rgb, depth):
    """What translate should write for one aligned sample (decoded metres, clamped colour)."""
    x, _ = to_network(RGBDSample.from_depth(rgb, depth), gen.codec)
    rgb_o, depth_o, _ = from_network(translate_tensors(gen, x[None])[0], gen.codec)
    return rgb_o, depth_o


def test_folder_png_round_trip_names_sizes_dtypes_and_values(gen, tmp_path):
    src = make_folder(tmp_path / "in")
    out = tmp_path / "out"
    rep = translate_source(src, out, gen, batch_size=2, device="cpu")
    assert len(rep.translated) == 3 and not rep.failed
    assert _files(out) == [*(f for f in _files(src)), "translate_report.json"]
    for rel in _files(src):
        h, w = ((33, 51), (40, 40), (33, 51))[int(rel[-7:-4])]
        if rel.startswith("depth/"):
            raw = read_depth_raw(out / rel)
            assert raw.dtype == np.uint16 and raw.shape == (h, w)
            rgb_in = load_rgb(src / rel.replace("depth/", "rgb/", 1))[0]
            _, depth_exp = _expected(gen, rgb_in, read_depth(src / rel))
            units = np.rint(depth_exp[0].numpy() * 1000).astype(np.int64)
            assert np.abs(raw.astype(np.int64) - units).max() <= 1
            assert (raw > 0).any()
        else:
            rgb, fmt = load_rgb(out / rel)
            assert fmt == "png8" and rgb.shape == (3, h, w)
    report = json.loads((out / "translate_report.json").read_text())
    assert report["counts"] == {"total": 3, "translated": 3, "skipped": 0, "failed": 0}


@pytest.mark.parametrize(
    ("rgb_format", "suffix"), [("png", ".png"), ("same", ".jpg"), ("jpg", ".jpg")]
)
def test_jpg_colour_becomes_png_unless_asked(gen, tmp_path, rgb_format, suffix):
    src = make_folder(tmp_path / "in", sizes=((24, 24),), rgb_suffix=".jpg")
    out = tmp_path / "out"
    translate_source(src, out, gen, rgb_format=rgb_format)
    assert (out / "rgb" / "a" / f"000{suffix}").is_file()
    assert len(list((out / "rgb").rglob("*"))) == 2  # a/ and the one file


def test_tum_depth_scale_5000_is_kept(gen, tmp_path):
    src = make_folder(tmp_path / "in", sizes=((24, 32),), scale=5000.0)
    out = tmp_path / "out"
    rep = translate_source(src, out, gen, depth_scale=5000)
    assert rep.depth_scale == 5000.0
    depth_in = read_depth(src / "depth/a/000.png", depth_scale=5000)
    _, depth_exp = _expected(gen, load_rgb(src / "rgb/a/000.png")[0], depth_in)
    raw = read_depth_raw(out / "depth/a/000.png").astype(np.int64)
    assert np.abs(raw - np.rint(depth_exp[0].numpy() * 5000)).max() <= 1


@pytest.mark.parametrize("depth_suffix", [".exr", ".npy"])
def test_float_depth_formats_stay_float_metres(gen, tmp_path, depth_suffix):
    if depth_suffix == ".exr":
        pytest.importorskip("OpenEXR", reason="EXR needs the optional 'exr' extra")
    src = make_folder(tmp_path / "in", sizes=((20, 28),), depth_suffix=depth_suffix)
    out = tmp_path / "out"
    translate_source(src, out, gen)
    raw = read_depth_raw(out / f"depth/a/000{depth_suffix}")
    assert raw.dtype == np.float32 and raw.shape == (20, 28)
    _, depth_exp = _expected(gen, load_rgb(src / "rgb/a/000.png")[0], read_depth(src / f"depth/a/000{depth_suffix}"))
    assert np.allclose(raw, depth_exp[0].numpy(), atol=1e-4)


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_rgbd_arrays_stay_arrays(gen, tmp_path, suffix):
    src = tmp_path / "in"
    write_rgbd_array(src / f"x/one{suffix}", _rgb(17, 23, 0), _depth(17, 23, 0))
    write_rgbd_array(src / f"two{suffix}", _rgb(16, 16, 1), _depth(16, 16, 1))
    out = tmp_path / "out"
    rep = translate_source(src, out, gen)
    assert len(rep.translated) == 2
    rgb, depth = read_rgbd_array(out / f"x/one{suffix}")
    assert rgb.shape == (3, 17, 23) and depth.shape == (1, 17, 23)
    rgb_exp, depth_exp = _expected(gen, _rgb(17, 23, 0), _depth(17, 23, 0))
    assert torch.allclose(depth, depth_exp, atol=1e-4) and torch.allclose(rgb, rgb_exp, atol=1e-4)


def _write_pairs(base, n=3):
    pairs = []
    for i in range(n):
        c, d = f"imgs/color/{i}.jpg", f"imgs/depth/{i}.png"
        write_rgb(base / c, _rgb(24, 24, i))
        write_depth(base / d, _depth(24, 24, i))
        pairs.append((c, d))
    return pairs


def test_index_json_key_mirrors_paths_and_writes_matching_index(gen, tmp_path):
    base = tmp_path / "in"
    pairs = _write_pairs(base)
    index = {"synthetic_data": [{"depth_path": d, "color_path": c} for c, d in pairs], "real_data": []}
    (base / "training_paths.json").write_text(json.dumps(index))
    out = tmp_path / "out"
    rep = translate_source(f"{base / 'training_paths.json'}#synthetic_data", out, gen)
    assert len(rep.translated) == 3 and rep.index_file == str(out / "training_paths.json")
    written = json.loads((out / "training_paths.json").read_text())
    assert list(written) == ["synthetic_data"]
    entries = written["synthetic_data"]
    assert [e["depth_path"] for e in entries] == [d for _, d in pairs]
    assert [e["color_path"] for e in entries] == [c.replace(".jpg", ".png") for c, _ in pairs]
    for e in entries:
        assert (out / e["color_path"]).is_file() and (out / e["depth_path"]).is_file()


def test_index_csv_mirrors_paths_and_writes_matching_index(gen, tmp_path):
    base = tmp_path / "in"
    pairs = _write_pairs(base, 2)
    with open(base / "pairs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["color_path", "depth_path"])
        w.writerows(pairs)
    out = tmp_path / "out"
    translate_source(base / "pairs.csv", out, gen, rgb_format="same")
    rows = list(csv.DictReader(open(out / "pairs.csv")))
    assert [(r["color_path"], r["depth_path"]) for r in rows] == pairs
    assert all((out / c).is_file() and (out / d).is_file() for c, d in pairs)


def test_phone_like_depth_smaller_than_rgb_comes_back_at_its_own_size(gen, tmp_path):
    src = tmp_path / "in"
    write_rgb(src / "rgb/p.jpg", _rgb(96, 72, 0))
    write_depth(src / "depth/p.png", _depth(32, 24, 0))
    out = tmp_path / "out"
    rep = translate_source(src, out, gen)
    assert rep.translated[0].size == [32, 24]
    assert load_rgb(out / "rgb/p.png")[0].shape == (3, 96, 72)
    assert read_depth_raw(out / "depth/p.png").shape == (32, 24)


def test_interrupted_then_resumed_equals_uninterrupted(gen, tmp_path):
    src = make_folder(tmp_path / "in", sizes=((24, 24), (20, 28), (24, 24), (16, 16)))
    full = tmp_path / "full"
    translate_source(src, full, gen, batch_size=1)

    class Stop(Exception):
        pass

    def stop_after_two(done, total, item):
        if done == 2:
            raise Stop

    part = tmp_path / "part"
    with pytest.raises(Stop):
        translate_source(src, part, gen, batch_size=1, progress=stop_after_two)
    assert not (part / "translate_report.json").exists()
    assert len([f for f in _files(part)]) == 4  # two complete samples
    rep = translate_source(src, part, gen, batch_size=1, skip_existing=True)
    assert (len(rep.skipped), len(rep.translated)) == (2, 2)
    assert _files(part) == _files(full)
    for rel in _files(full):
        if rel != "translate_report.json":
            assert (part / rel).read_bytes() == (full / rel).read_bytes(), rel
    assert not [p for p in part.rglob("*") if "partial" in p.name]


def test_skip_existing_needs_all_files_of_a_sample(gen, tmp_path):
    src = make_folder(tmp_path / "in", sizes=((16, 16), (16, 16)))
    out = tmp_path / "out"
    translate_source(src, out, gen)
    (out / "rgb/a/000.png").unlink()
    rep = translate_source(src, out, gen, skip_existing=True)
    assert [i.key for i in rep.translated] == ["a/000"] and [i.key for i in rep.skipped] == ["b/c/001"]
    rep = translate_source(src, out, gen)  # without the flag everything is redone
    assert len(rep.translated) == 2


def test_corrupt_and_unpaired_inputs_are_reported_and_the_rest_translated(gen, tmp_path):
    src = make_folder(tmp_path / "in")
    (src / "rgb/b/c/001.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really a png")
    write_rgb(src / "rgb/a/lonely.png", _rgb(16, 16, 9))
    out = tmp_path / "out"
    rep = translate_source(src, out, gen)
    failed = {i.key: i.reason for i in rep.failed}
    assert set(failed) == {"b/c/001", "a/lonely"}
    assert "001.png" in failed["b/c/001"] and "missing depth partner" in failed["a/lonely"]
    assert {i.key for i in rep.translated} == {"a/000", "a/002"}
    assert not (out / "rgb/b/c/001.png").exists() and not (out / "depth/b/c/001.png").exists()
    report = json.loads((out / "translate_report.json").read_text())
    assert report["counts"]["failed"] == 2 and report["failed"][0]["reason"]
    assert not [p for p in out.rglob("*") if "partial" in p.name]


def test_out_of_range_depth_is_counted(gen, tmp_path):
    src = tmp_path / "in"
    write_rgb(src / "rgb/far.png", _rgb(16, 16, 0))
    d = _depth(16, 16, 0)
    d[:, -3:] = gen.codec.far + 2.0  # 3 rows beyond the trained range
    write_depth(src / "depth/far.png", d)
    rep = translate_source(src, tmp_path / "out", gen)
    assert rep.out_of_range_images == 1 and rep.out_of_range_px == 3 * 16


def test_exception_out_equal_to_or_inside_in(gen, tmp_path):
    src = make_folder(tmp_path / "in", sizes=((16, 16),))
    with pytest.raises(VoloError, match="is the input folder"):
        translate_source(src, src, gen)
    with pytest.raises(VoloError, match="inside the input folder"):
        translate_source(src, src / "rgb" / "out", gen)
    link = tmp_path / "sneaky"
    os.symlink(src, link)
    with pytest.raises(VoloError, match="is the input folder"):
        translate_source(src, link, gen)
    with pytest.raises(VoloError, match="inside the input folder"):
        translate_source(src, link / "x", gen)
    assert _files(src) == ["depth/a/000.png", "rgb/a/000.png"]


def test_exception_bad_options(gen, tmp_path):
    src = make_folder(tmp_path / "in", sizes=((16, 16),))
    with pytest.raises(VoloError, match="batch_size 0: must be >= 1"):
        translate_source(src, tmp_path / "o", gen, batch_size=0)
    with pytest.raises(VoloError, match="rgb_format 'tif'"):
        translate_source(src, tmp_path / "o", gen, rgb_format="tif")
    with pytest.raises(VoloError, match="no such file"):
        translate_source(tmp_path / "missing", tmp_path / "o", gen)
    assert not (tmp_path / "o").exists()


def test_index_paths_outside_the_index_folder_go_under_external(gen, tmp_path):
    write_rgb(tmp_path / "elsewhere/c.png", _rgb(16, 16, 0))
    write_depth(tmp_path / "elsewhere/d.png", _depth(16, 16, 0))
    base = tmp_path / "in"
    base.mkdir()
    entries = [{"color_path": "../elsewhere/c.png", "depth_path": "../elsewhere/d.png"}]
    (base / "index.json").write_text(json.dumps(entries))
    out = tmp_path / "out"
    rep = translate_source(base / "index.json", out, gen)
    entry = json.loads((out / "index.json").read_text())[0]
    assert entry["color_path"].startswith("_external/") and (out / entry["color_path"]).is_file()
    assert (out / entry["depth_path"]).is_file() and len(rep.translated) == 1


def test_16bit_colour_png_stays_16bit(gen, tmp_path):
    src = tmp_path / "in"
    write_rgb(src / "rgb/deep.png", _rgb(16, 16, 0), bits=16)
    write_depth(src / "depth/deep.png", _depth(16, 16, 0))
    translate_source(src, tmp_path / "out", gen)
    assert load_rgb(tmp_path / "out/rgb/deep.png")[1] == "png16"


@pytest.mark.parametrize(("tolerance", "kept"), [(1e6, True), (0.0, False)])
def test_precision_auto_checks_the_fast_mode_on_the_first_batch(gen, tmp_path, monkeypatch, tolerance, kept):
    """--precision auto tries the device's fast mode (bf16 here, forced), measures its depth difference to exact
    fp32 on the first batch, and keeps it only within the tolerance; the check is in the report."""
    import volo_adapt.hardware as hw

    monkeypatch.setattr(hw, "fast_bf16", lambda device: True)
    src = make_folder(tmp_path / "in")
    rep = translate_source(src, tmp_path / "out", gen, batch_size=2, device="cpu", depth_tolerance_mm=tolerance)
    check = rep.depth_check
    assert check["tolerance_mm"] == tolerance and [t["mode"] for t in check["tried"]] == ["bf16"]
    tried = check["tried"][0]
    assert tried["within"] is kept and 0 <= tried["p999_mm"] <= tried["max_mm"] and 0 <= tried["flipped"] <= 1
    assert tolerance > 0 or tried["max_mm"] > 0  # bf16 really differs, so a zero tolerance must refuse it
    assert rep.precision == check["used"] == ("bf16" if kept else "32") and rep.precision_requested == "auto"
    saved = json.loads((tmp_path / "out" / "translate_report.json").read_text())
    assert saved["depth_check"]["used"] == rep.precision
    if not kept:  # every file is the exact translation
        rgb_in = load_rgb(src / "rgb" / "a" / "000.png")[0]
        _, depth_exp = _expected(gen, rgb_in, read_depth(src / "depth" / "a" / "000.png"))
        raw = read_depth_raw(tmp_path / "out" / "depth" / "a" / "000.png")
        assert np.abs(raw.astype(np.int64) - np.rint(depth_exp[0].numpy() * 1000).astype(np.int64)).max() <= 1


def test_precision_auto_without_a_fast_mode_is_exact_and_unchecked(gen, tmp_path, monkeypatch):
    import volo_adapt.hardware as hw

    monkeypatch.setattr(hw, "fast_bf16", lambda device: False)
    rep = translate_source(make_folder(tmp_path / "in"), tmp_path / "out", gen, device="cpu")
    assert rep.precision == "32" and rep.depth_check is None


def test_precision_auto_falls_through_to_the_next_mode(gen, tmp_path, monkeypatch):
    """A fast mode over the tolerance is skipped for the next one (on CUDA: bf16 -> TF32), not straight for the
    slow exact mode. On CPU ``tf32`` computes exact fp32, so it passes a zero tolerance that bf16 fails."""
    import volo_adapt.inference.runner as runner

    monkeypatch.setattr(runner, "auto_candidates", lambda device: ["bf16", "tf32"])
    rep = translate_source(make_folder(tmp_path / "in"), tmp_path / "out", gen, device="cpu", depth_tolerance_mm=0.0)
    tried = rep.depth_check["tried"]
    assert [(t["mode"], t["within"]) for t in tried] == [("bf16", False), ("tf32", True)]
    assert tried[1]["max_mm"] == 0.0 and rep.precision == rep.depth_check["used"] == "tf32"
