"""Tests for volo_adapt/inference/hub.py and model_card.py: the Hugging Face Hub layout, written and read back.

No network anywhere: Hub ids are resolved from a temporary cache laid out as ``snapshot_download`` reads it, with
``HF_HUB_OFFLINE=1`` and sockets that refuse to connect."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from volo_adapt import Translator
from volo_adapt.errors import CheckpointError, OptionError, VoloError
from volo_adapt.inference import export_generator, load_generator, translate_tensors
from volo_adapt.inference.hub import HUB_FORMAT, HUB_VERSION, load_hub_generator, write_hub_folder
from volo_adapt.inference.model_card import read_eval_report
from volo_adapt.metrics.evaluate import EvalReport
from volo_adapt.metrics.registry import MetricResult
from volo_adapt.metrics.report import write_json

st = pytest.importorskip("safetensors.torch", reason="the optional 'hub' extra is not installed")
hf_constants = pytest.importorskip("huggingface_hub.constants", reason="the optional 'hub' extra is not installed")

REV = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def gen(ema_ckpt):
    return load_generator(ema_ckpt, "b2a")


@pytest.fixture(scope="module")
def folder(gen, tmp_path_factory):
    return export_generator(gen, tmp_path_factory.mktemp("hub") / "tiny-b2a", "hub")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _x(b=2, side=16, seed=0):
    return torch.rand(b, 4, side, side, generator=torch.Generator().manual_seed(seed))


def _hub_cache(root: Path, folder: Path, repo: str = "volo-org/tiny-b2a") -> Path:
    """Lay ``folder`` out as ``snapshot_download``'s cache (``models--ORG--NAME/snapshots/REV`` + ``refs/main``)."""
    store = root / ("models--" + repo.replace("/", "--"))
    snap = store / "snapshots" / REV
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        shutil.copy(f, snap / f.name)
    (store / "refs").mkdir()
    (store / "refs" / "main").write_text(REV)
    return root


def _copy(folder: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(folder, tmp_path / "copy"))


# ------------------------------------------------------------------------------------------------ round trip


def test_export_load_translate_equals_the_checkpoint_exactly(gen, folder):
    hub = load_hub_generator(folder)
    assert (hub.direction, hub.weights, hub.kind, hub.source) == ("b2a", "ema", "hub", folder)
    assert hub.size_multiple == gen.size_multiple and hub.codec == gen.codec
    assert hub.config.to_dict() == gen.config.to_dict()
    for side in (16, 24):
        x = _x(2, side)
        assert torch.equal(translate_tensors(hub, x), translate_tensors(gen, x))
    rgb = np.random.default_rng(0).integers(0, 256, (2, 21, 30, 3), dtype=np.uint8)
    depth = np.random.default_rng(1).uniform(0.0, 6.0, (2, 21, 30)).astype(np.float32)
    ours = Translator.from_pretrained(folder, device="cpu", precision="32")(rgb, depth, seed=3)
    ref = Translator(gen, precision="32")(rgb, depth, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref, strict=True))


def test_folder_files_and_config_keys(gen, folder):
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert not list(folder.parent.glob(".*partial*"))
    meta = json.loads((folder / "config.json").read_text())
    assert {"format", "format_version", "volo_version", "config", "direction", "weights", "codec",
            "normalisation", "generator", "size_multiple"} <= set(meta)
    assert (meta["format"], meta["format_version"], meta["direction"], meta["weights"]) == (HUB_FORMAT, HUB_VERSION,
                                                                                          "b2a", "ema")
    assert meta["codec"] == {"near": gen.codec.near, "far": gen.codec.far, "depth_gap": gen.codec.gap,
                             "depth_scale": gen.config.data.depth_scale, "channels": 4}
    assert meta["config"] == gen.config.to_dict() and meta["normalisation"]["size_multiple"] == 8
    assert meta["source"] == "ema.ckpt"  # a name, not the exporting machine's path
    tensors = st.load_file(str(folder / "model.safetensors"))
    state = gen.module.state_dict()
    assert set(tensors) == set(state) and all(torch.equal(tensors[k], state[k].cpu()) for k in state)


