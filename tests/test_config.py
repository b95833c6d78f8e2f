"""Tests for volo_adapt/config.py: strict keys, types, ranges and overrides."""

from __future__ import annotations

import pytest

from volo_adapt.config import RunConfig, load_config
from volo_adapt.errors import ConfigError


def test_defaults_round_trip_through_dict():
    cfg = load_config(None)
    assert RunConfig.from_dict(cfg.to_dict()) == cfg


def test_overrides_parse_yaml_values():
    cfg = load_config(None, ["loss.cycle_weight=5", "data.data_a=[x, y]", "train.logger=csv"])
    assert cfg.loss.cycle_weight == 5.0 and cfg.data.data_a == ["x", "y"] and cfg.train.logger == "csv"


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("loss.cyc=1", "loss.cyc"),
        ("nosection.x=1", "nosection"),
        ("train.max_epochs=abc", "train.max_epochs"),
        ("train.max_epochs=0", "train.max_epochs"),
        ("data.far=0.1", "data.far"),
        ("model.generator=unet9000", "model.generator"),
        ("loss.channel_weights=[1,1]", "loss.channel_weights"),
        ("data.hflip=3", "data.hflip"),
    ],
)
def test_bad_keys_and_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(None, [override])


def test_a_yaml_boolean_for_a_text_option_says_how_yaml_read_it():
    with pytest.raises(ConfigError, match=r"model.sensor.validity: expected a string, got False \(YAML reads on/off"):
        load_config(None, ["model.sensor.validity=off"])
    assert load_config(None, ["model.sensor.native_grid=none"]).model.sensor.native_grid == "none"


def test_unknown_preset_lists_presets(tmp_path):
    with pytest.raises(ConfigError, match="no such file or preset"):
        load_config(tmp_path / "missing.yaml")


def test_non_mapping_yaml_is_refused(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)


def test_configs_are_frozen_and_replace_makes_a_changed_copy():
    import dataclasses

    cfg = load_config(None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.max_steps = 3  # type: ignore[misc]
    other = cfg.replace(data={"data_a": ["x"]}, model={"sensor": {"noise": True}})
    assert other.data.data_a == ["x"] and other.model.sensor.noise and other.train == cfg.train
    assert cfg.data.data_a == [] and not cfg.model.sensor.noise, "the original is unchanged"


def test_with_overrides_type_checks_and_validates_the_copy():
    cfg = load_config(None)
    assert cfg.with_overrides({"train.max_steps": 7, "data.data_a": ["x"]}).train.max_steps == 7
    for values, key in (({"train.max_steps": 0}, "train.max_steps"), ({"data.hflip": "yes"}, "data.hflip")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            cfg.with_overrides(values)


def test_values_come_after_set_overrides():
    cfg = load_config(None, ["train.max_steps=0"], values={"train.max_steps": 5})
    assert cfg.train.max_steps == 5, "validated once, after every change"


def test_choices_are_the_owning_modules_names(monkeypatch):
    from volo_adapt.models import registry
    from volo_adapt.models.resnet_generator import ResnetGenerator

    with pytest.raises(ConfigError, match=r"^model\.generator: must be one of resnet9, vologan; got 'tiny'$"):
        load_config(None, ["model.generator=tiny"])
    monkeypatch.setitem(registry._GENERATORS, "tiny", ResnetGenerator)
    assert load_config(None, ["model.generator=tiny"]).model.generator == "tiny"
