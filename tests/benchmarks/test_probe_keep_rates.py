"""``probe_keep_rates.py`` at toy size: the depth rule's valid mask against a zoo sensor's paired truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import probe_keep_rates  # noqa: E402

from volo_adapt.data.sample import DepthCodec  # noqa: E402
from volo_adapt.synth.dataset_writer import write_synth_dataset  # noqa: E402
from volo_adapt.synth.zoo import make_sensor  # noqa: E402

CODEC = DepthCodec()


def test_the_rule_iou_of_a_rate_is_the_mask_after_dropping_bins_below_one_half():
    depth = torch.tensor([[1.0, 1.0, 4.0, 4.0]])  # two near returns, two far ones
    source = CODEC.encode(depth).view(1, 1, 1, 4).expand(1, 4, 1, 4)
    truth = source.clone()
    truth[..., 3] = 0.0  # the sensor lost one far return
    keep_all = torch.ones(8)
    assert probe_keep_rates.rule_iou(source, truth, keep_all, CODEC.gap) == pytest.approx(3 / 4)
    far = int(((CODEC.encode(torch.tensor(4.0)) - CODEC.gap) / (1 - CODEC.gap) * 8).long())
    drop_far = keep_all.clone()
    drop_far[far] = 0.4
    assert probe_keep_rates.rule_iou(source, truth, drop_far, CODEC.gap) == pytest.approx(2 / 3)
    assert probe_keep_rates.true_keep_rate(source, truth, CODEC.gap, 8)[far] == 0.5


def test_probe_end_to_end_on_a_toy_zoo_set(tmp_path):
    data = tmp_path / "tof"
    write_synth_dataset(data, n_train=3, n_test=3, size=24, seed=2, sensor=make_sensor("tof", 2))
    rows = probe_keep_rates.main([str(data), "--size", "24", "--out", str(tmp_path / "out")])
    row = rows["tof"]
    assert set(row) >= {"identity", "estimate", "true rate, 8 bins", "rings", "estimate + rings",
                        "estimate by depth and nearer surface, 4 px", "true rate by depth and nearer surface, 1 px"}
    assert all(0 <= v <= 1 for k, v in row.items() if k != "rings (count)") and row["rings (count)"] >= 0
    assert json.loads((tmp_path / "out" / "keep_rates.json").read_text()) == rows
    assert "| tof |" in (tmp_path / "out" / "keep_rates.md").read_text()
    with pytest.raises(SystemExit, match="not a volo data synth folder"):
        probe_keep_rates.main([str(tmp_path), "--out", str(tmp_path / "out2")])


def test_c2st_of_the_rule_scores_the_untouched_source_the_rule_and_random_drops(tmp_path):
    data = tmp_path / "zone_tof"
    write_synth_dataset(data, n_train=4, n_test=4, size=16, seed=3, sensor=make_sensor("zone_tof", 3))
    row = probe_keep_rates.main([str(data), "--size", "16", "--c2st", "--c2st-repeats", "1",
                                 "--out", str(tmp_path / "out")])["zone_tof"]
    judged = ("identity", "rule", "random at true rate")
    assert {f"C2ST {c}, {j}" for c in ("rgbd", "depth") for j in judged} <= set(row)
    assert all(0 <= row[f"C2ST rgbd, {j}"] <= 1 for j in judged)


def test_dropped_blanks_every_channel_of_a_lost_return():
    x = torch.full((1, 4, 2, 2), 0.5)
    keep = torch.tensor([[[[True, False], [True, True]]]])
    out = probe_keep_rates.dropped(x, keep)
    assert torch.all(out[0, :, 0, 1] == 0) and torch.all(out[0, :, 1, :] == 0.5)


def test_the_mask_with_rings_adds_the_rings_around_the_source_returns():
    depth = torch.zeros(1, 1, 5, 5)
    depth[..., 2, 2] = 2.0  # one return in the middle
    source = CODEC.encode(depth).expand(1, 4, 5, 5)
    truth_depth = depth.clone()
    truth_depth[..., 1:4, 2] = truth_depth[..., 2, 1:4] = 2.0  # the sensor returns its first ring (a plus)
    truth = CODEC.encode(truth_depth).expand(1, 4, 5, 5)
    keep_all = torch.ones(8)
    assert probe_keep_rates.mask_iou(source, truth, keep_all, 0, CODEC.gap) == pytest.approx(1 / 5)
    assert probe_keep_rates.mask_iou(source, truth, keep_all, 1, CODEC.gap) == pytest.approx(1.0)
    assert probe_keep_rates.mask_iou(source, truth, keep_all, 2, CODEC.gap) == pytest.approx(5 / 13)
    assert probe_keep_rates.estimated_rings(source, truth, CODEC.gap) == 1


def test_a_far_return_beside_a_nearer_surface_is_classed_apart_and_ruled_by_its_class():
    depth = torch.tensor([[1.0, 4.0, 0.0, 4.0, 4.0]])  # a near return, a far one beside it, a hole, two far ones
    source = CODEC.encode(depth).view(1, 1, 1, 5).expand(1, 4, 1, 5)
    classes = probe_keep_rates.nearer_surface(source, CODEC.gap, 1)
    assert classes.view(-1).tolist() == [0, 1, 0, 0, 0]  # the hole is not a nearer surface
    assert probe_keep_rates.nearer_surface(source, CODEC.gap, 2).view(-1).tolist() == [0, 1, 0, 0, 0]
    truth = source.clone()
    truth[..., 3:] = 0.0  # the sensor loses the far returns with no nearer surface, keeps the one beside it
    index = probe_keep_rates.class_index(source, CODEC.gap, 1)
    rate = probe_keep_rates.true_rate_of(index, source, truth, CODEC.gap, 16).view(8, 2)
    far = int(((CODEC.encode(torch.tensor(4.0)) - CODEC.gap) / (1 - CODEC.gap) * 8).long())
    assert rate[far].tolist() == [0.0, 1.0]
    assert probe_keep_rates.class_rule_iou(source, truth, rate, 1, CODEC.gap) == pytest.approx(1.0)
    assert probe_keep_rates.rule_iou(source, truth, probe_keep_rates.true_keep_rate(source, truth, CODEC.gap, 8),
                                     CODEC.gap) == pytest.approx(2 / 4)  # by depth alone the far bin keeps 1 of 3
    estimate = probe_keep_rates.estimated_keep_rate_by_class(source, truth, CODEC.gap, 1)  # truth as the target set
    assert estimate[far, 0] < 0.05 and estimate[far, 1] > 0.95


def test_moves_first_reads_a_far_deficit_as_moved_while_nearer_excess_lasts():
    near, far = CODEC.encode(torch.tensor(1.0)), CODEC.encode(torch.tensor(4.0))
    source = torch.stack([near, near, far, far]).view(1, 1, 1, 4).expand(1, 4, 1, 4)
    moved = torch.stack([near, near, near, far]).view(1, 1, 1, 4).expand(1, 4, 1, 4)  # one far return moved nearer
    lost = torch.stack([near, near, far * 0, far * 0]).view(1, 1, 1, 4).expand(1, 4, 1, 4)  # both far ones lost
    far_bin = int(((far - CODEC.gap) / (1 - CODEC.gap) * 8).long())
    assert probe_keep_rates.estimated_keep_rate(source, moved, CODEC.gap, 8, 0.01)[far_bin] < 0.6
    assert probe_keep_rates.moves_first_keep_rate(source, moved, CODEC.gap)[far_bin] == pytest.approx(1.0)
    assert probe_keep_rates.moves_first_keep_rate(source, lost, CODEC.gap)[far_bin] < 0.05  # no excess to cover it
