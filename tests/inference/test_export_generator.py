"""Tests for volo_adapt/inference/export.py: standalone files that compute what the checkpoint computes.

(Not test_export.py: tests/cli/test_export.py has that basename, and pytest needs unique ones here.)"""

from __future__ import annotations

import builtins
import json

import pytest
import torch
from torch.nn.utils import parametrize

from volo_adapt.errors import VoloError
from volo_adapt.inference import export_generator, load_generator, translate_tensors
from volo_adapt.inference.export import plain_module


@pytest.fixture(scope="module")
def gen(tiny_ckpt):
    return load_generator(tiny_ckpt)


def _x(b, side, seed=0):
    return torch.rand(b, 4, side, side, generator=torch.Generator().manual_seed(seed))


def test_torchscript_matches_checkpoint_at_two_sizes_and_carries_metadata(gen, tmp_path):
    path = export_generator(gen, tmp_path / "g.torchscript", "torchscript")
    extra = {"volo.json": ""}
    ts = torch.jit.load(str(path), _extra_files=extra)
    meta = json.loads(extra["volo.json"])
    assert meta["size_multiple"] == 8 and meta["gap"] == gen.codec.gap and meta["near_m"] == gen.codec.near
    assert "0 in ALL four" in meta["invalid"]
    for side in (16, 40):
        x = _x(2, side)
        assert (ts(x) - translate_tensors(gen, x)).abs().max() < 1e-4
    assert not list(path.parent.glob(".*partial*"))


def test_export_leaves_the_loaded_generator_intact(gen, tmp_path):
    before = translate_tensors(gen, _x(1, 16))
    baked = [plain_module(gen), plain_module(gen)]  # what every traced/ONNX export starts from
    assert all(not parametrize.is_parametrized(m) for b in baked for m in b.modules())
    assert parametrize.is_parametrized(gen.module.head)  # the loaded generator keeps its spectral norm
    assert torch.equal(translate_tensors(gen, _x(1, 16)), before)
    with torch.no_grad():
        assert (baked[1](_x(1, 16)) - before).abs().max() < 1e-5


def test_onnx_matches_checkpoint_with_dynamic_sizes(resnet_ckpt, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="the optional 'onnx' extra is not installed")
    onnx = pytest.importorskip("onnx", reason="the optional 'onnx' extra is not installed")
    g = load_generator(resnet_ckpt)
    path = export_generator(g, tmp_path / "g.onnx", "onnx")
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    meta = json.loads(props["volo"])
    assert meta["size_multiple"] == 4 and meta["far_m"] == g.codec.far and props["direction"] == "a2b"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in ((1, 4, 16, 16), (2, 4, 12, 20)):
        x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
        y = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
        assert (y - translate_tensors(g, x)).abs().max() < 1e-4


