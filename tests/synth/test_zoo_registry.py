"""Sensor-zoo registry, parameter draws and pins, manifest entries, the CLI (`--sensor`, `--list-sensors`)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from cli.main import run
from volo_adapt.errors import ConfigError
from volo_adapt.synth.dataset_writer import MANIFEST, write_synth_dataset
from volo_adapt.synth.zoo import DEFAULT_SENSOR, FAMILIES, describe_sensors, make_sensor
from volo_adapt.synth.zoo.params import param_fields

UNITS = {"m", "px", "deg", "fraction", "dimensionless", "choice"}


def _images(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def test_registry_has_five_families_besides_the_default():
    assert DEFAULT_SENSOR == "builtin_lidar" and DEFAULT_SENSOR in FAMILIES
    assert len([f for f in FAMILIES.values() if f.randomised]) >= 4 and len(FAMILIES) >= 5


@pytest.mark.parametrize("name", [n for n, f in FAMILIES.items() if f.randomised])
def test_params_documented_and_drawn_within_their_ranges(name):
    cls = FAMILIES[name].params
    for f in dataclasses.fields(cls):
        assert f.metadata["unit"] in UNITS and f.metadata["effect"], f.name
    for seed in range(5):
        p = make_sensor(name, seed).params
        for f in param_fields(cls):
            v, draw = getattr(p, f.name), f.metadata["draw"]
            assert (v in draw) if isinstance(v, str) else draw[0] <= v <= draw[1], (f.name, v)
    assert make_sensor(name, 0).params == make_sensor(name, 0).params
    assert make_sensor(name, 0).params != make_sensor(name, 1).params


def test_pinning_one_parameter_keeps_the_other_draws():
    free, pinned = make_sensor("tof", 7), make_sensor("tof", 7, ["ambiguity_m=2.5"])
    assert pinned.params.ambiguity_m == 2.5 and pinned.pinned == ("ambiguity_m",)
    assert dataclasses.replace(free.params, ambiguity_m=2.5) == pinned.params
    assert make_sensor("zone_tof", 0, ["zones=6"]).params.zones == 6
    assert make_sensor("builtin_lidar", 3).params == make_sensor("builtin_lidar", 9).params  # fixed
    assert make_sensor("builtin_lidar", 0, ["max_range_m=3"]).params.max_range_m == 3.0


@pytest.mark.parametrize(("name", "pins", "match"), [
    ("nope", [], "unknown sensor 'nope'"),
    ("tof", ["foo=1"], "unknown parameter 'foo'"),
    ("tof", ["ambiguity_m=abc"], "ambiguity_m=abc: must be a number"),
    ("tof", ["ambiguity_m=-1"], r"ambiguity_m=-1: must be in \[0.1, 1000\] m"),
    ("zone_tof", ["zones=2.5"], "must be an integer"),
    ("phone_lidar", ["upsample=cubic"], "must be one of nearest, bilinear"),
    ("phone_lidar", ["grid_res"], "expected KEY=VALUE"),
    ("builtin_lidar", ["lidar_res=2"], "sensor builtin_lidar: invalid parameters"),
])
def test_errors_are_one_line_config_errors(name, pins, match):
    with pytest.raises(ConfigError, match=match) as e:
        make_sensor(name, 0, pins)
    assert "\n" not in str(e.value)


def test_describe_sensors_lists_units_and_ranges():
    rows = {r["name"]: r for r in describe_sensors()}
    assert set(rows) == set(FAMILIES)
    tof = {p["name"]: p for p in rows["tof"]["params"]}
    assert tof["ambiguity_m"]["unit"] == "m" and tof["ambiguity_m"]["draw"] == "[3, 8]"
    assert {p["draw"] for p in rows["builtin_lidar"]["params"]} == {"fixed"}
    assert all(p["unit"] for p in rows["builtin_lidar"]["params"])


def test_default_output_unchanged_and_manifest_records_the_sensor(tmp_path):
    kw = {"n_train": 1, "n_test": 1, "size": 24, "seed": 3}
    default = write_synth_dataset(tmp_path / "default", **kw)
    builtin = write_synth_dataset(tmp_path / "builtin", sensor=make_sensor("builtin_lidar", 3), **kw)
    assert "sensor" not in default and "sensor" not in json.loads((tmp_path / "default" / MANIFEST).read_text())
    assert _images(tmp_path / "default") == _images(tmp_path / "builtin")  # byte-identical images
    assert builtin["sensor"]["name"] == "builtin_lidar" and builtin["config"] == default["config"]
    tof = write_synth_dataset(tmp_path / "tof", sensor=make_sensor("tof", 3, ["ambiguity_m=4"]), **kw)
    on_disk = json.loads((tmp_path / "tof" / MANIFEST).read_text())
    assert on_disk["sensor"] == json.loads(json.dumps(tof["sensor"]))
    assert on_disk["sensor"]["params"]["ambiguity_m"] == 4.0 and on_disk["sensor"]["pinned"] == ["ambiguity_m"]
    assert on_disk["sensor"]["params"] == dataclasses.asdict(make_sensor("tof", 3, ["ambiguity_m=4"]).params)
    a_default, a_tof = _images(tmp_path / "default"), _images(tmp_path / "tof")
    assert {k: v for k, v in a_default.items() if k.startswith("A/")} == {k: v for k, v in a_tof.items()
                                                                          if k.startswith("A/")}
    assert a_default["B/train/depth/000000.png"] != a_tof["B/train/depth/000000.png"]
    assert "zoo sensor tof" in (tmp_path / "tof" / "README.txt").read_text()


def test_cli_list_sensors(capsys):
    with pytest.raises(SystemExit) as e:
        run(["data", "synth", "--list-sensors"])
    assert e.value.code in (0, None)
    text = capsys.readouterr().out
    for name in FAMILIES:
        assert name in text
    assert "ambiguity_m" in text and "(m)" in text


def test_cli_sensor_and_params(tmp_path, capsys):
    out = tmp_path / "set"
    with pytest.raises(SystemExit) as e:
        run(["data", "synth", str(out), "--n-train", "1", "--n-test", "1", "--size", "24", "--seed", "2",
             "--sensor", "active_stereo", "--sensor-param", "baseline_m=0.08"])
    assert e.value.code == 0
    m = json.loads((out / MANIFEST).read_text())
    assert m["sensor"]["name"] == "active_stereo" and m["sensor"]["params"]["baseline_m"] == 0.08
    assert m["sensor"]["param_seed"] == 2


@pytest.mark.parametrize(("args", "match"), [
    (["--sensor", "nope"], "--sensor nope: unknown sensor"),
    (["--sensor", "tof", "--sensor-param", "foo=1"], "--sensor-param: sensor tof: unknown parameter 'foo'"),
    (["--sensor", "tof", "--sensor-param", "flying_prob=2"], "--sensor-param: sensor tof: flying_prob=2"),
    ([], "OUT: missing output folder"),
])
def test_cli_errors_name_the_option(tmp_path, capsys, args, match):
    out = [] if not args else [str(tmp_path / "x")]
    with pytest.raises(SystemExit) as e:
        run(["data", "synth", *out, "--n-train", "1", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert match in " ".join(err.split()) and not (tmp_path / "x").exists()
