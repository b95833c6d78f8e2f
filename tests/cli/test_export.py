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