def test_exception_onnx_extra_missing_names_the_extra(gen, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(VoloError, match=r"volo-adapt\[onnx\]"):
        export_generator(gen, tmp_path / "g.onnx", "onnx")
    assert not (tmp_path / "g.onnx").exists()


def test_exception_unknown_format_and_directory_target(gen, tmp_path):
    with pytest.raises(VoloError, match="--format 'tflite'"):
        export_generator(gen, tmp_path / "g.tflite", "tflite")
    with pytest.raises(VoloError, match="is a directory"):
        export_generator(gen, tmp_path, "pt")


def test_a_generator_the_tracer_cannot_follow_is_refused_in_one_line_and_nothing_is_written(gen, tmp_path,
                                                                                             monkeypatch):
    """A tracer failure (e.g. a future layer with data-dependent Python control flow) reaches the user as one line
    naming the formats that work, not as the tracer's traceback."""
    def untraceable(*args, **kwargs):
        raise RuntimeError("type Tensor doesn't define __round__ method\n  (more tracer detail)")

    monkeypatch.setattr(torch.jit, "trace", untraceable)
    out = tmp_path / "g.torchscript"
    with pytest.raises(VoloError, match=r"^--format torchscript: this generator cannot be traced \(type Tensor "
                                        r"doesn't define __round__ method\); export --format pt or hub instead$"):
        export_generator(gen, out, "torchscript")
    assert not out.exists()


def _scene(side: int) -> torch.Tensor:
    """``(1, 4, side, side)`` random RGB-D without returns in its top third and its right quarter."""
    x = _x(1, side, seed=side)
    x[:, :, : side // 3] = 0.0
    x[:, :, :, -(side // 4) :] = 0.0
    return x


def _run_export(path, fmt: str, x: torch.Tensor) -> torch.Tensor:
    if fmt == "torchscript":
        with torch.no_grad():
            return torch.jit.load(str(path))(x)
    ort = pytest.importorskip("onnxruntime", reason="the optional 'onnx' extra is not installed")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_a_reach_window_that_follows_the_input_size_follows_it_in_the_exported_graph(tmp_path, fmt):
    """model.sensor.reach (the demo preset) is 10 % of the input's longer side: 2 px at 16 px, 6 px at 64 px. With
    the validity logit pushed to "return" everywhere, exactly the pixels within reach of the input's surfaces come
    out valid, so a window baked in at the example's size shows as whole wrong returns (the ONNX graph once did
    that silently at every other size; TorchScript refused the generator)."""
    pytest.importorskip("onnx", reason="the optional 'onnx' extra is not installed")
    from tests.inference import ckpt_factory as factory

    sensor = {"residual": True, "validity": "threshold", "reach": 0.1}
    g = load_generator(factory.make_checkpoint(tmp_path / "reach.ckpt", factory.tiny_config("resnet9").replace(
        model={"sensor": sensor})))
    with torch.no_grad():  # the validity logit follows the correction and the blend weights in the head's output
        g.module.head.bias[4 * (1 + len(g.module.bases(_x(1, 16))))] = 20.0
    path = export_generator(g, tmp_path / f"g.{fmt}", fmt)
    for side in (16, 24, 64):
        x = _scene(side)
        with torch.no_grad():
            expected = g.module(x, stochastic=False)
        valid = expected[0, -1] > 0
        reach = round(0.1 * side)
        assert valid[side // 3 - reach : side // 3, 0].all() and not valid[: side // 3 - reach, 0].any(), side
        assert (_run_export(path, fmt, x) - expected).abs().max() < 1e-4, side


RINGS = ("model.sensor.birth_ring_counts=[2, 1]", "model.sensor.birth_ring_powers=[[3, 0.75], [0, 0]]")
"""The birth-rings candidate as an estimate leaves it: two rings A -> B with mixing anchors."""


@pytest.mark.parametrize(("fmt", "extra"), [("torchscript", ()), ("onnx", ()), ("onnx", RINGS)],
                         ids=["torchscript", "onnx", "onnx-birth-rings"])
def test_the_demo_presets_generator_exports_and_follows_the_input_size(tmp_path, fmt, extra):
    """The demo preset's sensor section as trained on the built-in demo data (a native grid found: 2.462 px cells)
    on a tiny backbone: its reach window, low-pass bases (adaptive pooling: a fixed output size in ONNX), learned
    resamplings, valid-only means, coordinates and native-grid basis all follow the input's size (and aspect, and
    batch) in the exported graph (ONNX was refused in one line, TorchScript too, before they did); with the
    birth-rings candidate, its rings and their anchors too."""
    pytest.importorskip("onnx", reason="the optional 'onnx' extra is not installed")
    from tests.inference import ckpt_factory as factory
    from volo_adapt.config import load_config

    demo = load_config("demo", ["model.sensor.native_grid=none", "model.sensor.native_cell_px=2.462", *extra])
    cfg = factory.tiny_config("resnet9").replace(model={"sensor": demo.model.sensor})
    g = load_generator(factory.make_checkpoint(tmp_path / "demo.ckpt", cfg))
    path = export_generator(g, tmp_path / f"g.{fmt}", fmt)
    wide = _x(3, 20, seed=5)[..., :12, :]  # (3, 4, 12, 20)
    wide[..., :, -6:] = 0.0
    for x in (_scene(16), _scene(40), wide):
        with torch.no_grad():
            expected = g.module(x, stochastic=False)
        assert (_run_export(path, fmt, x) - expected).abs().max() < 1e-4, tuple(x.shape)
