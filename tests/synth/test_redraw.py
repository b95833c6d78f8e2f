"""Redrawing a zoo sensor on a data set's own scenes (volo_adapt/synth/redraw.py, ``synthesize(sensor_draw=k)``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from volo_adapt.data.formats import read_depth
from volo_adapt.errors import DataError
from volo_adapt.synth.dataset_writer import write_synth_dataset
from volo_adapt.synth.pipeline import synthesize
from volo_adapt.synth.redraw import drawn_sensor_of, write_sensor_redraw
from volo_adapt.synth.zoo import make_sensor


@pytest.fixture(scope="module")
def tof_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("tof") / "set"
    write_synth_dataset(out, n_train=2, n_test=3, size=24, seed=5, sensor=make_sensor("tof", 5))
    return out


def _depths(folder):
    return np.stack([read_depth(p) for p in sorted((folder / "depth").glob("*.png"))])


def test_draw_zero_is_the_data_sets_own_draw_and_other_draws_differ():
    sensor = make_sensor("tof", 2)
    own = synthesize(2, "paired", [0, 1], 24, "B", target=sensor)
    again = synthesize(2, "paired", [0, 1], 24, "B", target=sensor, sensor_draw=0)
    other = synthesize(2, "paired", [0, 1], 24, "B", target=sensor, sensor_draw=1)
    assert torch.equal(own.depth_b, again.depth_b) and torch.equal(own.rgb_b, again.rgb_b)
    assert not torch.equal(own.depth_b, other.depth_b)
    assert not torch.equal(own.rgb_b, other.rgb_b)


def test_redraw_measures_the_same_scenes_with_other_noise(tof_set, tmp_path):
    m, sensor = drawn_sensor_of(tof_set)
    assert sensor.name == "tof" and m["seed"] == 5
    info = write_sensor_redraw(tof_set, tmp_path / "r1", draw=1)
    assert info["draw"] == 1 and json.loads((tmp_path / "r1" / "redraw.json").read_text())["draw"] == 1
    truth = _depths(tof_set / "paired" / "B").astype(np.float64)
    redraw = _depths(tmp_path / "r1" / "paired").astype(np.float64)
    assert truth.shape == redraw.shape and (tmp_path / "r1" / "test" / "rgb" / "000002.png").is_file()
    both = (truth > 0) & (redraw > 0)
    assert both.sum() > 50
    assert not np.array_equal(truth, redraw)
    # same scenes: where both return, depths agree to within the sensor's noise (mm), unlike another scene's
    same = np.median(np.abs(truth - redraw)[both])
    shifted = np.abs(truth - np.roll(redraw, 1, axis=0))[both & (np.roll(redraw, 1, axis=0) > 0)]
    assert same < 0.25 * np.median(shifted)


def test_redraw_refuses_draw_zero_a_set_without_sensor_and_a_used_folder(tof_set, tmp_path):
    with pytest.raises(DataError, match="draw must be >= 1"):
        write_sensor_redraw(tof_set, tmp_path / "r0", draw=0)
    plain = tmp_path / "plain"
    write_synth_dataset(plain, n_train=1, n_test=1, size=16, seed=0)
    with pytest.raises(DataError, match="no zoo sensor recorded"):
        write_sensor_redraw(plain, tmp_path / "r", draw=1)
    used = tmp_path / "used"
    used.mkdir()
    (used / "x").write_text("keep")
    with pytest.raises(DataError, match="not empty"):
        write_sensor_redraw(tof_set, used, draw=1)
    assert (used / "x").read_text() == "keep"
    with pytest.raises(DataError, match="not a readable"):
        write_sensor_redraw(tmp_path / "missing", tmp_path / "r2", draw=1)
