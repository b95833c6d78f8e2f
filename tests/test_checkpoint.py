"""Tests for volo_adapt/checkpoint.py: one version rule for resume and inference, the one reader and writer, the key
layout, the counters, and ``VoloGANModule.load_from_checkpoint`` (volo_adapt/training/checkpoint.py:load_module)."""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import re
from pathlib import Path

import pytest
import torch

from volo_adapt.checkpoint import (
    CHECKPOINT_FORMAT,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    check_export_version,
    load_checkpoint_file,
    network_name,
    network_state,
    read_volo_block,
    save_checkpoint_file,
    stored_batches,
    stored_global_step,
    stored_networks,
    volo_block,
)
from volo_adapt.directions import DIRECTIONS, Direction, Domain
from volo_adapt.errors import CheckpointError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("volo_inference_ckpt_factory", ROOT / "tests/inference/ckpt_factory.py")
factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factory)


@pytest.fixture(scope="module")
def ema_ckpt(tmp_path_factory) -> Path:
    return factory.make_checkpoint(tmp_path_factory.mktemp("ck") / "ema.ckpt", factory.tiny_config(ema=True))


def _rewrite(src: Path, dst: Path, edit) -> Path:
    obj = torch.load(src, weights_only=True)
    edit(obj)
    torch.save(obj, dst)
    return dst


def _set_format(value):
    def edit(ckpt):
        if value is _MISSING:
            del ckpt["volo"]["format"]
        else:
            ckpt["volo"]["format"] = value
    return edit


_MISSING = object()
NOT_VOLO = "not a volo-adapt checkpoint"
NEWER = "checkpoint format 2 is newer than this volo-adapt reads (1); upgrade volo-adapt"
"""The version rule's message for a newer file (a plain substring, not a regex)."""
VERSIONS = [  # (id, format value, expected error fragment or None when accepted)
    ("missing", _MISSING, NOT_VOLO),
    ("format0", 0, NOT_VOLO),
    ("garbled", "1", NOT_VOLO),
    ("format1", 1, None),
    ("current", CHECKPOINT_FORMAT, None),
    ("newer", CHECKPOINT_FORMAT + 1, NEWER),
]


def _readers(path: Path, run_dir: Path) -> dict:
    """Every place that reads a checkpoint's volo block: training resume and inference."""
    from volo_adapt.inference import load_generator
    from volo_adapt.training.checkpoint import check_resume_compatible, choose_resume_checkpoint
    from volo_adapt.training.module import VoloGANModule

    model_cfg = factory.tiny_config(ema=True).to_dict()["model"]
    last = run_dir / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(path.read_bytes())
    return {  # name: (call, the file its error names)
        "read_volo_block": (lambda: read_volo_block(path), path),
        "check_resume_compatible": (lambda: check_resume_compatible(path, model_cfg), path),
        "choose_resume_checkpoint": (lambda: choose_resume_checkpoint(run_dir).path, last),
        "load_generator": (lambda: load_generator(path), path),
        "load_from_checkpoint": (lambda: VoloGANModule.load_from_checkpoint(path), path),
    }


@pytest.mark.parametrize(("name", "value", "error"), VERSIONS, ids=[v[0] for v in VERSIONS])
def test_one_version_rule_for_resume_and_inference(ema_ckpt, tmp_path, name, value, error):
    path = _rewrite(ema_ckpt, tmp_path / f"{name}.ckpt", _set_format(value))
    for reader, (call, named) in _readers(path, tmp_path / "run").items():
        if error is None:
            assert call() is not None, reader
            continue
        with pytest.raises(CheckpointError) as e:
            call()
        msg = str(e.value)
        assert error in msg and str(named) in msg and "\n" not in msg, (reader, msg)


def test_resume_refuses_old_and_newer_formats_before_training(ema_ckpt, tmp_path):
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    for value, error in ((0, NOT_VOLO), (2, NEWER)):
        path = _rewrite(ema_ckpt, tmp_path / f"f{value}.ckpt", _set_format(value))
        with pytest.raises(CheckpointError, match=re.escape(error)):
            train(load_config("smoke"), tmp_path / "run", resume=str(path), progress=False)


