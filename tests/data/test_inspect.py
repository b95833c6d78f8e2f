"""Tests for `volo data inspect` (volo_adapt/data/inspect*.py, cli/inspect.py) on zoo sensors of known truth.

Tiny sets (64 px, 16 images) come from the synthetic benchmark's library API; depth is stored as 16-bit
millimetre PNG where the test says so (as `volo data synth` writes it), else kept in memory.
"""

from __future__ import annotations

import json

import pytest
import torch

from cli.main import run
from volo_adapt.data.formats import write_depth, write_rgb, write_rgbd_array
from volo_adapt.data.inspect import inspect_samples, inspect_source
from volo_adapt.data.inspect_holes import HoleAccumulator, label_components
from volo_adapt.data.sample import RGBDSample
from volo_adapt.errors import DataError
from volo_adapt.synth.camera import PinholeCamera
from volo_adapt.synth.pipeline import synthesize
from volo_adapt.synth.sensor_b import SensorBConfig
from volo_adapt.synth.zoo import make_sensor

SIZE, N = 64, 16


def _render(sensor: str | None, seed: int, pins: list[str] | None = None, n: int = N):
    """``(rgb, depth, params)`` of ``n`` images; ``sensor None`` = clean sensor A (source domain)."""
    drawn = make_sensor(sensor or "tof", seed, pins)
    with torch.inference_mode():
        b = synthesize(seed, "B/train", list(range(n)), SIZE, "AB", target=drawn)
    if sensor is None:
        return b.rgb_a, b.depth_a, None
    return b.rgb_b, b.depth_b, drawn.params


