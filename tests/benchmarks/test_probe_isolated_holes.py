"""benchmarks/probe_isolated_holes.py: each isolated hole of the output is counted under exactly one cause."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "probe_isolated_holes.py"
spec = importlib.util.spec_from_file_location("probe_isolated_holes", PATH)
probe = importlib.util.module_from_spec(spec)
spec.loader.exec_module(probe)


def test_each_isolated_hole_has_one_cause() -> None:
    valid_in = torch.ones(1, 1, 16, 16, dtype=torch.bool)
    valid_in[..., 4, 4] = False  # an input pinhole the output keeps
    valid_out = valid_in.clone()
    valid_out[..., 8, 8] = False  # dropped by the keep logit
    valid_out[..., 11, 11] = False  # lost another way (keep logit says keep)
    keep = torch.ones(1, 1, 16, 16)
    keep[..., 8, 8] = -1.0
    out = probe.classify_holes(valid_in, valid_out, keep)
    per_hole = 1000.0 / 256
    assert abs(out["holes"] - 3 * per_hole) < 1e-9
    assert abs(out["no_input_return"] - per_hole) < 1e-9 and abs(out["of_which_input_holes"] - per_hole) < 1e-9
    assert abs(out["keep_logit_drop"] - per_hole) < 1e-9 and abs(out["lost_otherwise"] - per_hole) < 1e-9
    no_keep = probe.classify_holes(valid_in, valid_out, None)
    assert no_keep["keep_logit_drop"] == 0 and abs(no_keep["lost_otherwise"] - 2 * per_hole) < 1e-9