def test_no_volo_entry_and_unreadable_files_are_one_line_errors(ema_ckpt, tmp_path):
    no_volo = _rewrite(ema_ckpt, tmp_path / "plain.ckpt", lambda c: c.pop("volo"))
    with pytest.raises(CheckpointError, match="not a volo-adapt checkpoint .*without the 'volo' entry"):
        read_volo_block(no_volo)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint_file(tmp_path / "missing.ckpt")
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        read_volo_block(tmp_path / "junk.ckpt")


def test_pickled_objects_need_the_trusted_fallback_and_a_volo_ckpt(ema_ckpt, tmp_path):
    path = _rewrite(ema_ckpt, tmp_path / "lightning.ckpt",
                    lambda c: c.update(hyper_parameters={"root": pathlib.PurePosixPath("/runs/x")}))
    with pytest.raises(CheckpointError, match="refused: the file pickles non-tensor objects"):
        load_checkpoint_file(path)  # resume never unpickles objects
    assert load_checkpoint_file(path, trusted_pickle_fallback=True)["volo"]["format"] == 1
    as_pt = tmp_path / "lightning.pt"
    as_pt.write_bytes(path.read_bytes())
    with pytest.raises(CheckpointError, match="only a training checkpoint"):
        load_checkpoint_file(as_pt, trusted_pickle_fallback=True)


def test_export_version_rule():
    assert check_export_version("g.pt", {"format": EXPORT_FORMAT, "version": EXPORT_VERSION}) == 1
    for bad in (None, 0, "1", True):
        with pytest.raises(CheckpointError, match="unknown version"):
            check_export_version("g.pt", {"version": bad})
    with pytest.raises(CheckpointError, match="version 2 is newer than this volo-adapt reads \\(1\\); upgrade"):
        check_export_version("g.pt", {"version": EXPORT_VERSION + 1})


# ---------------------------------------------------------------------------------------------- key layout


def test_network_names_follow_the_directions_module():
    assert [network_name(Direction(d)) for d in DIRECTIONS] == ["gen_a2b", "gen_b2a"]
    assert network_name(Direction.B2A, ema=True) == "gen_b2a_ema"
    assert [network_name(d) for d in Domain] == ["critic_a", "critic_b"]
    with pytest.raises(ValueError, match="no EMA"):
        network_name(Domain.A, ema=True)
    with pytest.raises(TypeError):
        network_name("a2b")  # type: ignore[arg-type]


def test_network_state_extracts_one_network(ema_ckpt):
    from volo_adapt.build import build_critic, build_generator

    cfg = factory.tiny_config(ema=True)
    state = torch.load(ema_ckpt, weights_only=True)["state_dict"]
    assert stored_networks(state) == ["critic_a", "critic_b", "gen_a2b", "gen_a2b_ema", "gen_b2a", "gen_b2a_ema"]
    for net, ema, build in ((Direction.A2B, False, build_generator), (Direction.B2A, True, build_generator),
                            (Domain.B, False, build_critic)):
        sub = network_state(state, net, ema)
        module = build(cfg.model, cfg.data) if build is build_generator else build(cfg.model)
        assert sub.keys() == module.state_dict().keys()
        prefix = network_name(net, ema) + "."
        assert all(torch.equal(v, state[prefix + k]) for k, v in sub.items())
    no_ema = {k: v for k, v in state.items() if "_ema." not in k}
    assert network_state(no_ema, Direction.A2B, ema=True) == {}


# ---------------------------------------------------------------------------------------------- counters, writing


def test_counters_and_atomic_save_round_trip(ema_ckpt, tmp_path):
    ckpt = torch.load(ema_ckpt, weights_only=True)
    assert stored_global_step(ema_ckpt) == 42 and stored_batches(ema_ckpt) == -1  # the factory stores no train state
    ckpt["volo_train_state"] = {"batches_done": 21}
    out = tmp_path / "sub" / "saved.ckpt"
    save_checkpoint_file(ckpt, out)
    assert [p.name for p in out.parent.iterdir()] == ["saved.ckpt"]  # no partial file left behind
    assert stored_batches(out) == 21 and read_volo_block(out)["format"] == CHECKPOINT_FORMAT
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    assert stored_batches(tmp_path / "junk.ckpt") == -1 and stored_global_step(tmp_path / "junk.ckpt") is None


