"""translate and eval spell devices as train does (Lightning's --accelerator/--devices); --device still works."""

from __future__ import annotations

import pytest
import torch

from cli.devices import inference_device
from volo_adapt.errors import VoloError


@pytest.mark.parametrize(
    "accelerator, devices, expected",
    [("auto", "auto", "auto"), ("cpu", "auto", "cpu"), ("cpu", "1", "cpu"), ("gpu", "auto", "cuda:0"),
     ("cuda", "1", "cuda:0"), ("gpu", "1,", "cuda:1"), ("gpu", "[2]", "cuda:2"), ("auto", "3,", "cuda:3"),
     ("mps", "auto", "mps"), ("CPU", "auto", "cpu")],
)
def test_lightning_spellings_map_to_one_torch_device(accelerator, devices, expected):
    assert inference_device(accelerator, devices, None) == expected


def test_the_older_device_spelling_still_works_alone():
    assert inference_device("auto", "auto", "cuda:1") == "cuda:1"
    with pytest.raises(VoloError, match="either --device or --accelerator/--devices"):
        inference_device("cpu", "auto", "cpu")


@pytest.mark.parametrize(
    "accelerator, devices, message",
    [("tpu", "auto", "--accelerator 'tpu': must be one of"), ("gpu", "2", "--devices '2': translate and eval run on"),
     ("gpu", "0,1", "--devices '0,1'"), ("cpu", "1,", "--accelerator cpu has one device")],
)
def test_more_than_one_device_or_an_unknown_accelerator_is_one_line(accelerator, devices, message):
    with pytest.raises(VoloError, match=message.replace("(", r"\(").replace("[", r"\[")):
        inference_device(accelerator, devices, None)


def test_translate_takes_accelerator_and_devices(tmp_path, capsys):
    from tests.cli.conftest import run_volo
    from tests.inference.ckpt_factory import make_checkpoint
    from volo_adapt.data.formats import write_depth, write_rgb

    src = tmp_path / "src"
    for i in range(2):
        write_rgb(src / "rgb" / f"{i}.png", torch.rand(3, 16, 16))
        write_depth(src / "depth" / f"{i}.png", torch.full((1, 16, 16), 1.5))
    ckpt = make_checkpoint(tmp_path / "run.ckpt")
    code, _, stderr = run_volo(["translate", str(src), str(tmp_path / "out"), "--ckpt", str(ckpt),
                                "--accelerator", "cpu", "--devices", "1"], capsys)
    assert code == 0, stderr
    assert sorted(p.name for p in (tmp_path / "out" / "depth").iterdir()) == ["0.png", "1.png"]
    code, _, stderr = run_volo(["translate", str(src), str(tmp_path / "out2"), "--ckpt", str(ckpt),
                                "--accelerator", "tpu"], capsys)
    assert code == 2 and "--accelerator 'tpu'" in stderr
