"""``probe_sensor_redraw.py`` at toy size: the sensor drawn again, evaluated as a translation, resumable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import probe_sensor_redraw  # noqa: E402


def _table(path: Path) -> Path:
    """A zoo table with one sensor, no trained row, and an identity C2ST the probe will not reproduce."""
    doc = {"sensors": {"tof": {"data": {"sensor": "tof", "size": 24, "n_train": 2, "n_test": 4, "seed": 0},
                               "max_samples": 4, "variants": {},
                               "references": {"identity": {"c2st_rgbd_acc/acc": 2.0}}}}}
    path.write_text(json.dumps(doc))
    return path


def test_redraw_probe_end_to_end_and_resumes(tmp_path):
    table, out = _table(tmp_path / "quality.json"), tmp_path / "probe"
    argv = ["--table", str(table), "--draws", "1", "2", "--out", str(out)]
    probe_sensor_redraw.main(argv)
    doc = json.loads((out / "redraw.json").read_text())["tof"]
    stats = doc["variants"]["redraw"]["stats"]
    assert doc["variants"]["redraw"]["draws"] == [1, 2] and stats["paired_depth_mae_mm/mae_mm"]["n"] == 2
    # another draw of a noisy sensor is not the truth's draw, and the probe's identity is its own evaluation
    assert stats["paired_depth_mae_mm/mae_mm"]["mean"] > 0
    assert doc["references"]["identity"]["c2st_rgbd_acc/acc"] <= 1.0 and doc["identity_check"] > 0.4
    md = (out / "redraw.md").read_text()
    assert "| tof |" in md and " / n/a (of 11) |" in md  # no preset row in this table
    for draw in (1, 2):
        assert (out / "redraw" / "tof" / f"draw{draw}" / "paired" / "depth" / "000003.png").is_file()
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("evals/tof/*.json")}
    probe_sensor_redraw.main(argv)
    assert {p: p.stat().st_mtime_ns for p in out.glob("evals/tof/*.json")} == stamps


def test_a_missing_or_corrupt_table_is_one_line(tmp_path):
    import pytest

    with pytest.raises(SystemExit, match=r"--table .*nope\.json: no such file"):
        probe_sensor_redraw.main(["--table", str(tmp_path / "nope.json"), "--out", str(tmp_path / "o")])
    bad = tmp_path / "bad.json"
    for text in ("{bad", '{"sensors": {"tof": {}}}'):
        bad.write_text(text)
        with pytest.raises(SystemExit, match=r"--table .*bad\.json: not a bench_quality.py --zoo quality.json"):
            probe_sensor_redraw.main(["--table", str(bad), "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()  # nothing written before the table is read
