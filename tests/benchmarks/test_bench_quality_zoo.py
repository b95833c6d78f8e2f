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
    assert "Rows: `preset` = `demo` with `model.gen_base=4; model.critic_base=4;" in md  # the overrides are named
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

    # --summarise-only: the same tables, nothing generated; --reevaluate: the reports again, no training
    bench_quality.main([*_argv(out), "--summarise-only"])
    assert _snapshot(out) == before and (out / "quality.md").read_text() == md
    ckpts = {str(p): p.stat().st_mtime_ns for p in out.glob("runs/*/*/checkpoints/last.ckpt")}
    bench_quality.main([*_argv(out), "--reevaluate"])
    assert {str(p): p.stat().st_mtime_ns for p in out.glob("runs/*/*/checkpoints/last.ckpt")} == ckpts
    evals = [f for f in _snapshot(out) if f.endswith("eval.json")]
    assert all(_snapshot(out)[f] != before[f] for f in evals)
    assert (out / "quality.md").read_text() == md  # the same checkpoints and seeds: the same figures


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


def _summary(preset: dict[str, float], cyclegan: dict[str, float] | None, identity: dict[str, float]) -> dict:
    variants = {"preset": {"stats": {k: {"mean": v} for k, v in preset.items()}, "batches_per_seed": {"0": 1, "1": 1}}}
    if cyclegan is not None:
        variants["cyclegan"] = {"stats": {k: {"mean": v} for k, v in cyclegan.items()}, "batches_per_seed": {"0": 1}}
    return {"variants": variants, "references": {"identity": identity, "floor": {}, "sensor": {}}}


def test_issue_21_targets_depth_statistics_cyclegan_and_the_c2st_bar():
    stats = zoo_quality.DEPTH_STATISTICS
    identity = {"c2st_rgbd_acc/acc": 0.9, "c2st_depth_acc/acc": 0.9, "paired_depth_mae_mm/mae_mm": 100.0,
                **{k: 1.0 for k in stats}}
    preset = {"c2st_rgbd_acc/acc": 0.65, "c2st_depth_acc/acc": 0.95, "paired_depth_mae_mm/mae_mm": 140.0,
              **{k: 0.5 for k in stats[:4]}, stats[4]: 2.0}
    verdict = zoo_quality.judge(_summary(preset, None, identity), "preset")
    assert "c2st_rgbd_acc/acc" in verdict["met"] and "c2st_depth_acc/acc" in verdict["missed"]
    assert "paired_depth_mae_mm/mae_mm" in verdict["met"]  # 140 <= 1.5 x 100 (the headline's own rule: +10 %)
    assert "depth statistics 4 of 5 (4 closer)" in verdict["met"] and not set(stats) & set(sum(verdict.values(), []))
    preset[stats[0]] = 3.0
    missed = zoo_quality.judge(_summary(preset, None, identity), "preset")["missed"]
    assert "depth statistics 4 of 5 (3 closer)" in missed

    cyclegan = {"c2st_rgbd_acc/acc": 1.0, "c2st_depth_acc/acc": 0.9, "paired_depth_mae_mm/mae_mm": 200.0}
    summary = _summary(preset, cyclegan, identity)
    assert zoo_quality.worse_than_cyclegan(summary) == ["c2st_depth_acc/acc"]  # 0.95 is not better than 0.9
    assert zoo_quality.worse_than_cyclegan(_summary(preset, None, identity)) == []
    assert (zoo_quality.seeds_of(summary, "preset"), zoo_quality.seeds_of(summary, "identity")) == (2, 0)

    other = _summary({**preset, "c2st_depth_acc/acc": 0.6}, None, identity)
    rows = zoo_quality.summary_rows({"a": summary, "b": other})
    assert [(r["sensor"], r["row"]) for r in rows][:3] == [("a", "preset"), ("a", "cyclegan"), ("a", "identity")]
    assert zoo_quality.c2st_bar_count(rows) == {"met": 1, "of": 2}  # a: depth 0.95 > 0.70; b: both <= 0.70


def test_a_batch_budget_cut_short_by_max_epochs_is_reported(tmp_path: Path) -> None:
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({"batches": 1350}))
    assert "stopped at 1350 of 1800 batches" in bench_quality.short_of_steps(report, 1800)
    assert bench_quality.short_of_steps(report, 1350) == "" and bench_quality.short_of_steps(report, None) == ""