def test_loading_never_unpickles(folder, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading a hub folder")

    for obj, name in ((torch, "load"), (torch.serialization, "load"), (pickle, "load"), (pickle, "loads"),
                      (pickle, "Unpickler")):
        monkeypatch.setattr(obj, name, refuse)
    assert load_hub_generator(folder).weights == "ema"
    assert Translator.from_pretrained(str(folder), device="cpu").loaded.kind == "hub"


# ------------------------------------------------------------------------------------------------ Hub ids


def test_hub_id_offline_from_the_cache(folder, gen, tmp_path, monkeypatch, no_network):
    cache = _hub_cache(tmp_path / "hub", folder)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    # huggingface_hub reads the variables when first imported: point its constants at them for this process too
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    hub = load_hub_generator("volo-org/tiny-b2a")
    assert hub.source == cache / "models--volo-org--tiny-b2a" / "snapshots" / REV
    assert torch.equal(translate_tensors(hub, _x()), translate_tensors(gen, _x()))
    assert Translator.from_pretrained("volo-org/tiny-b2a", device="cpu", revision="main").loaded.direction == "b2a"
    with pytest.raises(CheckpointError, match=r"^volo-org/absent: no such folder, and the Hugging Face Hub cannot"):
        load_hub_generator("volo-org/absent")


@pytest.mark.slow
def test_hub_id_offline_in_a_fresh_process_from_the_environment_alone(folder, tmp_path):
    """What a user does: HF_HOME and HF_HUB_OFFLINE set before Python starts; no network reachable."""
    _hub_cache(tmp_path / "home" / "hub", folder)
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise AssertionError('network access attempted')\n"
        "socket.socket.connect = socket.socket.connect_ex = socket.create_connection = refuse\n"
        "from volo_adapt import Translator\n"
        "t = Translator.from_pretrained('volo-org/tiny-b2a', device='cpu')\n"
        "print(t.loaded.direction, t.loaded.weights, t.loaded.source.name)\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["b2a", "ema", REV]


# ------------------------------------------------------------------------------------------------ model card


def _eval_report(path: Path) -> Path:
    results = {
        "c2st_rgbd_acc": {"model": MetricResult({"acc": 0.55}), "identity": MetricResult({"acc": 0.97}),
                          "floor": MetricResult({"acc": 0.5})},
        "depth_histogram_w1": {"model": MetricResult({"w1_mm": 12.5}), "identity": MetricResult({"w1_mm": 40.0})},
        "paired_depth_mae_mm": {"model": MetricResult({"mae_mm": float("nan")})},
    }
    info = {"checkpoint": "/home/someone/runs/x/checkpoints/last.ckpt", "global_step": 42,
            "counts": {"source": 10, "target": 12, "paired": 4}, "eval_size": [64, 64]}
    return write_json(EvalReport(results, {}, info), path)


def test_model_card_without_evaluation(folder):
    card = (folder / "README.md").read_text()
    front, body = card.split("---\n")[1], card.split("---\n", 2)[2]
    assert "library_name: volo-adapt" in front and "license: apache-2.0" in front and "- volo-adapt" in front
    assert "B (sensor) -> A (source/synthetic)" in body and "`b2a`" in body and "ema weights" in body
    assert 'Translator.from_pretrained("YOUR_ORG/tiny-b2a")' in body
    assert "volo train --config config.yaml" in body and "gen_base: 4" in body
    assert "No evaluation was attached" in body


def test_model_card_with_evaluation(gen, tmp_path):
    report = read_eval_report(_eval_report(tmp_path / "report.json"))
    out = write_hub_folder(gen, tmp_path / "m", eval_report=report, license="other")
    card = (out / "README.md").read_text()
    assert "license: other" in card and "No evaluation was attached" not in card
    assert "`volo eval` of `last.ckpt` (step 42): 10 source / 12 target images / 4 pairs at 64x64." in card
    assert "| C2ST RGB-D accuracy (0.5 = indistinguishable) | lower | 0.55 | 0.97 | 0.5 | n/a |" in card
    assert "| depth histogram W1, mm | lower | 12.5 | 40 | n/a | n/a | < identity |" in card
    assert "paired depth MAE" not in card  # NaN for the model: no row
    line = json.dumps(json.loads((tmp_path / "report.json").read_text()))
    (tmp_path / "metrics.jsonl").write_text('{"volo_eval_format": 1, "results": {}}\n' + line + "\n")
    assert read_eval_report(tmp_path / "metrics.jsonl")["global_step"] == 42  # the last line


def test_eval_report_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "other.json").write_text('{"accuracy": 1}')
    for name, match in (("missing.json", "cannot read"), ("bad.json", "not JSON"),
                        ("other.json", "not a volo eval report")):
        with pytest.raises(OptionError, match=rf"^eval_report .*{name}: {match}") as e:
            read_eval_report(tmp_path / name)
        assert e.value.option == "eval_report"


# ------------------------------------------------------------------------------------------------ writing


