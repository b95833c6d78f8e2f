"""Tests for volo_adapt/metrics/evaluate.py and baselines.py: model vs identity vs floor on known translations."""

from __future__ import annotations

import pytest
import torch
from volo_metrics_scenes import CODEC, network, scenes

from volo_adapt.data.sample import from_network
from volo_adapt.errors import DataError
from volo_adapt.metrics.baselines import target_halves
from volo_adapt.metrics.evaluate import evaluate_tensors
from volo_adapt.metrics.registry import MetricOptions

DEPTH_ONLY = "depth_invalid_fraction_subject,depth_noise_vs_range,depth_tail_fraction,depth_gradient_w1," \
             "depth_histogram_w1,geometry_vs_source_median5"


def _sensorise(x: torch.Tensor, sigma: float = 0.01, seed: int = 0) -> torch.Tensor:
    """A stand-in 'translation': add depth noise of known sigma in metres (re-encoded exactly)."""
    rgb, d, v = from_network(x, CODEC)
    g = torch.Generator().manual_seed(seed)
    d = torch.where(v, d + sigma * torch.randn(d.shape, generator=g), d)
    return network(rgb, d, v)


@pytest.fixture(scope="module")
def data():
    source = network(*scenes(12, 32, seed=0))
    target = network(*scenes(12, 32, seed=1, noise=0.01))
    paired_source = network(*scenes(6, 32, seed=2))
    paired_target = network(*scenes(6, 32, seed=2, noise=0.01))
    return source, target, paired_source, paired_target


def test_identity_translation_equals_the_identity_baseline_and_floor_is_present(data):
    source, target, ps, pt = data
    rep = evaluate_tensors(lambda x: x, source, target, CODEC, paired_source=ps, paired_target=pt,
                           options=MetricOptions(c2st_epochs=3))
    for name, by_cmp in rep.results.items():
        assert by_cmp["model"].values == pytest.approx(by_cmp["identity"].values, nan_ok=True), name
    assert "floor" in rep.results["depth_noise_vs_range"]
    assert "floor" not in rep.results["geometry_vs_source_median5"]
    assert "floor" not in rep.results["paired_depth_mae_mm"]
    assert rep.results["geometry_vs_source_median5"]["model"].values["mae_mm"] == 0.0
    assert set(rep.skipped) == {"fid_rgb_inception", "kid_rgb_inception"}
    assert rep.info["counts"] == {"source": 12, "target": 12, "paired": 6, "floor_half": 6}


def test_a_translation_that_adds_the_target_noise_beats_identity_and_reaches_the_floor(data):
    source, target, ps, pt = data
    rep = evaluate_tensors(_sensorise, source, target, CODEC, paired_source=ps, paired_target=pt, metrics=DEPTH_ONLY)
    noise = rep.results["depth_noise_vs_range"]
    assert noise["model"].values["value_mm"] == pytest.approx(10.0, rel=0.1)
    assert noise["identity"].values["value_mm"] < 1.0
    assert noise["model"].values["abs_diff_mm"] < noise["identity"].values["abs_diff_mm"] / 5
    assert noise["floor"].values["abs_diff_mm"] < 1.5
    geo = rep.results["geometry_vs_source_median5"]["model"].values
    assert geo["mae_mm"] < 10 and geo["delta125"] > 0.99  # noise does not move the subject
    assert list(rep.results) == DEPTH_ONLY.split(",")
    assert rep.flat()["depth_noise_vs_range/value_mm"] == noise["model"].values["value_mm"]


def test_paired_metrics_compare_against_the_true_target(data):
    source, target, ps, pt = data
    rep = evaluate_tensors(_sensorise, source, target, CODEC, paired_source=ps, paired_target=pt,
                           metrics="paired_depth_mae_mm,paired_depth_stats_diff,paired_rgb_psnr_ssim")
    mae = rep.results["paired_depth_mae_mm"]
    # independent 1 cm noise on both sides: E|n1 - n2| = 2 sigma / sqrt(pi) = 11.3 mm; identity: E|n| = 8 mm
    assert mae["model"].values["mae_mm"] == pytest.approx(11.3, rel=0.1)
    assert mae["identity"].values["mae_mm"] == pytest.approx(8.0, rel=0.1)
    stats = rep.results["paired_depth_stats_diff"]
    assert stats["model"].values["noise_curve_dist_mm"] < stats["identity"].values["noise_curve_dist_mm"] / 5
    assert rep.results["paired_rgb_psnr_ssim"]["model"].values["psnr_db"] == pytest.approx(100.0)


