"""Tests for volo_adapt/training/callbacks.py (health monitor) and samples.py (sample grids)."""

from __future__ import annotations

import torch

from volo_adapt.data.sample import DepthCodec
from volo_adapt.training.callbacks import HealthMonitor
from volo_adapt.training.samples import COLUMNS, colorize_depth, make_grid, save_png


class _FakeModule:
    def __init__(self) -> None:
        self.batches_done = 0
        self.last_stats: dict[str, float] = {}
        self.logged: dict[str, float] = {}

    def log_dict(self, d, **kwargs) -> None:
        self.logged.update(d)


def _feed(monitor: HealthMonitor, module: _FakeModule, stats: dict[str, float], n: int) -> None:
    for _ in range(n):
        module.batches_done += 1
        module.last_stats = stats
        monitor.on_train_batch_end(None, module, None, None, 0)


def test_health_monitor_reports_a_winning_critic_and_collapse_once():
    warnings: list[str] = []
    mon, mod = HealthMonitor(warmup=5, warn=warnings.append), _FakeModule()
    healthy = {"fake_std_A": 0.2, "fake_std_B": 0.2, "d_loss_A": 0.5, "d_loss_B": 0.5}
    _feed(mon, mod, healthy, 10)
    assert warnings == [] and mod.logged["health/collapse"] == 0.0
    _feed(mon, mod, {**healthy, "d_loss_B": 0.0, "fake_std_B": 0.0}, 400)
    assert mod.logged["health/critic_B_stuck"] == 1.0 and mod.logged["health/critic_A_stuck"] == 0.0
    assert mod.logged["health/collapse"] == 1.0
    assert len(warnings) == 2 and any("critic_b" in w for w in warnings) and any("collapse" in w for w in warnings)


def test_blank_fakes_of_inputs_without_returns_are_not_a_collapse():
    """Zone ToF sets have many images with no return at all (subject beyond range): under validity "depth" their
    translations are blank. The monitor judges only the variation the inputs had (module.last_stats' source_*)."""
    warnings: list[str] = []
    mon, mod = HealthMonitor(warmup=5, warn=warnings.append), _FakeModule()
    blank_inputs = {"fake_std_A": 0.0, "fake_std_B": 0.2, "d_loss_A": 0.5, "d_loss_B": 0.5, "fake_batch_spread": 0.1,
                    "source_std_A": 0.0, "source_std_B": 0.2, "source_batch_spread": 0.1}
    _feed(mon, mod, blank_inputs, 20)
    assert warnings == [] and mod.logged["health/collapse"] == 0.0
    _feed(mon, mod, {**blank_inputs, "source_std_A": 0.3}, 1)  # inputs had variation, fakes none: flagged ...
    assert mod.logged["health/collapse"] == 1.0 and warnings == []  # ... but one batch is no verdict
    _feed(mon, mod, blank_inputs, 1)  # (a range-limited sensor's far scene translates to blank: normal)
    _feed(mon, mod, {**blank_inputs, "source_std_A": 0.3}, mon.collapse_patience)  # persistent: a collapse
    assert len(warnings) == 1 and "in a row" in warnings[0]


def test_depth_colour_map_blacks_out_invalid_pixels():
    codec = DepthCodec(near=0.25, far=5.0, gap=0.05)
    enc = torch.tensor([[[[0.0, 0.05, 1.0]]]])
    rgb = colorize_depth(enc, codec)
    assert rgb.shape == (1, 3, 1, 3)
    assert torch.all(rgb[..., 0] == 0) and rgb[..., 1].sum() > 0 and rgb[..., 2].sum() > 0
    assert not torch.equal(rgb[..., 1], rgb[..., 2])  # near and far get different colours


def test_grid_layout_and_png(tmp_path):
    codec = DepthCodec(near=0.25, far=5.0, gap=0.05)
    images = {c: torch.rand(3, 4, 16, 16) for c in COLUMNS}
    grid = make_grid(images, codec, max_items=2)
    assert grid.shape == (3, 2 * 2 * 16 + 3 * 2, 6 * 16 + 5 * 2)
    path = save_png(grid, tmp_path / "samples" / "step_000001.png")
    assert path.is_file() and not list(tmp_path.rglob("*.partial*"))
