"""Tests for cli/eval.py: `volo eval` end to end on a tiny generated set with a tiny random-weight checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import factory
from tests.cli.conftest import run_volo as _volo
from volo_adapt.synth import demo_set as demo_mod

FAST = ["--c2st-epochs", "2", "--device", "cpu"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run folder with ``checkpoints/tiny.ckpt`` (vologan, 3 levels, base 4, trained size 32 px)."""
    root = tmp_path_factory.mktemp("run")
    (root / "checkpoints").mkdir()
    cfg = factory.tiny_config(image_size=32, demo_size=32, demo_count=2)
    factory.make_checkpoint(root / "checkpoints" / "tiny.ckpt", cfg)
    return root


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory) -> Path:
    """A real demo benchmark (sensor S as A, phone sensor T as B, paired/), 6 test scenes of 32 px."""
    return demo_mod.ensure_demo_dataset(size=32, n_train=2, n_test=6, cache_dir=tmp_path_factory.mktemp("cache"))




def test_eval_end_to_end_writes_table_json_jsonl_and_plots(run_dir, tiny_demo, tmp_path, capsys):
    ckpt = run_dir / "checkpoints" / "tiny.ckpt"
    out = tmp_path / "report.json"
    code, stdout, stderr = _volo(
        ["eval", "--ckpt", str(ckpt), "--data-a", str(tiny_demo / "A" / "test"), "--data-b",
         str(tiny_demo / "B" / "test"), "--paired", str(tiny_demo / "paired"), "--out", str(out),
         "--plots", str(tmp_path / "plots"), "--max-samples", "6", *FAST], capsys)
    assert code in (0, None), stderr
    for name in ("depth_noise_vs_range", "c2st_rgbd_acc", "geometry_vs_source_median5", "paired_depth_mae_mm"):
        assert name in stdout
    assert "identity" in stdout and "floor" in stdout and "source as-is" in stdout
    assert "FID/KID skipped" in stderr and "weights-inception-2015-12-05-6726825d.pth" in stderr
    assert "volo-adapt[fid]" in stderr
    rep = json.loads(out.read_text())
    assert rep["checkpoint"] == str(ckpt) and rep["global_step"] == 42 and rep["direction"] == "a2b"
    assert rep["eval_size"] == [32, 32] and rep["counts"]["paired"] == 6
    assert set(rep["results"]["depth_noise_vs_range"]) >= {"model", "identity", "floor", "model_details"}
    assert "fid_rgb_inception" in rep["skipped"]
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    line = json.loads(lines[-1])
    assert line["checkpoint"] == str(ckpt) and line["data"]["source"] == [str(tiny_demo / "A" / "test")]
    assert "timestamp" in line and "model_details" not in line["results"]["depth_noise_vs_range"]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "eval_report.html", "histograms.png", "noise_vs_range.png", "pca.png", "samples.png"]


def test_eval_defaults_to_the_demo_benchmark_and_appends_jsonl(run_dir, tiny_demo, monkeypatch, capsys):
    calls = []

    def fake_demo(size=96, n_train=400, n_test=64, seed=0, **kw):
        calls.append((size, n_train, seed))
        return tiny_demo

    monkeypatch.setattr(demo_mod, "ensure_demo_dataset", fake_demo)
    jsonl = run_dir / "metrics.jsonl"
    before = len(jsonl.read_text().splitlines()) if jsonl.exists() else 0
    code, stdout, stderr = _volo(["eval", "--ckpt", str(run_dir / "checkpoints" / "tiny.ckpt"), "--metrics",
                                  "depth_tail_fraction,paired_depth_mae_mm", "--direction", "b2a", *FAST], capsys)
    assert code in (0, None), stderr
    assert calls == [(32, 2, 0)]  # the checkpoint's demo_size / demo_count
    lines = jsonl.read_text().splitlines()
    assert len(lines) == before + 1
    line = json.loads(lines[-1])
    assert line["data"]["demo"] is True and line["direction"] == "b2a"
    assert line["data"]["source"] == [str(tiny_demo / "B" / "test")]
    assert set(line["results"]) == {"depth_tail_fraction", "paired_depth_mae_mm"}


def test_unknown_metric_is_one_line_error_listing_valid_metrics(run_dir, capsys):
    code, _, stderr = _volo(["eval", "--ckpt", str(run_dir / "checkpoints" / "tiny.ckpt"), "--metrics",
                             "fid50k_full"], capsys)
    assert code == 2
    assert "error:" in stderr and "fid50k_full" in stderr and "depth_noise_vs_range" in stderr
    assert "--metrics: unknown metric 'fid50k_full'" in stderr
    assert "Traceback" not in stderr


def test_one_sided_data_is_refused(run_dir, tiny_demo, capsys):
    code, _, stderr = _volo(["eval", "--ckpt", str(run_dir / "checkpoints" / "tiny.ckpt"), "--data-a",
                             str(tiny_demo / "A" / "test"), *FAST], capsys)
    assert code == 2 and "--data-b" in stderr


