"""The README's "Python API" examples run: its ```python blocks, in order, in one namespace, against a tiny checkpoint
placed where the examples look for it (``runs/v1/checkpoints/last.ckpt`` under a temporary working folder)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = "## Python API"


def python_blocks(text: str, heading: str = SECTION) -> list[str]:
    """The ```python blocks between ``heading`` and the next ``## `` heading."""
    assert heading in text, f"README.md has no section {heading!r}"
    section = text.split(heading, 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.MULTILINE)[0]
    return re.findall(r"^```python\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)


def _make_checkpoint(path: Path) -> Path:
    spec = importlib.util.spec_from_file_location("volo_readme_ckpt_factory",
                                                  Path(__file__).parent / "inference" / "ckpt_factory.py")
    factory = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(factory)
    path.parent.mkdir(parents=True)
    return factory.make_checkpoint(path, factory.tiny_config())


def test_the_section_has_examples():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3 and "Translator.from_checkpoint" in blocks[0]


def test_python_api_examples_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _make_checkpoint(tmp_path / "runs" / "v1" / "checkpoints" / "last.ckpt")
    namespace: dict = {"__name__": "readme_python_api"}
    for i, block in enumerate(python_blocks(README.read_text(encoding="utf-8"))):
        try:
            exec(compile(block, f"README.md Python API block {i + 1}", "exec"), namespace)
        except Exception as e:  # noqa: BLE001 - name the block that failed
            pytest.fail(f"README Python API block {i + 1} failed: {type(e).__name__}: {e}\n{block}")
    assert namespace["rgb_out"].shape == (48, 64, 3) and namespace["depth_b"].shape == (2, 48, 64)