def test_volo_block_is_what_training_writes():
    from volo_adapt import __version__
    from volo_adapt.training.module import VoloGANModule

    cfg = factory.tiny_config()
    assert volo_block(cfg) == {"format": CHECKPOINT_FORMAT, "volo_version": __version__, "config": cfg.to_dict()}
    ckpt: dict = {}
    VoloGANModule(cfg).on_save_checkpoint(ckpt)
    assert ckpt["volo"] == volo_block(cfg)


# ---------------------------------------------------------------------------------------------- load_from_checkpoint


@pytest.fixture(scope="module")
def fresh_ckpt(tmp_path_factory) -> tuple[Path, dict]:
    """A checkpoint of a freshly built module, its ``volo`` entries written by the module's own hook."""
    from volo_adapt.training.module import VoloGANModule

    torch.manual_seed(3)
    module = VoloGANModule(factory.tiny_config(ema=True))
    ckpt = {"state_dict": module.state_dict(), "global_step": 0}
    module.on_save_checkpoint(ckpt)
    path = tmp_path_factory.mktemp("fresh") / "fresh.ckpt"
    save_checkpoint_file(ckpt, path)
    return path, module.state_dict()


def test_load_from_checkpoint_rebuilds_the_module_with_its_weights(fresh_ckpt):
    from volo_adapt.training.module import VoloGANModule

    path, expected = fresh_ckpt
    for kwargs in ({}, {"map_location": "cpu"}, {"map_location": torch.device("cpu")}):
        module = VoloGANModule.load_from_checkpoint(path, **kwargs)
        assert isinstance(module, VoloGANModule) and module.cfg == factory.tiny_config(ema=True)
        state = module.state_dict()
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[k], v) for k, v in expected.items())
        assert all(v.device.type == "cpu" for v in state.values())


def test_load_from_checkpoint_refuses_kwargs_and_mismatching_weights(fresh_ckpt, tmp_path):
    from volo_adapt.training.module import VoloGANModule

    path, _ = fresh_ckpt
    with pytest.raises(CheckpointError, match="takes no hparams_file, lr .*only map_location and strict"):
        VoloGANModule.load_from_checkpoint(path, lr=1.0, hparams_file="h.yaml")
    partial = _rewrite(path, tmp_path / "partial.ckpt",
                       lambda c: [c["state_dict"].pop(k) for k in list(c["state_dict"]) if k.startswith("critic_b.")])
    with pytest.raises(CheckpointError, match="weights do not load into VoloGANModule: .*critic_b") as e:
        VoloGANModule.load_from_checkpoint(partial)
    assert "\n" not in str(e.value)
    assert isinstance(VoloGANModule.load_from_checkpoint(partial, strict=False), VoloGANModule)


# ---------------------------------------------------------------------------------------------- one reader


def _torch_load_uses(path: Path) -> list[str]:
    """``where`` of every use of ``torch.load`` in a Python file (calls, references, aliases, imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases = {"torch"} | {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import)
                           for a in n.names if a.name == "torch" and a.asname}
    hits, scopes = [], {}
    for fn in ast.walk(tree):
        if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            for sub in ast.walk(fn):
                scopes.setdefault(id(sub), fn.name)  # the outermost function wins (walk is breadth-first)
    for n in ast.walk(tree):
        attr = isinstance(n, ast.Attribute) and n.attr == "load" and (
            (isinstance(n.value, ast.Name) and n.value.id in aliases)
            or (isinstance(n.value, ast.Attribute) and n.value.attr == "serialization"))
        imported = isinstance(n, ast.ImportFrom) and n.module in ("torch", "torch.serialization") and any(
            a.name == "load" for a in n.names)
        if attr or imported:
            hits.append(f"{path.relative_to(ROOT)}:{scopes.get(id(n), '<module>')}")
    return hits


def test_torch_load_is_called_only_by_load_checkpoint_file():
    files = [p for d in ("volo_adapt", "cli", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))]
    assert len(files) > 20
    hits = [h for p in files for h in _torch_load_uses(p)]
    assert hits and set(hits) == {"volo_adapt/checkpoint.py:load_checkpoint_file"}, hits