def test_paired_folder_with_mismatched_names_is_refused(run_dir, tiny_demo, tmp_path, capsys):
    import shutil

    bad = tmp_path / "paired"
    shutil.copytree(tiny_demo / "paired", bad)
    for sub in ("rgb", "depth"):
        victim = sorted((bad / "B" / sub).iterdir())[0]
        victim.rename(victim.with_name("zzz" + victim.suffix))
    code, _, stderr = _volo(["eval", "--ckpt", str(run_dir / "checkpoints" / "tiny.ckpt"), "--data-a",
                             str(tiny_demo / "A" / "test"), "--data-b", str(tiny_demo / "B" / "test"),
                             "--paired", str(bad), "--metrics", "paired_depth_mae_mm", *FAST], capsys)
    assert code == 2 and "same sample names" in stderr and "zzz" in stderr
    assert f"--paired {bad}: A/ and B/" in stderr  # the library's "paired folder ...", named by its flag


def test_paired_folder_without_b_and_a_bad_device_name_their_flags(run_dir, tiny_demo, tmp_path, capsys):
    data = ["--data-a", str(tiny_demo / "A" / "test"), "--data-b", str(tiny_demo / "B" / "test")]
    ckpt = ["--ckpt", str(run_dir / "checkpoints" / "tiny.ckpt")]
    (tmp_path / "p" / "A").mkdir(parents=True)
    code, _, stderr = _volo(["eval", *ckpt, *data, "--paired", str(tmp_path / "p"), *FAST], capsys)
    assert code == 2 and f"--paired {tmp_path / 'p'}: missing folder B/" in stderr
    code, _, stderr = _volo(["eval", *ckpt, *data, "--device", "nonsense", "--c2st-epochs", "2"], capsys)
    assert code == 2 and "--device 'nonsense': not a device name" in stderr and "Traceback" not in stderr


def test_list_metrics(capsys):
    code, stdout, _ = _volo(["eval", "--list-metrics"], capsys)
    assert code in (0, None)
    assert "c2st_depth_acc" in stdout and "needs paired" in stdout


def test_missing_ckpt_is_a_one_line_error(capsys):
    code, _, stderr = _volo(["eval"], capsys)
    assert code == 2 and "--ckpt" in stderr and "Traceback" not in stderr


def test_plots_and_html_report_go_to_the_run_by_default_with_a_progress_bar_and_no_plots_writes_none(
        run_dir, tiny_demo, tmp_path, capsys):
    ckpt = ["--ckpt", str(run_dir / "checkpoints" / "tiny.ckpt")]
    data = ["--data-a", str(tiny_demo / "A" / "test"), "--data-b", str(tiny_demo / "B" / "test"),
            "--metrics", "depth_tail_fraction,c2st_depth_acc", "--c2st-repeats", "2", "--batch-size", "4"]
    code, _, stderr = _volo(["eval", *ckpt, *data, *FAST], capsys)
    assert code in (0, None), stderr
    html = run_dir / "eval" / "eval_report.html"
    assert html.is_file() and (run_dir / "eval" / "samples.png").is_file()
    assert f"html report: {html}" in stderr
    # off a terminal the bar is plain lines; its total: 2 translation batches (6 images, batch 4), the tail
    # fraction on 3 comparisons, the C2ST on 3 comparisons x 2 repeats x 2 epochs
    assert "evaluating: reading data at 32x32" in stderr
    assert "evaluating: 17/17 (100 %)" in stderr
    loose = tmp_path / "loose.ckpt"
    loose.write_bytes((run_dir / "checkpoints" / "tiny.ckpt").read_bytes())
    code, _, stderr = _volo(["eval", "--ckpt", str(loose), *data, "--no-plots", "--out", str(tmp_path / "r.json"),
                             *FAST], capsys)
    assert code in (0, None), stderr
    assert not (tmp_path / "volo-eval").exists() and "html report" not in stderr


def test_default_plots_folder():
    from cli.eval import default_plots_dir

    assert default_plots_dir(Path("/r/run1/checkpoints/last.ckpt"), None) == Path("/r/run1/eval")
    assert default_plots_dir(Path("/x/gen.pt"), Path("out/report.json")) == Path("out/volo-eval")
    assert default_plots_dir(Path("/x/gen.pt"), None) == Path("volo-eval")


def test_work_bar_on_a_terminal_is_a_rich_bar_reaching_its_total():
    import io

    from rich.console import Console

    from cli.console import make_work_bar

    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    with make_work_bar(console, "evaluating") as bar:
        bar.log("reading data")
        bar.progress(0, 4)
        for _ in range(4):
            bar.progress(1, 4)
        bar.log("c2st_rgbd_acc [model]")
    text = console.file.getvalue()
    assert bar.completed == 4 and "4/4" in text and "c2st_rgbd_acc [model]" in text
    assert "evaluating: reading data" not in text  # on a terminal the step is on the bar, not a line
