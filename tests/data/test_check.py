"""Tests for volo_adapt/data/check.py: statistics equal the known truth, every bad sample is listed."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.data.check import BadSample, check_sources, validate_refs
from volo_adapt.data.sources import open_source
from volo_adapt.errors import DataError


def test_stats_match_truth(tmp_path, make_rgbd_folder):
    truth = make_rgbd_folder(tmp_path / "a", keys=("x", "y"), size=(24, 32), depth_size=(6, 8), depth_scale=5000.0)
    truth_b = make_rgbd_folder(tmp_path / "b", keys=("z",), size=(10, 20), rgb_suffix=".jpg", seed=3)
    calls = []
    report = check_sources(
        [str(tmp_path / "a"), str(tmp_path / "b")], depth_scale=5000.0, progress=lambda d, t: calls.append((d, t))
    )
    assert report.ok and report.bad == []
    assert calls == [(1, 3), (2, 3), (3, 3)]
    a, b = report.sources
    assert (a.kind, a.ok, a.bad, a.samples) == ("folder", 2, 0, 2)
    assert dict(a.resolutions) == {((24, 32), (6, 8)): 2}
    assert dict(a.rgb_formats) == {"png8": 2} and dict(a.depth_formats) == {"png16": 2}
    depths = torch.cat([d.flatten() for _, d in truth.values()])
    valid = depths[depths > 0]
    assert a.depth_min == pytest.approx(float(valid.min()), abs=0) and a.depth_max == float(valid.max())
    fractions = [int((d > 0).sum()) / d.numel() for _, d in truth.values()]
    assert a.mean_valid_fraction == pytest.approx(sum(fractions) / 2, abs=1e-12)
    assert dict(b.rgb_formats) == {"jpg": 1} and dict(b.resolutions) == {((10, 20), (10, 20)): 1}
    # depth_scale 5000 was applied to source b too (its PNG holds millimetres): values are 5x smaller
    ((_, d_b),) = truth_b.values()
    assert b.depth_max == pytest.approx(float(d_b.max()) / 5, rel=1e-6)


def test_every_bad_kind_is_listed(tmp_path, make_mixed_rgbd_folder):
    expected = make_mixed_rgbd_folder(tmp_path / "mixed", n_good=3)
    specs = [str(tmp_path / "mixed"), str(tmp_path / "mixed_arrays")]
    report = check_sources(specs)
    assert not report.ok
    folder, arrays = report.sources
    assert (folder.ok, folder.bad) == (3, 5) and (arrays.ok, arrays.bad) == (1, 1)
    by_key = {b.key: b for b in report.bad}
    assert set(by_key) == set(expected)
    for key, fragment in expected.items():
        b = by_key[key]
        assert fragment in b.reason, (key, b.reason)
        assert "\n" not in b.reason
        assert key in b.path and b.path in b.reason  # the reason names the file at fault
    assert by_key["empty"].path.endswith("depth/empty.png")  # the file at fault, not its partner
    assert by_key["truncated"].path.endswith("rgb/truncated.png")


def test_validate_refs_splits_in_order(tmp_path, make_mixed_rgbd_folder):
    make_mixed_rgbd_folder(tmp_path / "m", n_good=2)
    refs = open_source(str(tmp_path / "m"))
    good, bad = validate_refs(refs)
    assert [r.key for r in good] == ["good0", "good1"]
    assert [b.key for b in bad] == ["depth8", "empty", "orphan", "text", "truncated"]
    assert all(isinstance(b, BadSample) and b.source == str(tmp_path / "m") for b in bad)


def test_bad_arguments_and_specs(tmp_path, make_rgbd_folder):
    make_rgbd_folder(tmp_path / "a", keys=("x",))
    with pytest.raises(DataError, match="depth scale"):
        check_sources([str(tmp_path / "a")], depth_scale=0)
    with pytest.raises(DataError, match="no such file"):
        check_sources([str(tmp_path / "a"), str(tmp_path / "missing")])
    report = check_sources([str(tmp_path / "a")], pixel_limit=100)
    assert report.bad and "too many pixels" in report.bad[0].reason


def test_thread_count_is_restored(tmp_path, make_rgbd_folder):
    make_rgbd_folder(tmp_path / "a", keys=("x",))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        check_sources([str(tmp_path / "a")])
        validate_refs(open_source(str(tmp_path / "a")))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
