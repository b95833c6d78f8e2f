"""Tests for `volo data check` (cli/data.py): table, every bad sample named, exit codes, never a traceback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.cli.conftest import volo_output as _run
from volo_adapt.data.formats import write_depth, write_rgb, write_rgbd_array

pytestmark = pytest.mark.usefixtures("wide_console")


def test_mixed_good_and_bad_samples(tmp_path, capsys, make_mixed_rgbd_folder):
    expected = make_mixed_rgbd_folder(tmp_path / "mixed", n_good=3)
    code, out = _run(["data", "check", str(tmp_path / "mixed"), str(tmp_path / "mixed_arrays")], capsys)
    assert code == 2
    assert "Traceback" not in out
    assert "6 bad sample(s):" in out
    for key, fragment in expected.items():
        lines = [ln for ln in out.splitlines() if key in ln and fragment in ln]
        assert lines, f"bad sample {key!r} ({fragment!r}) not listed in:\n{out}"
    assert "8" in out and "5 bad" in out and "1 bad" in out  # 3 good + 5 bad; 1 good + 1 bad arrays
    assert "16x12 (3)" in out and "png8 / png16" in out  # the good ones are counted and described


def test_all_kinds_of_good_sources(tmp_path, capsys, make_rgbd_folder):
    # non-square, phone-sized depth beside larger RGB, TUM scale 5000 PNG depth
    tum = make_rgbd_folder(tmp_path / "tum", keys=("a", "b"), size=(40, 64), depth_size=(10, 16), depth_scale=5000.0)
    # EXR and .npy depth in metres
    exr = tmp_path / "exr"
    write_rgb(exr / "rgb" / "s" / "x.jpg", torch.rand(3, 12, 20))
    write_depth(exr / "depth" / "s" / "x.exr", torch.full((1, 12, 20), 2.5))
    write_rgb(exr / "rgb" / "y.png", torch.rand(3, 12, 20))
    write_depth(exr / "depth" / "y.npy", torch.full((1, 12, 20), 0.75))
    # arrays
    write_rgbd_array(tmp_path / "arr" / "k.npz", torch.rand(3, 8, 8), torch.ones(1, 8, 8))
    # json#key and csv indexes over the EXR files
    (exr / "training_paths.json").write_text(
        json.dumps({"real_data": [{"color_path": "rgb/s/x.jpg", "depth_path": "depth/s/x.exr"}], "synthetic_data": []})
    )
    (exr / "pairs.csv").write_text("color_path,depth_path\nrgb/y.png,depth/y.npy\n")
    specs = [str(tmp_path / "arr"), str(exr / "training_paths.json") + "#real_data", str(exr / "pairs.csv")]
    code, out = _run(["data", "check", str(exr), *specs], capsys)
    assert code == 0, out
    assert "all 5 samples readable" in out
    for kind in ("folder", "arrays", "index-json", "index-csv"):
        assert kind in out
    assert "0.750-2.500" in out  # depth range of the exr folder in metres
    assert "20x12" in out and "8x8" in out

    code, out = _run(["data", "check", str(tmp_path / "tum"), "--depth-scale", "5000"], capsys)
    assert code == 0, out
    depths = torch.cat([d[d > 0] for _, d in tum.values()])
    assert f"{float(depths.min()):.3f}-{float(depths.max()):.3f}" in out
    assert "64x40 / 16x10 (2)" in out  # RGB and depth sizes as stored


def test_bad_spec_is_one_line_error(tmp_path, capsys):
    code, out = _run(["data", "check", str(tmp_path / "nope")], capsys)
    assert code == 2 and "Traceback" not in out
    assert f"error: {tmp_path / 'nope'}: no such file or folder" in out
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.txt").write_text("x")
    code, out = _run(["data", "check", str(tmp_path / "junk")], capsys)
    assert code == 2 and "unknown layout" in out and "Traceback" not in out


def test_pixel_limit_option(tmp_path, capsys, make_rgbd_folder):
    make_rgbd_folder(tmp_path / "a", keys=("x",), size=(10, 10))
    code, out = _run(["data", "check", str(tmp_path / "a"), "--pixel-limit", "99"], capsys)
    assert code == 2 and "too many pixels (10x10 = 100 > pixel limit 99)" in out
    np.save(tmp_path / "unused.npy", np.zeros(1))  # a stray file next to the source does not matter
    code, out = _run(["data", "check", str(tmp_path / "a"), "--pixel-limit", "100"], capsys)
    assert code == 0 and "all 1 samples readable" in out
