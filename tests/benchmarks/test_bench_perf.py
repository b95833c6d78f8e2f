"""The performance runner's own logic (benchmarks/bench_perf.py and its parts): no timings are asserted here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_perf  # noqa: E402
import benchkit  # noqa: E402
from classic_cyclegan import ClassicCycleGANStep, HistoryPool  # noqa: E402


def test_quick_defaults_are_small_and_full_defaults_cover_the_issue():
    q = bench_perf.parse_args(["--quick", "--device", "cpu"])
    assert (q.sizes, q.batches, q.steps, q.presets) == ([64], [1, 2], 2, ["vologan", "cyclegan", "demo"])
    f = bench_perf.parse_args(["--device", "cpu"])
    assert f.sizes == [128, 512] and f.batches == [1, 2] and f.presets == ["vologan", "cyclegan", "sensor"]
    assert {"eager_fp32", "tuned", "tuned_ckpt"} <= set(f.variants)


def test_variants_are_valid_overrides_of_every_preset():
    from volo_adapt.config import load_config

    for preset in ("vologan", "cyclegan", "sensor", "demo"):
        for name, sets in bench_perf.TRAIN_VARIANTS.items():
            cfg = load_config(preset, sets)
            assert cfg.train.activation_checkpointing is (name == "tuned_ckpt")


def test_predicted_peak_scales_growth_by_pixels_and_batch():
    history = {("p", "v"): [(64, 1, 100.0, 10.0), (128, 1, 100.0, 40.0)]}
    assert bench_perf.predicted_peak(history, ("p", "v"), 512, 2) == pytest.approx(100 + 40 * 16 * 2)
    assert bench_perf.predicted_peak(history, ("p", "other"), 512, 2) is None
    one_run = {("p", "v"): [(128, 1, 100.0, 40.0)]}
    assert bench_perf.predicted_peak(one_run, ("p", "v"), 256, 1) == pytest.approx(100 + 160)


def test_predicted_peak_keeps_a_fixed_part_of_the_growth():
    # growth 30 + n/1024 bytes at n pixels: 34 at 64 px, 46 at 128 px -> 30 + 256 at 512 px (not 46 * 16)
    history = {("p", "v"): [(128, 1, 5.0, 46.0), (64, 1, 5.0, 34.0)]}
    assert bench_perf.predicted_peak(history, ("p", "v"), 512, 1) == pytest.approx(5 + 30 + 256)
    shrinking = {("p", "v"): [(64, 1, 5.0, 50.0), (128, 1, 5.0, 40.0)]}  # noise: never a negative slope
    assert bench_perf.predicted_peak(shrinking, ("p", "v"), 512, 1) == pytest.approx(5 + 40)


def test_compute_dtype_follows_precision_and_tf32_flag(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert benchkit.compute_dtype("bf16-mixed", cuda) == "bf16" and benchkit.compute_dtype("32-true", cpu) == "fp32"
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)
    assert benchkit.compute_dtype("32-true", cuda) == "tf32"
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    assert benchkit.compute_dtype("32-true", cuda) == "fp32"


def test_probe_leaves_the_tf32_flags_as_they_were():
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    calls = benchkit.probe_calls(torch.device("cpu"), quick=True)
    assert {"conv3x3_fp32", "matmul_fp32", "conv3x3_bf16", "matmul_bf16"} <= set(calls)
    calls["matmul_fp32"][0]()
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


def test_tables_list_skipped_groups():
    result = {"machine": {"device": "x", "time": "t", "torch": "2", "threads": 1, "load_average": [0.5],
                          "fast_bf16": False}, "command": "c", "probe": {"matmul_fp32": 1e9},
              "train": [{"preset": "vologan", "variant": "eager_fp32", "size": 512, "batch": 2,
                         "skipped": "predicted 30 GiB"}], "translate": []}
    md = bench_perf.tables(result)
    assert "skipped: predicted 30 GiB" in md and "| vologan | 512 | 2 | eager_fp32 |" in md


def test_history_pool_returns_new_images_until_full_then_mixes():
    pool = HistoryPool(size=2)
    a, b = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    assert torch.equal(pool.query(a), a) and torch.equal(pool.query(b), b) and len(pool.images) == 2
    out = torch.cat([pool.query(torch.full((1, 1, 2, 2), 2.0)) for _ in range(50)])
    assert len(pool.images) == 2 and {0.0, 1.0} & set(out.flatten().tolist())  # older fakes come back


def test_classic_step_updates_all_four_networks():
    torch.manual_seed(0)
    step = ClassicCycleGANStep(base=4)
    before = [[p.detach().clone() for p in n.parameters()] for n in step.networks()]
    x, y = torch.rand(1, 4, 32, 32), torch.rand(1, 4, 32, 32)
    losses = step.step(x, y)
    assert set(losses) == {"gen", "D_Y", "D_X"} and all(v == v for v in losses.values())
    for old, net in zip(before, step.networks(), strict=True):
        assert any(not torch.equal(o, p) for o, p in zip(old, net.parameters(), strict=True))
    assert all(p.requires_grad for n in step.networks() for p in n.parameters())  # critics unfrozen again
