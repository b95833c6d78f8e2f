"""Tests for volo_adapt/metrics/report.py and plots.py: JSON with null for NaN, JSON lines, run folder, PNGs."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from rich.console import Console
from volo_metrics_scenes import CODEC, network, scenes

from volo_adapt.metrics.evaluate import evaluate_tensors
from volo_adapt.metrics.plots import pca_projection, write_plots
from volo_adapt.metrics.report import append_jsonl, render_table, report_to_dict, run_dir_for, write_json


@pytest.fixture(scope="module")
def evaluated_once():
    """The report of one small evaluation, computed once per module; tests use :func:`report`, never this."""
    src = network(*scenes(6, 32, seed=0, wall=False))
    tgt = network(*scenes(6, 32, seed=1, noise=0.01, wall=False))
    return evaluate_tensors(lambda x: x, src, tgt, CODEC, metrics="depth_tail_fraction,depth_noise_vs_range",
                            info={"checkpoint": "run/checkpoints/x.ckpt", "global_step": 7})


@pytest.fixture
def report(evaluated_once):
    """A fresh deep copy per test: a test that changes a value (a NaN) cannot leak it into the next test."""
    return copy.deepcopy(evaluated_once)


def test_json_report_has_provenance_results_details_and_null_for_nan(report, tmp_path):
    report.results["depth_tail_fraction"]["model"].values["value"] = math.nan
    path = write_json(report, tmp_path / "sub" / "r.json")
    d = json.loads(path.read_text())
    assert d["checkpoint"] == "run/checkpoints/x.ckpt" and d["global_step"] == 7 and "timestamp" in d
    assert d["results"]["depth_tail_fraction"]["model"]["value"] is None
    assert "model_details" in d["results"]["depth_noise_vs_range"]
    assert d["results"]["depth_noise_vs_range"]["description"]
    assert not list(tmp_path.glob("sub/.*partial*"))


def test_jsonl_appends_one_compact_line_per_run(report, tmp_path):
    for _ in range(2):
        append_jsonl(report, tmp_path)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2
    rec = json.loads(lines[1])
    assert rec["global_step"] == 7 and "model_details" not in rec["results"]["depth_noise_vs_range"]
    assert rec == report_to_dict(report, details=False)


def test_each_test_gets_its_own_copy_of_the_report(report, evaluated_once):
    report.results["depth_noise_vs_range"]["model"].values["value_mm"] = -1.0
    assert evaluated_once.results["depth_noise_vs_range"]["model"].values["value_mm"] != -1.0


def test_run_dir_for(tmp_path):
    assert run_dir_for(tmp_path / "run" / "checkpoints" / "last.ckpt") == (tmp_path / "run").resolve()
    assert run_dir_for(tmp_path / "g.pt", tmp_path / "out" / "r.json") == (tmp_path / "out").resolve()
    assert run_dir_for(tmp_path / "g.pt") == tmp_path.resolve()


def test_table_shows_every_value_and_na_for_undefined_ones(report):
    report.results["depth_tail_fraction"]["model"].values["value"] = math.nan
    console = Console(width=100, record=True)
    console.print(render_table(report))
    text = console.export_text()
    assert "depth_noise_vs_range" in text and "curve_dist_mm" in text and "n/a" in text
    assert "step 7" in text


def test_plots_are_written(report, tmp_path):
    paths = write_plots(report, tmp_path / "plots")
    assert [p.name for p in paths] == ["noise_vs_range.png", "histograms.png", "pca.png", "samples.png"]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pca_projection_separates_two_clusters_on_the_first_component():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(10, 4, 16, 16, generator=g) * 0.1
    b = torch.rand(12, 4, 16, 16, generator=g) * 0.1 + 0.5
    za, zb = pca_projection(a, b)
    assert za.shape == (10, 5) and zb.shape == (12, 5)
    assert (za[:, 0].max() < zb[:, 0].min()) or (za[:, 0].min() > zb[:, 0].max())
