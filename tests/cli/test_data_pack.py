"""`volo data pack` (cli/data.py): summary, every bad sample named, exit codes; `volo data check` reads the pack."""

from __future__ import annotations

import pytest

from tests.cli.conftest import volo_output as _run

pytest.importorskip("litdata")

pytestmark = pytest.mark.usefixtures("wide_console")


def test_pack_lists_bad_samples_then_check_reads_the_pack(tmp_path, capsys, make_mixed_rgbd_folder):
    expected = make_mixed_rgbd_folder(tmp_path / "mixed", n_good=3)
    out_dir = tmp_path / "packed"
    code, out = _run(["data", "pack", str(tmp_path / "mixed"), str(tmp_path / "mixed_arrays"), str(out_dir),
                      "--shard-size", "4KB", "--part-size", "2"], capsys)
    assert code == 2 and "Traceback" not in out
    assert "packed 4 samples into" in out and "6 bad sample(s) skipped:" in out
    for key, fragment in expected.items():
        assert [ln for ln in out.splitlines() if key in ln and fragment in ln], f"{key} not listed in:\n{out}"
    code, out = _run(["data", "check", str(out_dir)], capsys)
    assert code == 0 and "packed" in out and "all 4 samples readable" in out
    code, out = _run(["data", "pack", str(tmp_path / "mixed"), str(tmp_path / "mixed_arrays"), str(out_dir)], capsys)
    assert code == 2 and "already packed (4 samples)" in out


def test_pack_usage_errors_are_one_line(tmp_path, capsys, make_rgbd_folder):
    make_rgbd_folder(tmp_path / "src", keys=("a",), size=(16, 16))
    code, out = _run(["data", "pack", str(tmp_path / "src")], capsys)
    assert code == 2 and "OUT" in out
    code, out = _run(["data", "pack", str(tmp_path / "src"), str(tmp_path / "src")], capsys)
    assert code == 2 and "error:" in out and "also a source" in out and "Traceback" not in out
