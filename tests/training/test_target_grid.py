"""``model.sensor.native_grid: auto`` (volo_adapt/training/target_grid.py): the target's native grid is estimated
once at the start of a run, stored with it, kept on resume, and rebuilds the same networks from the checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.training.conftest import make_npy_domain, smoke_config
from volo_adapt.config import SensorHeadConfig, load_config
from volo_adapt.training.target_grid import cell_at_training_size, estimate_target_cell

CELLS, SIZE = 5, 40  # a 5 x 5 zone sensor at 40 px: 8 px cells (a coarse grid, below inspect's MIN_CELLS)


def make_zone_domain(root: Path, n: int = 6, seed: int = 3) -> Path:
    """``n`` samples whose depth is a 5 x 5 grid of noisy depths upsampled by nearest neighbour (blocks)."""
    from volo_adapt.data.formats import write_rgbd_array

    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        zones = 2.0 + 0.1 * torch.rand(1, 1, CELLS, CELLS, generator=g)  # steps below inspect_grid.EDGE_REL
        depth = F.interpolate(zones, size=(SIZE, SIZE), mode="nearest")[0]
        write_rgbd_array(root / f"z{i:02d}.npy", torch.rand(3, SIZE, SIZE, generator=g), depth)
    return root


@pytest.fixture(scope="module")
def zone_data(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("zone_rgbd")
    return str(make_npy_domain(root / "A", 6, 1.0, seed=1)), str(make_zone_domain(root / "B"))


def test_cell_at_training_size_follows_the_loaders_shorter_side_resize():
    assert cell_at_training_size(1 / 8, 1 / 8, 40, 40, 32) == pytest.approx(6.4)
    assert cell_at_training_size(0.25, 0.25, 256, 192, 96) == pytest.approx(2.0)


def test_estimate_finds_the_zones_and_nothing_on_native_depth(zone_data):
    found = estimate_target_cell([zone_data[1]], 32)
    assert found.cell_px == pytest.approx(SIZE / CELLS * 32 / SIZE) and "5 x 5 cells" in found.note
    native = estimate_target_cell([zone_data[0]], 32)
    assert native.cell_px == 0.0 and "none detected" in native.note


def test_reach_is_raised_to_one_cell_only_when_a_grid_was_found():
    s = SensorHeadConfig(reach=0.05)
    assert s.effective_reach(64) == 0.05
    assert SensorHeadConfig(reach=0.05, native_cell_px=16.0).effective_reach(64) == 0.25
    assert SensorHeadConfig(reach=0.05, native_cell_px=2.0).effective_reach(64) == 0.05
    assert SensorHeadConfig(reach=-1.0, native_cell_px=16.0).effective_reach(64) == -1.0


def test_geometry_term_is_relaxed_only_for_cells_larger_than_its_window():
    from volo_adapt.config import LossConfig
    from volo_adapt.training.objective import CycleObjective

    assert SensorHeadConfig().geometry_scale == 1.0
    assert SensorHeadConfig(native_cell_px=2.46).geometry_scale == 1.0
    assert SensorHeadConfig(native_cell_px=16.0).geometry_scale == pytest.approx((5 / 16) ** 2)
    objective = CycleObjective(None, LossConfig(geometry_weight=2.0), None, geometry_scale=0.25)  # type: ignore[arg-type]
    assert float(objective.weighted({"geo_B": torch.tensor(1.0), "cycle_B": torch.tensor(0.0)})) == 0.5


def test_auto_stores_the_estimate_keeps_it_on_resume_and_checkpoints_rebuild(zone_data, tmp_path):
    from volo_adapt.training.checkpoint import load_module
    from volo_adapt.training.module import VoloGANModule
    from volo_adapt.training.run import train

    over = ("model.sensor.native_grid=auto", "train.max_steps=2", "train.sample_every_n_steps=0")
    first = train(smoke_config(zone_data, *over), tmp_path / "run", progress=False)
    saved = (tmp_path / "run" / "config.yaml").read_text()
    assert "native_cell_px: 6.4" in saved
    assert first.module.gen_a2b.native_grid is not None and first.module.gen_a2b.native_grid.cell_px == 6.4
    # resumed on other data (fine-tuning): the run keeps the estimate it started with
    other = (zone_data[0], zone_data[0])
    more = train(smoke_config(other, *over[:1], "train.max_steps=3", "train.sample_every_n_steps=0"),
                 tmp_path / "run", resume="auto", progress=False)
    assert more.batches_done == 3 and more.module.gen_a2b.native_grid.cell_px == 6.4
    rebuilt = load_module(VoloGANModule, more.last_checkpoint, map_location="cpu")  # strict: same networks
    assert rebuilt.cfg.model.sensor.native_cell_px == 6.4


def test_off_estimates_nothing(zone_data, tmp_path):
    from volo_adapt.training.run import train

    res = train(smoke_config(zone_data, "train.max_steps=1", "train.sample_every_n_steps=0"), tmp_path / "r",
                progress=False)
    assert "native_cell_px: 0.0" in (tmp_path / "r" / "config.yaml").read_text()
    assert not any("native depth grid" in n for n in res.notes)


def test_an_unreadable_target_says_the_estimate_read_it(tmp_path):
    from volo_adapt.errors import DataError

    for d in ("rgb", "depth"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "0.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"no readable samples.*native_grid: auto"):
        estimate_target_cell([str(tmp_path)], 32)


def test_bad_values_are_one_line_config_errors():
    from volo_adapt.errors import ConfigError

    with pytest.raises(ConfigError, match="model.sensor.native_grid"):
        load_config("smoke", ["model.sensor.native_grid=yes"])
    with pytest.raises(ConfigError, match="model.sensor.native_cell_px"):
        load_config("smoke", ["model.sensor.native_cell_px=-2"])
