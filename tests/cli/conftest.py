"""Shared pieces of the CLI tests: the tiny-checkpoint factory, a ``ckpt`` fixture, CLI runners, a wide console."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from cli.main import run

_spec = importlib.util.spec_from_file_location(
    "volo_inference_ckpt_factory", Path(__file__).parents[1] / "inference" / "ckpt_factory.py"
)
factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factory)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A tiny training checkpoint in the `volo train` format (random weights)."""
    return factory.make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.ckpt", factory.tiny_config())


def run_volo(argv: list[str], capsys) -> tuple[int | str | None, str, str]:
    """Run ``volo ARGV`` in-process; return ``(exit code, stdout, stderr)``."""
    with pytest.raises(SystemExit) as e:
        run(argv)
    out, err = capsys.readouterr()
    return e.value.code, out, err


def volo_output(argv: list[str], capsys) -> tuple[int, str]:
    """Run ``volo ARGV`` in-process; return ``(exit code, stdout + stderr)`` (exit code 0 when None)."""
    code, out, err = run_volo(argv, capsys)
    return int(code or 0), out + err


@pytest.fixture
def wide_console(monkeypatch):
    """Rich folds table cells at 80 columns otherwise; tests that read table rows use a wide console."""
    monkeypatch.setenv("COLUMNS", "250")
