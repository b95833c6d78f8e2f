"""Tests for cli/translate.py: `volo translate` wraps translate_source; exit codes and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch

from tests.cli.conftest import run_volo as _volo
from volo_adapt.data.formats import write_depth, write_rgb


@pytest.fixture
def src(tmp_path):
    root = tmp_path / "in"
    for i in range(3):
        write_rgb(root / f"rgb/{i}.jpg", torch.rand(3, 20, 28))
        write_depth(root / f"depth/{i}.png", 0.5 + torch.rand(1, 20, 28))
    return root




def test_smoke_translate_writes_outputs_summary_and_exit_0(ckpt, src, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = _volo(["translate", str(src), str(out), "--ckpt", str(ckpt), "--batch-size", "2",
                                  "--device", "cpu", "--direction", "b2a"], capsys)
    assert code in (0, None), stderr
    assert sorted(p.name for p in (out / "rgb").iterdir()) == ["0.png", "1.png", "2.png"]
    assert "translated" in stdout and "img/s" in stdout
    report = json.loads((out / "translate_report.json").read_text())
    assert report["direction"] == "b2a" and report["counts"]["translated"] == 3
    code, stdout, _ = _volo(["translate", str(src), str(out), "--ckpt", str(ckpt), "--skip-existing"], capsys)
    assert code in (0, None)
    assert json.loads((out / "translate_report.json").read_text())["counts"]["skipped"] == 3


def test_options_reach_the_library(ckpt, src, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, stderr = _volo(["translate", str(src), str(out), "--ckpt", str(ckpt), "--rgb-format", "same",
                             "--precision", "bf16", "--depth-scale", "5000", "--no-ema"], capsys)
    assert code in (0, None), stderr
    report = json.loads((out / "translate_report.json").read_text())
    assert (report["precision"], report["depth_scale"], report["weights"]) == ("bf16", 5000.0, "raw")
    assert (out / "rgb/0.jpg").is_file()


def test_corrupt_input_exits_2_with_summary_and_translates_the_rest(ckpt, src, tmp_path, capsys):
    (src / "rgb/1.jpg").write_bytes(b"\xff\xd8\xffgarbage")
    out = tmp_path / "out"
    code, stdout, stderr = _volo(["translate", str(src), str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 2
    assert "1 sample(s) failed" in stderr and "1.jpg" in stderr
    assert (out / "rgb/0.png").is_file() and (out / "rgb/2.png").is_file() and not (out / "rgb/1.png").exists()


@pytest.mark.parametrize("where", ["same", "inside"])
def test_exception_out_equal_to_or_inside_in(ckpt, src, capsys, where):
    out = src if where == "same" else src / "depth" / "x"
    code, _, stderr = _volo(["translate", str(src), str(out), "--ckpt", str(ckpt)], capsys)
    assert code == 2 and "error:" in stderr and "input folder" in stderr
    assert not (src / "translate_report.json").exists() and not (src / "depth" / "x").exists()


def test_exception_missing_ckpt(src, tmp_path, capsys):
    code, _, stderr = _volo(["translate", str(src), str(tmp_path / "o"), "--ckpt", str(tmp_path / "no.ckpt")], capsys)
    assert code == 2 and "no such checkpoint file" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_exception_bad_direction(ckpt, src, tmp_path, capsys):
    code, _, stderr = _volo(["translate", str(src), str(tmp_path / "o"), "--ckpt", str(ckpt), "--direction", "x"],
                            capsys)
    assert code == 2 and "direction" in stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depth-scale", "0"], "--depth-scale 0.0: must be > 0 units per metre"),
        (["--precision", "64"], "--precision '64': must be one of"),
        (["--device", "nonsense"], "--device 'nonsense': not a device name"),
    ],
)
def test_library_option_errors_name_the_flag(ckpt, src, tmp_path, capsys, args, message):
    code, _, stderr = _volo(["translate", str(src), str(tmp_path / "o"), "--ckpt", str(ckpt), *args], capsys)
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert not (tmp_path / "o").exists()
