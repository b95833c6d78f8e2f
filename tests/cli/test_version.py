"""`volo --version` (cli/main.py): the package version, exit 0, before any command."""

from __future__ import annotations

import volo_adapt
from tests.cli.conftest import run_volo


def test_version_prints_the_package_version(capsys):
    code, out, err = run_volo(["--version"], capsys)
    assert code in (0, None) and out.strip() == f"volo-adapt {volo_adapt.__version__}" and not err
