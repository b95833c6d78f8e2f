"""Issue 21's rule: the model and its losses learn a sensor from its data; they never import the synthetic
benchmark's sensor models (volo_adapt.synth: the zoo, sensor A/B), so nothing a built-in sensor does can be
replicated by importing it. Checked on the import statements of every module (parsed, not grepped)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "volo_adapt"
MODEL_SIDE = sorted([*(ROOT / "models").rglob("*.py"), ROOT / "losses.py", ROOT / "training" / "objective.py"])
FORBIDDEN = ("volo_adapt.synth",)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize("path", MODEL_SIDE, ids=lambda p: str(p.relative_to(ROOT)))
def test_model_side_never_imports_the_synthetic_sensors(path):
    bad = [n for n in _imports(path) if n.startswith(FORBIDDEN)]
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_rule_sees_a_forbidden_import(tmp_path):
    """The check can fail: an import of the zoo in a model file is caught."""
    p = tmp_path / "m.py"
    p.write_text("from volo_adapt.synth.sensor_b import lidar_depth\nimport volo_adapt.synth.zoo\n"
                 "from volo_adapt import synth\n")
    assert [n for n in _imports(p) if n.startswith(FORBIDDEN)] == [
        "volo_adapt.synth.sensor_b", "volo_adapt.synth.sensor_b.lidar_depth", "volo_adapt.synth.zoo",
        "volo_adapt.synth"]