def test_non_empty_folder_needs_force_which_keeps_other_files(gen, folder, tmp_path):
    out = _copy(folder, tmp_path)
    (out / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    with pytest.raises(OptionError, match=r"^force: needed to write into .*copy, which is not empty") as e:
        write_hub_folder(gen, out)
    assert e.value.option == "force"
    raw = load_generator(gen.source, "a2b", use_ema=False)
    write_hub_folder(raw, out, force=True)
    assert (out / ".gitattributes").exists() and not list(out.glob(".*partial*"))
    back = load_hub_generator(out)
    assert (back.direction, back.weights, back.source) == ("a2b", "raw", out)
    assert torch.equal(translate_tensors(back, _x()), translate_tensors(raw, _x()))
    (tmp_path / "empty").mkdir()
    assert load_hub_generator(write_hub_folder(gen, tmp_path / "empty")).weights == "ema"  # an empty folder is fine
    (tmp_path / "f").write_text("x")
    with pytest.raises(OptionError, match="is a file"):
        write_hub_folder(gen, tmp_path / "f")


def test_without_the_extra_one_line_names_it(gen, folder, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(VoloError, match=r"^the hub format needs the optional 'hub' extra .*volo-adapt\[hub\]"):
        export_generator(gen, tmp_path / "m", "hub")
    with pytest.raises(VoloError, match=r"^loading a Hub-layout model needs the optional 'hub' extra"):
        Translator.from_pretrained(folder, device="cpu")
    assert not (tmp_path / "m").exists()


# ------------------------------------------------------------------------------------------------ load errors


def _edit_config(folder: Path, **changes) -> None:
    meta = json.loads((folder / "config.json").read_text())
    meta.update(changes)
    (folder / "config.json").write_text(json.dumps(meta))


def test_load_errors_are_one_line(folder, tmp_path):
    with pytest.raises(CheckpointError, match=r"nowhere/at/all: no such folder$"):
        load_hub_generator(tmp_path / "nowhere" / "at" / "all")
    with pytest.raises(CheckpointError, match="is a file; expected a Hub-layout folder"):
        load_hub_generator(folder / "config.json")
    out = _copy(folder, tmp_path)
    cases = [
        (lambda: _edit_config(out, format_version=HUB_VERSION + 1), "format_version 2 is newer than this volo-adapt"
                                                                   " reads \\(1\\); upgrade volo-adapt"),
        (lambda: (out / "config.json").write_text('{"model_type": "bert"}'), "not a volo-adapt model config"
                                                                             " \\(format None"),
        (lambda: (out / "config.json").write_text("{"), "config.json: not a readable JSON file"),
        (lambda: _edit_config(out, direction="c2d"), "config.json: direction 'c2d': must be one of"),
        (lambda: (out / "config.json").unlink(), "copy: no config.json"),
        (lambda: (out / "model.safetensors").unlink(), "copy: no model.safetensors"),
        (lambda: (out / "model.safetensors").write_bytes(b"garbage"), "model.safetensors: not a readable safetensors"),
    ]
    for spoil, match in cases:
        shutil.rmtree(out)
        _copy(folder, tmp_path)
        spoil()
        with pytest.raises(CheckpointError, match=match) as e:
            load_hub_generator(out)
        assert "\n" not in str(e.value)


def test_weights_that_do_not_fit(folder, tmp_path):
    out = _copy(folder, tmp_path)
    meta = json.loads((out / "config.json").read_text())
    meta["config"]["model"]["gen_base"] = 8
    (out / "config.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match=r"model.safetensors: weights do not match the config's generator"
                                              r" vologan \(gen_base=8"):
        load_hub_generator(out)
    tensors = st.load_file(str(folder / "model.safetensors"))
    tensors.pop(sorted(tensors)[0])
    shutil.rmtree(out)
    _copy(folder, tmp_path)
    st.save_file(tensors, str(out / "model.safetensors"))
    with pytest.raises(CheckpointError, match="missing: "):
        load_hub_generator(out)


def test_volo_translate_and_load_generator_read_a_hub_folder(tmp_path):
    """`load_generator` (so `volo translate --ckpt DIR` and `volo eval --ckpt DIR`) takes a hub folder; the other
    direction is refused with one line."""
    from tests.inference.ckpt_factory import make_checkpoint
    from volo_adapt.errors import CheckpointError
    from volo_adapt.inference import export_generator, load_generator

    ckpt = make_checkpoint(tmp_path / "run.ckpt")
    ref = load_generator(ckpt, "a2b")
    export_generator(ref, tmp_path / "hub", fmt="hub")
    loaded = load_generator(tmp_path / "hub", "a2b")
    x = torch.rand(1, 4, 16, 16)
    assert torch.equal(loaded.module(x), ref.module(x))
    with pytest.raises(CheckpointError, match="holds the a2b generator, not b2a"):
        load_generator(tmp_path / "hub", "b2a")
