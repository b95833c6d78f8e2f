"""Untrusted files: generator weights load with ``weights_only=True``, so a file that pickles an arbitrary object is
refused and its code never runs; a checkpoint from another model, format or version fails with a message that says
what does not match.

Code under test: volo_adapt/inference/loading.py (load_generator) and the resume check of volo_adapt/training
(checkpoint.check_resume_compatible via train(..., resume=...)).
"""

from __future__ import annotations

import importlib.util
import io
from pathlib import Path

import pytest
import torch

from volo_adapt.errors import CheckpointError

_spec = importlib.util.spec_from_file_location(
    "volo_inference_ckpt_factory", Path(__file__).parents[1] / "inference" / "ckpt_factory.py")
factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factory)


class Payload:
    """Unpickling this calls ``io.open(marker, "w")``: the marker file appears if the pickle is executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (io.open, (str(self.marker), "w"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return factory.make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny.ckpt", factory.tiny_config())


@pytest.fixture(scope="module")
def exported(ckpt) -> dict:
    from volo_adapt.inference import load_generator
    from volo_adapt.inference.loading import export_payload

    return export_payload(load_generator(ckpt))


def _one_line(e: BaseException, path: Path) -> str:
    msg = str(e)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


@pytest.mark.parametrize("disguise", ["plain", "volo_strings", "ckpt_layout"])
def test_exported_pt_with_a_pickled_object_is_refused_not_executed(tmp_path, exported, disguise):
    """An exported ``pt`` generator that also pickles an object is refused and the object's code never runs, even
    when the file carries every string a volo-adapt checkpoint has (``volo``, ``volo_version``, ``state_dict``)."""
    from volo_adapt.inference import load_generator

    marker = tmp_path / "EXECUTED"
    payload = dict(exported)
    payload["extra"] = Payload(marker)
    if disguise in ("volo_strings", "ckpt_layout"):
        payload["volo"] = {"format": 1, "volo_version": "0.1.0", "config": payload["config"]}
    if disguise == "ckpt_layout":
        payload.pop("format")
        payload["state_dict"] = {f"gen_a2b.{k}": v for k, v in payload["state_dict"].items()}
    path = tmp_path / "generator.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    _one_line(e.value, path)
    assert not marker.exists(), "the pickled object was executed"


def test_clean_exported_pt_loads_weights_only(tmp_path, exported):
    """The control: the same payload without the object loads (with ``torch.load(weights_only=True)``)."""
    from volo_adapt.inference import load_generator

    path = tmp_path / "generator.pt"
    torch.save(exported, path)
    torch.load(path, weights_only=True)
    assert load_generator(path).kind == "export"


def test_resume_from_a_checkpoint_with_a_pickled_object_is_refused_not_executed(tmp_path):
    """``volo train --resume X``: X is read weights-only before Lightning touches it."""
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    cfg = load_config("smoke")
    marker = tmp_path / "EXECUTED"
    obj = torch.load(factory.make_checkpoint(tmp_path / "good.ckpt", cfg), weights_only=True)
    obj["callbacks"] = {"evil": Payload(marker)}
    path = tmp_path / "evil.ckpt"
    torch.save(obj, path)
    with pytest.raises(CheckpointError) as e:
        train(cfg, tmp_path / "run", resume=str(path), progress=False)
    _one_line(e.value, path)
    assert not marker.exists()


# ------------------------------------------------------------------------------- another model or version


def _rewrite(src: Path, dst: Path, edit) -> Path:
    obj = torch.load(src, weights_only=True)
    edit(obj)
    torch.save(obj, dst)
    return dst


@pytest.mark.parametrize(
    ("name", "edit", "fragments"),
    [
        ("other_width", lambda c: c["volo"]["config"]["model"].update(gen_base=8),
         ["do not match", "shape mismatch", "gen_base=8"]),
        ("other_arch", lambda c: c["volo"]["config"]["model"].update(generator="resnet9", gen_kwargs={}),
         ["do not match", "resnet9", "missing"]),
        ("future_format", lambda c: c["volo"].update(format=99), ["format 99", "newer"]),
        ("future_config", lambda c: c["volo"]["config"].update(version=2), ["config version 2"]),
        ("unknown_key", lambda c: c["volo"]["config"]["model"].update(new_option=1), ["model.new_option"]),
        ("no_volo", lambda c: c.pop("volo"), ["without the 'volo' entry"]),
        ("no_b2a", lambda c: [c["state_dict"].pop(k) for k in list(c["state_dict"]) if k.startswith("gen_b2a.")],
         ["no generator for direction b2a"]),
    ],
)
def test_mismatching_checkpoint_says_what_does_not_match(tmp_path, ckpt, name, edit, fragments):
    from volo_adapt.inference import load_generator

    path = _rewrite(ckpt, tmp_path / f"{name}.ckpt", edit)
    with pytest.raises(CheckpointError) as e:
        load_generator(path, direction="b2a")
    msg = _one_line(e.value, path)
    for f in fragments:
        assert f in msg, (f, msg)


def test_exported_pt_from_the_future_or_other_direction(tmp_path, exported):
    from volo_adapt.inference import load_generator

    path = tmp_path / "g.pt"
    torch.save({**exported, "version": 7}, path)
    with pytest.raises(CheckpointError, match="version 7 is newer"):
        load_generator(path)
    torch.save(exported, path)
    with pytest.raises(CheckpointError, match="not b2a \\(load it as direction a2b\\)"):
        load_generator(path, direction="b2a")


def test_not_a_checkpoint_at_all(tmp_path):
    from volo_adapt.inference import load_generator

    for name, data in {"text.ckpt": b"hello", "empty.pt": b"", "zip.pt": b"PK\x03\x04garbage"}.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError) as e:
            load_generator(path)
        _one_line(e.value, path)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a volo-adapt checkpoint"):
        load_generator(tmp_path / "list.pt")


def test_resume_with_a_mismatching_model_config_names_each_difference(tmp_path):
    """``volo train --resume`` with a checkpoint of another model: refused before training, every differing
    ``model.*`` key named with both values."""
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    other = factory.make_checkpoint(tmp_path / "other.ckpt", factory.tiny_config())  # patchgan critic, no kwargs
    cfg = load_config("smoke")
    with pytest.raises(CheckpointError) as e:
        train(cfg, tmp_path / "run", resume=str(other), progress=False)
    msg = _one_line(e.value, other)
    assert "model.critic: checkpoint 'patchgan' vs config 'vologan'" in msg
    assert "model.critic_kwargs" in msg
    future = _rewrite(other, tmp_path / "future.ckpt", lambda c: c["volo"].update(format=5))
    with pytest.raises(CheckpointError, match="format 5"):
        train(cfg, tmp_path / "run", resume=str(future), progress=False)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        train(cfg, tmp_path / "run", resume=str(tmp_path / "missing.ckpt"), progress=False)
