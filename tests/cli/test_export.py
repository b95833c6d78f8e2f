"""Tests for cli/export.py: `volo export` writes a standalone generator file."""

from __future__ import annotations

import pytest
import torch

from tests.cli.conftest import run_volo as _volo
from volo_adapt.inference import load_generator, translate_tensors


@pytest.mark.parametrize("fmt", ["pt", "torchscript"])
def test_smoke_export_matches_checkpoint(ckpt, tmp_path, capsys, fmt):
    out = tmp_path / f"g.{fmt}"
    code, stdout, stderr = _volo(["export", str(out), "--ckpt", str(ckpt), "--direction", "b2a", "--format", fmt],
                                 capsys)
    assert code in (0, None), stderr
    assert "multiples of 8" in stdout
    ref = load_generator(ckpt, "b2a")
    x = torch.rand(1, 4, 16, 16)
    model = load_generator(out, "b2a").module if fmt == "pt" else torch.jit.load(str(out))
    with torch.no_grad():
        assert (model(x) - translate_tensors(ref, x)).abs().max() < 1e-4


def test_exception_missing_ckpt_and_bad_format(ckpt, tmp_path, capsys):
    code, _, stderr = _volo(["export", str(tmp_path / "g.pt"), "--ckpt", str(tmp_path / "none.ckpt")], capsys)
    assert code == 2 and "no such checkpoint file" in stderr
    code, _, stderr = _volo(["export", str(tmp_path / "g.x"), "--ckpt", str(ckpt), "--format", "tflite"], capsys)
    assert code == 2 and "format" in stderr
    assert not list(tmp_path.iterdir())


def test_hub_export_with_eval_json_loads_back(ckpt, tmp_path, capsys):
    pytest.importorskip("safetensors", reason="the optional 'hub' extra is not installed")
    from volo_adapt.inference.hub import load_hub_generator

    report = tmp_path / "report.json"
    report.write_text('{"volo_eval_format": 1, "checkpoint": "last.ckpt", "global_step": 7, "counts": {"source": 3,'
                      ' "target": 4}, "eval_size": [32, 32], "results": {"c2st_rgbd_acc": {"model": {"acc": 0.6},'
                      ' "identity": {"acc": 0.9}}}, "skipped": {}}')
    out = tmp_path / "tiny-a2b"
    argv = ["export", "--ckpt", str(ckpt), "--format", "hub", str(out), "--eval-json", str(report)]
    code, stdout, stderr = _volo(argv, capsys)
    assert code in (0, None), stderr
    assert "as hub:" in stdout and "multiples of 8" in stdout and "huggingface-cli upload YOUR_ORG/tiny-a2b" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert "| C2ST RGB-D accuracy (0.5 = indistinguishable) | lower | 0.6 | 0.9 |" in (out / "README.md").read_text()
    x = torch.rand(1, 4, 16, 16)
    assert torch.equal(translate_tensors(load_hub_generator(out), x), translate_tensors(load_generator(ckpt), x))
    code, _, stderr = _volo(argv, capsys)  # the folder is not empty now
    assert code == 2 and "--force: needed to write into" in stderr and "not empty" in stderr
    code, _, stderr = _volo(argv + ["--force", "--direction", "b2a"], capsys)
    assert code in (0, None), stderr
    assert load_hub_generator(out).direction == "b2a"


def test_hub_only_options_and_eval_json_errors(ckpt, tmp_path, capsys):
    code, _, stderr = _volo(["export", str(tmp_path / "g.pt"), "--ckpt", str(ckpt), "--eval-json", "r.json"], capsys)
    assert code == 2 and "--eval-json: only with --format hub" in stderr
    code, _, stderr = _volo(["export", str(tmp_path / "g.pt"), "--ckpt", str(ckpt), "--force"], capsys)
    assert code == 2 and "--force: only with --format hub" in stderr
    (tmp_path / "r.json").write_text('{"acc": 1}')
    code, _, stderr = _volo(["export", str(tmp_path / "m"), "--ckpt", str(ckpt), "--format", "hub", "--eval-json",
                             str(tmp_path / "r.json")], capsys)
    assert code == 2 and "--eval-json" in stderr and "not a volo eval report" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_hub_without_the_extra_names_it(ckpt, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    code, _, stderr = _volo(["export", str(tmp_path / "m"), "--ckpt", str(ckpt), "--format", "hub"], capsys)
    # (the CLI's error line renders rich markup, which swallows "[hub]" of "volo-adapt[hub]"; the line still names
    # the extra, and tests/inference/test_hub.py checks the library's full message)
    assert code == 2 and "--format hub needs the optional 'hub' extra (safetensors is not installed)" in stderr
    assert not list(tmp_path.iterdir())
