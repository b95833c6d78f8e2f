"""``probe_depth_c2st.py`` at toy size: the hybrids are what they say, and the probe runs end to end."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import probe_depth_c2st  # noqa: E402

from tests.inference import ckpt_factory  # noqa: E402
from volo_adapt.data.sample import DepthCodec  # noqa: E402
from volo_adapt.synth.dataset_writer import write_synth_dataset  # noqa: E402
from volo_adapt.synth.zoo import make_sensor  # noqa: E402

CODEC = DepthCodec()


def _image(depth: torch.Tensor) -> torch.Tensor:
    """``(1, 4, H, W)`` network tensor of ``depth`` metres (0 = no return), grey colour where it returns."""
    d = CODEC.encode(depth).view(1, 1, *depth.shape) * (depth > 0)
    return torch.cat([0.5 * (d > 0).expand(1, 3, *depth.shape).float(), d], dim=1)


def test_hybrids_take_band_and_interior_from_the_named_sides():
    source_depth = torch.zeros(8, 8)
    source_depth[:, :6] = 2.0  # a surface on the left six columns
    truth_depth = source_depth.clone()
    truth_depth[:, :6] = 2.1  # the sensor's value everywhere on the surface ...
    truth_depth[:, 6] = 1.0   # ... and one new return beside it
    source, truth = _image(source_depth), _image(truth_depth)
    h = probe_depth_c2st.hybrids(source, truth, CODEC.gap)
    assert torch.equal(h["truth"], truth[:, -1:]) and torch.equal(h["source (identity)"], source[:, -1:])
    band = h["truth values in the 1 px band, source inside"][0, 0, 0]
    # column 5 (next to the no-return column 6) and the new return take the truth; columns 0-4 keep the source's
    assert torch.equal(band[:5], source[0, -1, 0, :5]) and torch.equal(band[5:7], truth[0, -1, 0, 5:7])
    inside = h["source values in the 1 px band, truth inside"][0, 0, 0]
    assert torch.equal(inside[:5], truth[0, -1, 0, :5]) and torch.equal(inside[5], source[0, -1, 0, 5])
    assert torch.equal(inside[6], truth[0, -1, 0, 6])  # a new return has no source value: the truth's stays
    assert torch.equal(h["source values, truth mask"][0, 0, 0, 6], truth[0, -1, 0, 6])  # the truth's new return
    changes = probe_depth_c2st.band_changes(source, truth, CODEC.gap, k=1)
    assert changes["band: kept"] == 1.0 and changes["interior: kept"] == 1.0
    assert changes["new returns per source return"] == pytest.approx(8 / 48)  # column 6 against columns 0-5
    assert changes["band: mean change"] == pytest.approx(changes["interior: mean change"], rel=1e-4)
    assert changes["band: mean change"] > 0  # 2.1 m encodes above 2.0 m


def test_valid_median_ignores_no_return_neighbours():
    depth = torch.zeros(1, 1, 5, 5)
    depth[..., :, :3] = 0.6
    depth[..., 2, 1] = 0.9  # one outlier inside the surface
    out = probe_depth_c2st.valid_median5(depth, depth > 0)
    assert float(out[0, 0, 2, 1]) == pytest.approx(0.6)  # the outlier is removed
    assert float(out[0, 0, 0, 2]) == pytest.approx(0.6)  # the silhouette is not pulled towards 0
    assert float(out[..., 3:].abs().sum()) == 0.0  # no-return pixels stay 0


def test_probe_end_to_end_on_a_toy_zoo_set_with_a_checkpoint(tmp_path):
    ckpt = ckpt_factory.make_checkpoint(tmp_path / "tiny.ckpt", ckpt_factory.tiny_config(image_size=24))
    data = tmp_path / "phone_lidar"
    write_synth_dataset(data, n_train=2, n_test=4, size=24, seed=3, sensor=make_sensor("phone_lidar", 3))
    rows = probe_depth_c2st.main([str(data), "--size", "24", "--repeats", "1", "--run", f"{data}={ckpt}",
                                  "--out", str(tmp_path / "out")])
    row = rows["phone_lidar"]
    assert {"C2ST depth, truth", "C2ST depth, source (identity)", "C2ST depth, model", "model, band: kept"} <= set(row)
    assert all(0 <= v <= 1 for k, v in row.items() if k.startswith("C2ST"))
    assert json.loads((tmp_path / "out" / "depth_c2st.json").read_text()) == rows
    assert "| C2ST depth, truth |" in (tmp_path / "out" / "depth_c2st.md").read_text()
    with pytest.raises(SystemExit, match="not a volo data synth folder"):
        probe_depth_c2st.main([str(tmp_path), "--out", str(tmp_path / "out2")])
    with pytest.raises(SystemExit, match="expected DATA=CKPT"):
        probe_depth_c2st.main([str(data), "--run", f"{data}={tmp_path / 'missing.ckpt'}", "--out", str(tmp_path)])


def test_a_checkpoint_run_reads_the_sets_with_the_checkpoints_own_codec(tmp_path):
    """The sets are encoded as the checkpoint's run encoded its data, whatever codec the caller passes."""
    ckpt = ckpt_factory.make_checkpoint(tmp_path / "far.ckpt", ckpt_factory.tiny_config(image_size=24, far=12.0))
    data = tmp_path / "tof"
    write_synth_dataset(data, n_train=2, n_test=4, size=24, seed=5, sensor=make_sensor("tof", 5))
    own = probe_depth_c2st.probe(data, DepthCodec(far=12.0), 24, 1, ckpt)
    passed_default = probe_depth_c2st.probe(data, DepthCodec(), 24, 1, ckpt)
    truth_keys = [k for k in own if k.startswith("truth, ")]
    assert truth_keys and all(own[k] == pytest.approx(passed_default[k], nan_ok=True) for k in truth_keys)
    default = probe_depth_c2st.probe(data, DepthCodec(), 24, 1)  # no checkpoint: the codec passed in
    assert any(own[k] != pytest.approx(default[k], nan_ok=True) for k in truth_keys)
