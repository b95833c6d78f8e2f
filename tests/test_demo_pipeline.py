"""Tests for volo_adapt/demo_pipeline.py: the end-to-end demo (smoke preset, tiny data in a private cache)."""

from __future__ import annotations

import json
import math

import pytest

from volo_adapt.demo_pipeline import comparison_rows, run_demo


@pytest.mark.slow
def test_demo_trains_translates_and_evaluates_trained_and_untrained(tmp_path, monkeypatch):
    monkeypatch.setenv("VOLO_CACHE", str(tmp_path / "cache"))
    said: list[str] = []
    res = run_demo(tmp_path / "out", config="smoke", max_eval_samples=4, log=said.append)
    assert res.checkpoint.is_file()
    # train's start-up notes are shown
    assert any(m.startswith("    note: no data given: training on the built-in demo set") for m in said)
    translated = sorted((res.translated_dir / "depth").glob("*.png"))
    assert len(translated) == 64  # the demo test split, all translated
    trained = json.loads((tmp_path / "out" / "eval_trained.json").read_text())
    untrained = json.loads((tmp_path / "out" / "eval_untrained.json").read_text())
    assert trained != untrained
    rows = {r.key: r for r in comparison_rows(res)}
    assert "c2st_rgbd_acc/acc" in rows and "paired_depth_mae_mm/valid_iou" in rows
    # the identity baseline of geometry-vs-source is exactly 0 error (the source compared with itself), and the
    # sensor's own geometry error (true target renderings vs their sources) is not
    geo = rows["geometry_vs_source_median5/mae_mm"]
    assert geo.identity == 0 and geo.sensor is not None and geo.sensor > 0
    assert geo.met is not None and rows["c2st_rgb_acc/acc"].met is None  # no target on that row
    # the trained and untrained generators are different networks: at least one metric differs
    assert any(not (math.isclose(r.trained, r.untrained) or (math.isnan(r.trained) and math.isnan(r.untrained)))
               for r in rows.values() if r.untrained is not None)
    assert (res.run_dir / "metrics.jsonl").is_file()
    # baselines depend only on the data: computed once, in the trained report
    assert res.reports["trained"].flat("identity") and res.reports["trained"].flat("floor")
    assert not res.reports["untrained"].flat("identity") and not res.reports["untrained"].flat("floor")
    html = tmp_path / "out" / "plots" / "eval_report.html"
    assert html in res.files and "<table" in html.read_text()  # the demo writes the report volo eval writes
