"""`volo train --devices/--num-nodes/--strategy`: plumbing into the config and the Trainer; fsdp refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import run
from volo_adapt.config import load_config
from volo_adapt.errors import ConfigError
from volo_adapt.training.run import _strategy


def _run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        run(args)
    out = capsys.readouterr()
    return int(e.value.code or 0), out.out + out.err


def test_fsdp_is_refused_in_one_line(capsys):
    with pytest.raises(ConfigError, match="train.strategy: fsdp is not supported, use ddp"):
        load_config("smoke", ["train.strategy=fsdp"])
    code, out = _run(["train", "--config", "smoke", "--strategy", "fsdp", "--dry-run"], capsys)
    assert code == 2 and out.count("\n") == 1 and "use ddp" in out and "Traceback" not in out


def test_num_nodes_and_strategy_reach_the_config_and_trainer(capsys, monkeypatch):
    code, out = _run(["train", "--config", "smoke", "--devices", "2", "--num-nodes", "3", "--strategy", "ddp",
                      "--dry-run"], capsys)
    assert code == 0 and "num_nodes: 3" in out and "strategy: ddp" in out and "devices: '2'" in out
    assert _strategy(load_config("smoke", ["train.num_nodes=2"])) == "ddp_find_unused_parameters_true"
    assert _strategy(load_config("smoke", ["train.devices=1"])) == "auto"
    with pytest.raises(ConfigError, match="train.num_nodes: must be >= 1"):
        load_config("smoke", ["train.num_nodes=0"])

    from volo_adapt.training import trainer_setup

    seen = {}

    class FakeTrainer:  # records what make_trainer passes on; no process group is started
        def __init__(self, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(trainer_setup.L, "Trainer", FakeTrainer)
    cfg = load_config("smoke", ["train.num_nodes=4", "train.devices=2", "train.strategy=ddp"])
    trainer_setup.make_trainer(cfg, Path("."), [], False)
    assert seen["num_nodes"] == 4 and seen["devices"] == 2 and seen["strategy"] == "ddp_find_unused_parameters_true"
