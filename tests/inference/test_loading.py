"""Tests for volo_adapt/inference/loading.py: one generator out of a checkpoint or an exported file."""

from __future__ import annotations

import pathlib
import zipfile

import pytest
import torch

from volo_adapt.directions import Direction, DirectionError
from volo_adapt.errors import CheckpointError
from volo_adapt.inference import load_generator, translate_tensors
from volo_adapt.inference.export import export_generator


def _out(loaded, seed=0):
    x = torch.rand(1, 4, 16, 16, generator=torch.Generator().manual_seed(seed))
    return translate_tensors(loaded, x)


def _ckpt_dict(path):
    return torch.load(path, weights_only=False)


def test_smoke_checkpoint_loads_eval_mode_with_codec_and_size_multiple(tiny_ckpt):
    g = load_generator(tiny_ckpt)
    assert not g.module.training
    assert all(not p.requires_grad for p in g.module.parameters())
    assert g.size_multiple == 8 and g.requires_square and g.min_size == 16
    assert (g.codec.near, g.codec.far) == (g.config.data.near, g.config.data.far)
    assert g.direction == "a2b" and g.weights == "raw" and g.kind == "checkpoint"


def test_directions_load_different_generators_matching_the_stored_weights(tiny_ckpt):
    a2b, b2a = load_generator(tiny_ckpt, "a2b"), load_generator(tiny_ckpt, "b2a")
    assert not torch.equal(_out(a2b), _out(b2a))
    state = _ckpt_dict(tiny_ckpt)["state_dict"]
    for k, v in b2a.module.state_dict().items():
        assert torch.equal(v, state[f"gen_b2a.{k}"]), k


def test_ema_weights_used_when_present_and_no_ema_gives_raw(ema_ckpt):
    ema = load_generator(ema_ckpt)
    raw = load_generator(ema_ckpt, use_ema=False)
    assert (ema.weights, raw.weights) == ("ema", "raw")
    state = _ckpt_dict(ema_ckpt)["state_dict"]
    k = next(iter(ema.module.state_dict()))
    assert torch.equal(ema.module.state_dict()[k], state[f"gen_a2b_ema.{k}"])
    assert torch.equal(raw.module.state_dict()[k], state[f"gen_a2b.{k}"])


def test_exported_pt_is_weights_only_and_loads_back_identically(tiny_ckpt, tmp_path):
    g = load_generator(tiny_ckpt, "b2a")
    path = export_generator(g, tmp_path / "gen.pt", "pt")
    d = torch.load(path, weights_only=True)
    assert d["format"] == "volo-generator" and d["version"] == 1 and d["direction"] == "b2a"
    assert d["normalisation"]["size_multiple"] == 8
    back = load_generator(path, "b2a")
    assert back.kind == "export"
    assert torch.equal(_out(back), _out(g))
    with pytest.raises(CheckpointError, match="direction b2a, not a2b"):
        load_generator(path, "a2b")


def test_lightning_objects_fall_back_only_for_volo_checkpoints(tiny_ckpt, tmp_path):
    ckpt = _ckpt_dict(tiny_ckpt)
    ckpt["hyper_parameters"] = {"root": pathlib.PurePosixPath("/runs/x")}  # not weights_only-loadable
    with_volo = tmp_path / "lightning.ckpt"
    torch.save(ckpt, with_volo)
    with pytest.raises(Exception):  # noqa: B017 - precondition: the plain weights_only load refuses it
        torch.load(with_volo, weights_only=True)
    assert load_generator(with_volo).weights == "raw"
    del ckpt["volo"]
    foreign = tmp_path / "foreign.ckpt"
    torch.save(ckpt, foreign)
    with pytest.raises(CheckpointError, match="not a volo-adapt checkpoint"):
        load_generator(foreign)


def test_exception_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_generator(tmp_path / "nope.ckpt")


def test_exception_not_a_checkpoint(tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"hello, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_generator(junk)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_generator(z)
    t = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), t)
    with pytest.raises(CheckpointError, match="holds a Tensor"):
        load_generator(t)


def test_exception_without_volo_entry(tiny_ckpt, tmp_path):
    ckpt = _ckpt_dict(tiny_ckpt)
    del ckpt["volo"]
    p = tmp_path / "plain.ckpt"
    torch.save(ckpt, p)
    with pytest.raises(CheckpointError, match="without the 'volo' entry"):
        load_generator(p)


def test_exception_future_format(tiny_ckpt, tmp_path):
    ckpt = _ckpt_dict(tiny_ckpt)
    ckpt["volo"]["format"] = 99
    p = tmp_path / "future.ckpt"
    torch.save(ckpt, p)
    with pytest.raises(CheckpointError, match="format 99 is newer"):
        load_generator(p)


def test_exception_missing_direction_and_missing_ema(tiny_ckpt, ema_ckpt, tmp_path):
    ckpt = _ckpt_dict(tiny_ckpt)
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if not k.startswith("gen_b2a.")}
    p = tmp_path / "one_way.ckpt"
    torch.save(ckpt, p)
    assert load_generator(p, "a2b").direction == "a2b"
    with pytest.raises(CheckpointError, match="no generator for direction b2a"):
        load_generator(p, "b2a")
    ckpt = _ckpt_dict(ema_ckpt)
    ckpt["state_dict"] = {k: v for k, v in ckpt["state_dict"].items() if "_ema." not in k}
    p = tmp_path / "no_ema.ckpt"
    torch.save(ckpt, p)
    with pytest.raises(CheckpointError, match="no gen_a2b_ema"):
        load_generator(p)
    assert load_generator(p, use_ema=False).weights == "raw"


def test_exception_weights_do_not_match_config(tiny_ckpt, tmp_path):
    ckpt = _ckpt_dict(tiny_ckpt)
    ckpt["volo"]["config"]["model"]["gen_base"] = 8
    p = tmp_path / "wider.ckpt"
    torch.save(ckpt, p)
    with pytest.raises(CheckpointError, match="shape mismatch") as e:
        load_generator(p)
    assert "\n" not in str(e.value)
    ckpt = _ckpt_dict(tiny_ckpt)
    ckpt["volo"]["config"]["model"]["gen_kwargs"] = {"levels": 2, "dropout": 0.0}
    p = tmp_path / "shallower.ckpt"
    torch.save(ckpt, p)
    with pytest.raises(CheckpointError, match="unexpected"):
        load_generator(p)


def test_exception_bad_direction_in_the_library_s_own_terms(tiny_ckpt):
    with pytest.raises(DirectionError, match="^direction 'x2y': must be one of a2b, b2a$"):
        load_generator(tiny_ckpt, "x2y")
    assert load_generator(tiny_ckpt, Direction.B2A).direction == "b2a"


def test_factory_checkpoint_has_the_training_format(tiny_ckpt, ckpt_factory):
    ckpt = _ckpt_dict(tiny_ckpt)
    assert ckpt["volo"]["format"] == 1 and "optimizer_states" in ckpt
    prefixes = {k.split(".", 1)[0] for k in ckpt["state_dict"]}
    assert prefixes == {"gen_a2b", "gen_b2a", "critic_a", "critic_b"}
    assert ckpt_factory.tiny_config().model.gen_base == 4
