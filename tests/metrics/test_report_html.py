"""Tests for volo_adapt/metrics/report_html.py (and the plots it embeds) and the evaluation's progress callback.

The HTML is checked as text everywhere (self-contained, every section present) and, where chromium is installed,
rendered by a real headless browser: the screenshot must not be blank and every image must have decoded. CI must
have chromium (.ci/run installs it): there the browser test fails instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
import torch
from volo_metrics_scenes import CODEC, network, scenes

from volo_adapt.metrics.evaluate import evaluate_tensors
from volo_adapt.metrics.plots import write_plots
from volo_adapt.metrics.registry import MetricOptions
from volo_adapt.metrics.report_html import REPORT_NAME, SECTIONS, write_report_html

OPTIONS = MetricOptions(c2st_epochs=2, c2st_repeats=2)
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _noisy(x: torch.Tensor) -> torch.Tensor:
    """A stand-in translation that changes depth a little (so model and identity differ)."""
    return (x + 0.002 * torch.sin(torch.arange(x.numel(), dtype=x.dtype).view_as(x))).clamp(0, 1)


def _sets(paired: bool = True) -> dict:
    out = {"source": network(*scenes(6, 32, seed=0)), "target": network(*scenes(6, 32, seed=1, noise=0.01))}
    if paired:
        out.update(paired_source=network(*scenes(4, 32, seed=2)), paired_target=network(*scenes(4, 32, seed=2,
                                                                                                noise=0.01)))
    return out


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    s = _sets()
    rep = evaluate_tensors(_noisy, s["source"], s["target"], CODEC, paired_source=s["paired_source"],
                           paired_target=s["paired_target"], options=OPTIONS, batch_size=4)
    out = tmp_path_factory.mktemp("report")
    return write_report_html(rep, out / REPORT_NAME, write_plots(rep, out))


def test_report_is_self_contained_with_every_section(report_file):
    text = report_file.read_text(encoding="utf-8")
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text, sid
    srcs = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', text)
    assert len(srcs) >= 7 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "http://" not in text and "https://" not in text and "<link" not in text
    assert "<script src" not in text and text.count("<script>") == 1
    assert 'id="headline-table"' in text and "C2ST RGB-D accuracy" in text
    assert "identity" in text and "floor" in text and ("met</span>" in text or "missed</span>" in text)
    assert "assumed pinhole intrinsics" in text and "65 deg horizontal FoV" in text
    assert "Not available for this evaluation" not in text


def test_report_without_paired_data_or_speckle_metrics_still_has_every_section(tmp_path):
    s = _sets(paired=False)
    rep = evaluate_tensors(_noisy, s["source"], s["target"], CODEC, metrics="depth_tail_fraction", options=OPTIONS)
    text = write_report_html(rep, tmp_path / REPORT_NAME).read_text(encoding="utf-8")  # plots drawn on the fly
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text, sid
    assert "No headline metric was evaluated" not in text  # the tail fraction is a headline row
    assert text.count("<img ") == 6  # samples, noise, histograms, pca, speckle map, point clouds (no rates)


def test_progress_counts_every_unit_once_and_changes_no_number():
    s = _sets()
    kw = {"paired_source": s["paired_source"], "paired_target": s["paired_target"], "options": OPTIONS,
          "batch_size": 4, "metrics": "c2st_depth_acc,depth_tail_fraction,paired_depth_mae_mm"}
    calls: list[tuple[int, int]] = []
    with_bar = evaluate_tensors(_noisy, s["source"], s["target"], CODEC, progress=lambda a, t: calls.append((a, t)),
                                **kw)
    plain = evaluate_tensors(_noisy, s["source"], s["target"], CODEC, **kw)
    # 2 + 1 translation batches; C2ST on model, identity, floor, sensor x 2 repeats x 2 epochs; the tail fraction
    # on the 4 comparisons; the paired MAE on model and identity
    total = 3 + 4 * 2 * 2 + 4 + 2
    assert calls[0] == (0, total) and all(t == total for _, t in calls) and sum(a for a, _ in calls) == total
    assert len(calls) > 10  # advances as the work goes, not once at the end
    for cmp in ("model", "identity", "floor", "sensor"):
        assert with_bar.flat(cmp) == pytest.approx(plain.flat(cmp), nan_ok=True), cmp


def _browser() -> str | None:
    return next((b for b in map(shutil.which, BROWSERS) if b), None)


def _chromium(browser: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                           *args], capture_output=True, text=True, timeout=120, check=False)


def test_report_renders_in_a_headless_browser(report_file, tmp_path):
    browser = _browser()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium missing in CI (.ci/run installs it)")
        pytest.skip("no chromium on PATH")
    from PIL import Image

    shot = tmp_path / "shot.png"
    url = report_file.resolve().as_uri()
    r = _chromium(browser, tmp_path / "p1", f"--screenshot={shot}", "--window-size=1200,3000", url)
    assert shot.is_file(), r.stderr[-2000:]
    img = torch.tensor(list(Image.open(shot).convert("L").getdata()), dtype=torch.float32)
    assert img.std() > 20 and len(img.unique()) > 50  # not a blank page
    dom = _chromium(browser, tmp_path / "p2", "--dump-dom", url).stdout
    body = re.search(r"<body[^>]*>", dom)
    assert body is not None, dom[:500]
    assert 'data-images-ok="true"' in body.group(0), body.group(0)
    assert 'id="headline-table"' in dom and 'id="metrics-table"' in dom
