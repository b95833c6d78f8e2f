"""benchmarks/zoo_merge.py: replacing some trained rows of a zoo quality table by a re-run's."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import zoo_merge  # noqa: E402

BASE = ROOT / "benchmarks" / "results" / "quality-zoo"
KEY = "c2st_rgbd_acc/acc"


def _rerun(tmp_path: Path, sensor: str, value: float, **data) -> Path:
    """A copy of the committed table whose ``sensor``'s preset row has C2ST RGB-D mean ``value``."""
    doc = json.loads((BASE / "quality.json").read_text())
    doc["sensors"][sensor]["variants"]["preset"]["stats"][KEY]["mean"] = value
    doc["sensors"][sensor]["data"].update(data)
    folder = tmp_path / "rerun"
    folder.mkdir()
    (folder / "quality.json").write_text(json.dumps(doc))
    return folder


def _preset(doc: dict, sensor: str) -> dict:
    return next(r for r in doc["summary"] if r["sensor"] == sensor and r["row"] == "preset")


def test_takes_only_the_named_row_and_rejudges_it(tmp_path: Path) -> None:
    base = json.loads((BASE / "quality.json").read_text())
    rerun = _rerun(tmp_path, "phone_lidar", 0.5)
    zoo_merge.main([str(BASE), "--take", f"{rerun}:phone_lidar/preset", "--out", str(tmp_path / "out")])
    merged = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert _preset(merged, "phone_lidar")[KEY] == 0.5 and KEY in _preset(merged, "phone_lidar")["met"]
    for sensor in ("tof", "zone_tof", "builtin_lidar"):
        assert _preset(merged, sensor) == _preset(base, sensor)
    assert merged["sensors"]["phone_lidar"]["variants"]["cyclegan"] == base["sensors"]["phone_lidar"]["variants"][
        "cyclegan"]
    assert merged["zoo"]["merged"][0]["sensor"] == "phone_lidar"
    table = (tmp_path / "out" / "quality.md").read_text()
    assert "| phone_lidar | preset | 0.500 |" in table and "`phone_lidar/preset` from a re-run" in table


def test_refuses_other_data_and_bad_specs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rerun = _rerun(tmp_path, "phone_lidar", 0.5, n_train=100)
    with pytest.raises(SystemExit, match="data set .* differs"):
        zoo_merge.main([str(BASE), "--take", f"{rerun}:phone_lidar/preset", "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="expected DIR:SENSOR/ROW"):
        zoo_merge.main([str(BASE), "--take", "phone_lidar", "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="no such file"):
        zoo_merge.main([str(tmp_path / "none"), "--take", f"{rerun}:phone_lidar/preset", "--out", str(tmp_path)])
    assert not (tmp_path / "o").exists()


def test_a_batch_budgeted_rerun_enters_a_wall_clock_table_only_when_asked(tmp_path: Path) -> None:
    rerun = _rerun(tmp_path, "phone_lidar", 0.5)
    doc = json.loads((rerun / "quality.json").read_text())
    doc["zoo"].update(budget="7m", steps=1800)
    (rerun / "quality.json").write_text(json.dumps(doc))
    take = ["--take", f"{rerun}:phone_lidar/preset"]
    with pytest.raises(SystemExit, match="steps 1800 differs .*--allow-batch-budget"):
        zoo_merge.main([str(BASE), *take, "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()
    zoo_merge.main([str(BASE), *take, "--allow-batch-budget", "--out", str(tmp_path / "o")])
    merged = json.loads((tmp_path / "o" / "quality.json").read_text())
    assert merged["zoo"]["steps"] is None and merged["zoo"]["merged"][-1]["steps"] == 1800
    assert _preset(merged, "phone_lidar")[KEY] == 0.5
    assert "trained to 1800 batches, not for the wall-clock budget" in (tmp_path / "o" / "quality.md").read_text()
