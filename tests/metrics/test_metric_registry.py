"""Tests for volo_adapt/metrics/registry.py (named test_metric_registry to keep pytest module names unique)."""

from __future__ import annotations

import math

import pytest
import torch
from volo_metrics_scenes import CODEC, network, scenes

from volo_adapt.errors import ConfigError
from volo_adapt.metrics import registry
from volo_adapt.metrics.evaluate import validation_metrics


def test_builtin_metrics_are_listed_with_protocol_names():
    names = registry.list_metrics()
    for n in ("depth_noise_vs_range", "depth_tail_fraction", "c2st_rgbd_acc", "c2st_rgb_acc", "c2st_depth_acc",
              "fid_rgb_inception", "kid_rgb_inception", "geometry_vs_source_median5", "paired_depth_mae_mm"):
        assert n in names
    assert len(set(names)) == len(names)


def test_unknown_metric_is_a_config_error_listing_valid_ones():
    with pytest.raises(ConfigError, match=r"unknown metric 'fid50k'.*depth_noise_vs_range"):
        registry.resolve_metric_names("depth_tail_fraction,fid50k")


def test_resolve_accepts_strings_lists_all_and_dedupes():
    assert registry.resolve_metric_names(None) == registry.list_metrics()
    assert registry.resolve_metric_names("all") == registry.list_metrics()
    assert registry.resolve_metric_names(" depth_tail_fraction , depth_tail_fraction,c2st_rgb_acc") == [
        "depth_tail_fraction", "c2st_rgb_acc"]
    assert registry.resolve_metric_names(["c2st_rgb_acc"]) == ["c2st_rgb_acc"]


def test_register_metric_adds_and_refuses_duplicates(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_metric("test_mean_depth_m", description="mean encoded depth", cheap=True)
    def _m(inp):
        return registry.MetricResult({"value": float(inp.candidate[:, 3].mean())})

    assert "test_mean_depth_m" in registry.list_metrics()
    with pytest.raises(AssertionError, match="twice"):
        registry.register_metric("test_mean_depth_m", description="x")(_m)


def test_metric_inputs_check_shapes():
    x = torch.rand(2, 4, 8, 8)
    with pytest.raises(AssertionError):
        registry.MetricInputs(torch.rand(2, 3, 8, 8), x, CODEC)
    with pytest.raises(AssertionError):
        registry.MetricInputs(x, x, CODEC, source=torch.rand(3, 4, 8, 8))


def test_validation_metrics_are_cheap_finite_and_use_the_registered_functions():
    src = network(*scenes(4, 32, seed=0))
    tgt = network(*scenes(4, 32, seed=1, noise=0.01, holes=0.1, flying=True))
    out = validation_metrics(src, src.clone(), tgt, CODEC)
    assert out and all(math.isfinite(v) for v in out.values())
    assert "depth_noise_vs_range/target_mm" in out and "geometry_vs_source_median5/mae_mm" in out
    assert not any(k.startswith(("c2st", "fid", "kid", "paired")) for k in out)
    assert out["geometry_vs_source_median5/mae_mm"] == 0.0
    assert out["depth_noise_vs_range/target_mm"] == pytest.approx(10.0, rel=0.15)
    only = validation_metrics(src, src, tgt, CODEC, metrics=["depth_histogram_w1"])
    assert list(only) == ["depth_histogram_w1/w1_mm"]


def test_val_metrics_fn_adapter_for_the_training_hook_has_a_stable_key_set():
    from volo_adapt.metrics import make_val_metrics_fn

    fn = make_val_metrics_fn(CODEC)
    a = network(*scenes(2, 32, seed=0, wall=False))
    b = network(*scenes(2, 32, seed=1, noise=0.01))
    out = fn({"A": a, "B": b}, {"fake_B": a.clone(), "fake_A": b, "cyc_A": a, "cyc_B": b})
    flat = torch.zeros(2, 4, 32, 32)
    flat[:, 3] = 0.5  # a plane: no discontinuity, so the tail fraction is undefined (NaN) but still present
    out2 = fn({"A": flat, "B": flat}, {"fake_B": flat})
    assert set(out) == set(out2)
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 for v in out.values())
    assert torch.isnan(out2["depth_tail_fraction/value"])
