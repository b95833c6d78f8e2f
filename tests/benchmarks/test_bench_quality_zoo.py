"""``bench_quality.py --zoo`` end to end at toy size: tables, resumability, one data set per sensor."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_quality  # noqa: E402
import zoo_quality  # noqa: E402

SENSORS = ["tof", "zone_tof"]
TINY_NETS = "model.gen_base=4;model.critic_base=4;data.num_workers=0;train.val_batches=1"


def _argv(out: Path) -> list[str]:
    return ["--zoo", "--sensors", ",".join(SENSORS), "--zoo-size", "32", "--zoo-train", "4", "--zoo-test", "2",
            "--steps", "2", "--seeds", "0", "--max-samples", "2", "--parallel", "2", "--threads", "1",
            "--out", str(out), "--preset-overrides", f"{TINY_NETS};model.sensor.features=4",
            "--cyclegan-overrides", TINY_NETS]


def _snapshot(out: Path) -> dict[str, float]:
    files = [*out.glob("runs/*/*/eval.json"), *out.glob("runs/*/*/bench.log"), *out.glob(f"data/*/{zoo_quality.STAMP}")]
    return {str(f): f.stat().st_mtime_ns for f in files}


def test_zoo_benchmark_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "zoo"
    bench_quality.main(_argv(out))
    doc = json.loads((out / "quality.json").read_text())
    assert list(doc["sensors"]) == SENSORS
    rows = [(r["sensor"], r["row"]) for r in doc["summary"]]
    assert rows == [(s, r) for s in SENSORS for r in ("preset", "cyclegan", "identity", "floor")]
    for r in doc["summary"]:
        assert set(r) >= {"met", "missed", "undecided"}
    for sensor, summary in doc["sensors"].items():
        assert list(summary["variants"]) == ["preset", "cyclegan"]
        assert summary["variants"]["preset"]["batches_per_seed"] == {"0": 2}
        assert summary["data"] == {"sensor": sensor, "size": 32, "n_train": 4, "n_test": 2, "seed": 0}
        assert (out / "data" / sensor / "paired" / "B").is_dir()
    md = (out / "quality.md").read_text()
    assert "## Summary" in md and all(f"## {s}\n" in md for s in SENSORS)
    assert md.count("| metric | preset | cyclegan | identity | floor |") == len(SENSORS)

    # the sensors differ: other target images, other identity references
    refs = [doc["sensors"][s]["references"]["identity"] for s in SENSORS]
    assert refs[0] != refs[1]
    b_images = [(out / "data" / s / "B" / "test" / "depth" / "000000.png").read_bytes() for s in SENSORS]
    assert b_images[0] != b_images[1]

    # a rerun trains, evaluates and generates nothing, and writes the same tables
    before = _snapshot(out)
    assert len(before) == 2 * 2 * 2 + 2
    bench_quality.main(_argv(out))
    assert _snapshot(out) == before
    assert (out / "quality.md").read_text() == md


def test_sensor_names_and_row_presets():
    assert zoo_quality.sensor_names(None)[0] == "builtin_lidar"
    assert zoo_quality.sensor_names(" tof, zone_tof ") == ["tof", "zone_tof"]
    with pytest.raises(SystemExit, match="--sensors: unknown sensor"):
        zoo_quality.sensor_names("tof,nope")
    with pytest.raises(SystemExit, match="--zoo trains the rows preset and cyclegan"):
        bench_quality.main(["--zoo", "--variant", "x=demo", "--out", "unused"])
    args = bench_quality.argparse.Namespace(zoo_size=64, preset="demo", preset_overrides="a=1", cyclegan_overrides="",
                                            rows="preset,cyclegan")
    rows = zoo_quality.row_presets(args)
    assert rows["preset"] == ("demo", ["data.image_size=64", "a=1"])
    assert rows["cyclegan"][0] == "cyclegan" and "data.image_size=64" in rows["cyclegan"][1]
    args.rows = "preset"  # --rows preset: exploring designs without the CycleGAN runs
    assert list(zoo_quality.row_presets(args)) == ["preset"]
    args.rows = "preset,nope"
    with pytest.raises(SystemExit, match="--rows preset,nope: unknown row"):
        zoo_quality.row_presets(args)


def test_cyclegan_row_is_a_valid_config_at_64_px():
    from volo_adapt.config import load_config

    args = bench_quality.argparse.Namespace(zoo_size=64, preset="demo", preset_overrides="", cyclegan_overrides="",
                                            rows="cyclegan")
    preset, sets = zoo_quality.row_presets(args)["cyclegan"]
    cfg = load_config(preset, sets)
    assert cfg.data.image_size == 64 and cfg.model.generator == "resnet9"