def test_without_paired_data_paired_metrics_are_skipped_with_a_reason(data):
    source, target, _, _ = data
    rep = evaluate_tensors(lambda x: x, source, target, CODEC, metrics="paired_depth_mae_mm,depth_histogram_w1")
    assert "paired_depth_mae_mm" not in rep.results
    assert "--paired" in rep.skipped["paired_depth_mae_mm"]


def test_refuses_too_few_or_mismatched_images(data):
    source, target, _, _ = data
    with pytest.raises(DataError, match="at least 2"):
        evaluate_tensors(lambda x: x, source[:1], target, CODEC)
    with pytest.raises(DataError, match="sizes differ"):
        evaluate_tensors(lambda x: x, source, target[..., :16, :16], CODEC)


def test_target_halves_are_disjoint_seeded_and_equal_sized():
    t = torch.arange(11).float().view(11, 1, 1, 1)
    a, b = target_halves(t, seed=0)
    assert len(a) == len(b) == 5
    assert not set(a.flatten().tolist()) & set(b.flatten().tolist())
    a2, _ = target_halves(t, seed=0)
    a3, _ = target_halves(t, seed=1)
    assert torch.equal(a, a2) and not torch.equal(a, a3)


def _write_set(root, n, seed):
    from volo_adapt.data.formats import write_depth, write_rgb

    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        write_rgb(root / "rgb" / f"{i}.png", torch.rand(3, 20, 28, generator=g))
        write_depth(root / "depth" / f"{i}.png", 0.5 + torch.rand(1, 20, 28, generator=g))
    return root


def test_eval_sets_read_at_the_square_size_and_refuse_bad_paired_folders_in_library_terms(tmp_path):
    """Data loading lives in volo_adapt/data/eval_sets.py; its errors name the folder, not a CLI flag."""
    from volo_adapt.data.eval_sets import EvalSources, PairedFolderError, load_eval_set, load_paired

    paired = tmp_path / "paired"
    _write_set(paired / "A", 3, 0)
    _write_set(paired / "B", 3, 1)
    sources = EvalSources([str(_write_set(tmp_path / "a", 3, 2))], [str(_write_set(tmp_path / "b", 2, 3))], paired)
    data = load_eval_set(sources, "b2a", 16, CODEC, 1000.0, max_samples=2)
    assert data.source.shape == (2, 4, 16, 16) and data.target.shape == (2, 4, 16, 16)
    src_b, tgt_a = load_paired(paired, "b2a", 16, CODEC, 1000.0)
    assert torch.equal(data.paired_source, src_b[:2]) and torch.equal(data.paired_target, tgt_a[:2])
    assert sources.info() == {"source": sources.source, "target": sources.target, "paired": str(paired),
                              "demo": False}
    (paired / "B" / "rgb" / "2.png").rename(paired / "B" / "rgb" / "zzz.png")
    (paired / "B" / "depth" / "2.png").rename(paired / "B" / "depth" / "zzz.png")
    with pytest.raises(PairedFolderError, match=rf"^paired folder {paired}: A/ and B/ must hold the same sample"):
        load_paired(paired, "a2b", 16, CODEC, 1000.0, None)
    with pytest.raises(DataError, match="missing folder A/") as e:
        load_paired(tmp_path / "a", "a2b", 16, CODEC, 1000.0, None)
    assert e.value.root == tmp_path / "a" and "--" not in str(e.value)


def test_eval_sources_orient_by_direction_and_refuse_one_sided_data():
    from types import SimpleNamespace

    from volo_adapt.errors import OptionError
    from volo_adapt.metrics.evaluate import eval_sources

    b2a = SimpleNamespace(direction="b2a")
    src = eval_sources(b2a, ["A1"], ["B1", "B2"], "p")
    assert (src.source, src.target, src.paired, src.demo) == (["B1", "B2"], ["A1"], "p", False)
    with pytest.raises(OptionError, match=r"^source_a and source_b: give both") as e:
        eval_sources(b2a, ["A1"], None, None)
    assert e.value.option == "source_a and source_b"
