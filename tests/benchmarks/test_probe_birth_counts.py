"""benchmarks/probe_birth_counts.py: the unpaired estimate splits a count ratio into drops and births, and the paired
counts score births against the truth."""

from __future__ import annotations

import doctest
import importlib.util
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "probe_birth_counts.py"
spec = importlib.util.spec_from_file_location("probe_birth_counts", PATH)
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)


def test_the_docstring_examples_hold() -> None:
    assert doctest.testmod(probe).failed == 0


def test_fewer_far_returns_read_as_drops_and_more_near_ones_as_births() -> None:
    a = torch.zeros(2, 4, 8, 8)
    a[..., :4] = 0.2  # near surface, 32 returns per image
    a[..., 4:] = 0.9  # far surface, 32 returns
    b = a.clone()
    b[..., 6:] = 0.0  # the target loses 16 far returns ...
    b[:, :, :4, 4] = 0.2  # ... and 4 more read near: 36 near, 12 far
    est = probe.unpaired_estimate(a, b, 0.05)
    assert est["ratio"] == pytest.approx(48 / 64)
    assert est["drops"] == pytest.approx(20 / 64, abs=0.01)  # the far bin's 20 missing (up to the pseudo-count)
    assert est["births"] == pytest.approx(4 / 64, abs=0.01)  # the near bin's 4 extra
    assert est["births"] == pytest.approx(est["ratio"] - (1 - est["drops"]))


def test_births_where_the_truth_has_none_are_counted_wrong() -> None:
    src = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    src[..., :2] = True  # 8 source returns
    true = src.clone()
    true[..., 0, 0] = False  # the sensor drops one
    out = src.clone()
    out[..., :, 2] = True  # 4 births, none right
    got = probe.paired_counts(src, out, true)
    assert got == {"births": 0.5, "drops": 0.0, "births_right": 0.0, "iou": 7 / 12}
