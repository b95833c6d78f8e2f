"""pyproject.toml lists its packages by hand (configs/ is mapped to volo_adapt.presets, which a find cannot do):
every package folder of the tree must be in that list, or the wheel silently lacks it (`make wheel-check` also
catches it, later and slower)."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in ("volo_adapt", "cli")
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), f"add to [tool.setuptools] packages in pyproject.toml: {sorted(found - listed)}"
    assert "volo_adapt.presets" in listed  # configs/, mapped by package-dir