def _folder(tmp_path, rgb, depth):
    """Write a folder source (8-bit PNG colour, 16-bit mm PNG depth); return its spec."""
    for d in ("rgb", "depth"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    for i in range(rgb.shape[0]):
        write_rgb(tmp_path / "rgb" / f"{i:04d}.png", rgb[i])
        write_depth(tmp_path / "depth" / f"{i:04d}.png", depth[i])
    return str(tmp_path)


def _in_memory(rgb, depth):
    return inspect_samples((RGBDSample.from_depth(rgb[i], depth[i]) for i in range(rgb.shape[0])), "mem")


@pytest.mark.parametrize(("seed", "upsample"), [(0, "nearest"), (5, "nearest"), (0, "bilinear"), (5, "bilinear")])
def test_phone_lidar_grid_fraction(seed, upsample):
    rgb, depth, p = _render("phone_lidar", seed, [f"upsample={upsample}"])
    g = _in_memory(rgb, torch.round(depth * 1000) / 1000).grid
    assert g.detected, g
    for frac in (g.fraction_x, g.fraction_y):
        assert abs(frac - p.grid_res) <= 1.5 / SIZE, (frac, p.grid_res)


@pytest.mark.parametrize(("seed", "pins"), [(1, []), (3, []), (6, []), (7, ["grid_res=0.2"]), (9, ["grid_res=0.18"])])
def test_phone_lidar_bicubic_grid(seed, pins):
    """Bicubic upsampling (no kink in the 2nd difference; the 4th-difference comb finds it), 32 images."""
    rgb, depth, p = _render("phone_lidar", seed, ["upsample=bicubic", *pins], n=32)
    g = _in_memory(rgb, torch.round(depth * 1000) / 1000).grid
    cells = max(2, round(p.grid_res * SIZE))
    assert g.detected and (g.cells_x, g.cells_y) == (cells, cells) and g.order == 4, (g, cells)


@pytest.mark.parametrize(("zones", "upsample"), [(4, "bilinear"), (4, "nearest"), (5, "bilinear"), (5, "nearest"),
                                                  (8, "bilinear")])
def test_zone_tof_coarse_grid(zones, upsample):
    """A multizone ToF's few zones per side (below MIN_CELLS: the clean-comb test) and a finer one."""
    rgb, depth, _ = _render("zone_tof", 0, [f"zones={zones}", f"upsample={upsample}"])
    g = _in_memory(rgb, depth).grid
    assert g.detected and (g.cells_x, g.cells_y) == (zones, zones), g


@pytest.mark.parametrize("sensor", ["tof", "active_stereo", "filtered_depth"])
@pytest.mark.parametrize("seed", [0, 1])
def test_native_resolution_sensors_have_no_grid(sensor, seed):
    """Sensors that measure every pixel: no grid, coarse or fine (the clean-comb test must not fire on scenes)."""
    rgb, depth, _ = _render(sensor, seed)
    assert not _in_memory(rgb, torch.round(depth * 1000) / 1000).grid.detected


def test_chance_peaks_one_cell_apart_are_no_grid():
    """An active-stereo set whose weak peaks (confidence 12) fell at 7 and 6 cells with agreeing phases."""
    rgb, depth, _ = _render("active_stereo", 2, n=64)
    g = _in_memory(rgb, torch.round(depth * 1000) / 1000).grid
    assert not g.detected and g.confidence > 8.0, g  # a peak above MIN_CONFIDENCE was there, and refused


def test_five_zone_tof_is_not_its_fourth_difference_harmonic():
    """A 5-zone nearest ToF (default draw of seed 28): the 4th difference peaked at 25 = 5 x 5 (confidence 67)."""
    rgb, depth, p = _render("zone_tof", 28, n=64)
    g = _in_memory(rgb, torch.round(depth * 1000) / 1000).grid
    assert p.zones == 5 and g.detected and (g.cells_x, g.cells_y, g.order) == (5, 5, 2), g


def test_builtin_lidar_grid_from_png_folder_and_json(tmp_path):
    rgb, depth, _ = _render("builtin_lidar", 0)
    report = inspect_source(_folder(tmp_path, rgb, depth), max_samples=N)
    assert report.samples == N and report.skipped == 0 and report.size_px == (SIZE, SIZE)
    assert report.grid.detected
    assert abs(report.grid.fraction_x - SensorBConfig().lidar_res) <= 1.5 / SIZE
    assert report.quantisation.step_m == pytest.approx(0.001, rel=0.01)
    data = json.loads(report.to_json())
    assert data["grid"]["cells_x"] == report.grid.cells_x and data["noise"]["bins"]


def test_active_stereo_quantisation_in_disparity(tmp_path):
    rgb, depth, p = _render("active_stereo", 0)
    f_native_b = PinholeCamera.from_fov(SIZE, SIZE).fx * p.native_width_px / SIZE * p.baseline_m
    truth = p.disparity_step_px / f_native_b  # step of 1/z, 1/m
    q_float = _in_memory(rgb, depth).quantisation
    assert q_float.step_m is None  # float depth on a disparity lattice: no metric step
    assert q_float.disparity_step_per_m == pytest.approx(truth, rel=0.01)
    q_png = inspect_source(_folder(tmp_path, rgb, depth)).quantisation  # stored as mm: both lattices
    assert q_png.step_m == pytest.approx(0.001, rel=0.01)
    assert q_png.disparity_step_per_m == pytest.approx(truth, rel=0.02)


@pytest.mark.parametrize("sensor", ["tof", "active_stereo"])
def test_noise_grows_with_range(sensor):
    rgb, depth, _ = _render(sensor, 1)
    noise = _in_memory(rgb, torch.round(depth * 1000) / 1000).noise
    assert len(noise.bins) >= 4 and noise.grows_with_range
    near, far = noise.bins[0], noise.bins[-1]
    assert far.z_m > near.z_m and far.sigma_m > 1.5 * near.sigma_m


def test_clean_sensor_a_has_no_grid_and_only_the_file_step(tmp_path):
    rgb, depth, _ = _render(None, 0)
    report = inspect_source(_folder(tmp_path, rgb, depth))
    assert not report.grid.detected and report.grid.fraction_x is None
    assert report.quantisation.step_m == pytest.approx(0.001, rel=0.01)
    assert report.quantisation.disparity_step_per_m is None
    assert 0.0 < report.depth.valid_fraction < 1.0 and report.depth.min_m > 0.3


def _hole_pattern() -> torch.Tensor:
    """A 40x40 square at 2 m on an empty 64x64 background with three 2x2 holes and one 4x4 hole inside."""
    d = torch.zeros(64, 64)
    d[12:52, 12:52] = 2.0
    for y, x in ((20, 20), (20, 40), (40, 20)):
        d[y:y + 2, x:x + 2] = 0.0
    d[36:40, 36:40] = 0.0
    return d


def test_hole_statistics_on_a_known_pattern(tmp_path):
    for i in range(2):
        write_rgbd_array(tmp_path / f"{i}.npy", torch.full((3, 64, 64), 0.5), _hole_pattern())
    h = inspect_source(str(tmp_path)).holes
    assert h.holes_per_image == 2 * 4 / 2
    assert h.hole_size_hist["2-4"] == 6 and h.hole_size_hist["5-16"] == 2
    assert h.hole_size_px["max"] == 16 and h.hole_size_px["p50"] == 4
    inside = (36 - 4) ** 2  # square minus the 2 px band at its border
    assert h.invalid_inside == pytest.approx(28 / inside, abs=0.005)  # enclosed holes belong to the inside
    assert h.invalid_background == 1.0 and h.area_background > 0.5
    assert 0.0 < h.invalid_silhouette < 0.5


def test_label_components_and_band_regions():
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[1:3, 1:3] = True
    mask[5:7, 4:8] = True
    lab = label_components(mask)
    assert len(lab[mask].unique()) == 2 and (lab[~mask] == 0).all()
    acc = HoleAccumulator()
    acc.add(torch.zeros(8, 8))  # no valid pixel: all background, no enclosed hole
    r = acc.result()
    assert r.holes_per_image == 0 and r.invalid_inside is None and r.area_background == 1.0


def test_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="max_samples 0: must be >= 1"):
        inspect_source(str(tmp_path), max_samples=0)
    with pytest.raises(DataError, match="no such file"):
        inspect_source(str(tmp_path / "missing"))


def _volo(argv, capsys):
    with pytest.raises(SystemExit) as e:
        run(argv)
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def test_cli_table_json_and_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    rgb, depth, _ = _render("builtin_lidar", 0)
    spec = _folder(tmp_path / "b", rgb, depth)
    code, out, err = _volo(["data", "inspect", spec, "--max-samples", "8", "--json", str(tmp_path / "r.json")], capsys)
    assert code == 0, err
    for row in ("native grid", "depth step", "noise law", "invalid at silhouettes", "colour noise std"):
        assert row in out
    assert json.loads((tmp_path / "r.json").read_text())["samples"] == 8
    code, out, err = _volo(["data", "inspect", str(tmp_path / "nope")], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "no such file" in err
    code, _, err = _volo(["data", "inspect", spec, "--max-samples", "0"], capsys)
    assert code == 2 and "--max-samples 0" in err
