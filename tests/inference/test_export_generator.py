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


def test_native_grid_generator_exports_work_at_other_sizes(tmp_path):
    """The grid-resampling basis builds its lattice from the input size: torchscript and ONNX graphs must keep
    that dynamic (the dynamo exporter's silent fixed-size fallback is refused for the TorchScript-based one)."""
    from tests.inference import ckpt_factory as factory

    cfg = factory.tiny_config("resnet9").replace(model={"sensor": {"residual": True, "native_cell_px": 5.5}})
    g = load_generator(factory.make_checkpoint(tmp_path / "grid.ckpt", cfg))
    assert g.module.native_grid is not None
    ts = torch.jit.load(str(export_generator(g, tmp_path / "g.torchscript", "torchscript")))
    shapes = ((1, 4, 16, 16), (2, 4, 12, 20))
    for shape in shapes:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(2))
        assert (ts(x) - translate_tensors(g, x)).abs().max() < 1e-4
    ort = pytest.importorskip("onnxruntime", reason="the optional 'onnx' extra is not installed")
    pytest.importorskip("onnx", reason="the optional 'onnx' extra is not installed")
    sess = ort.InferenceSession(str(export_generator(g, tmp_path / "g.onnx", "onnx")),
                                providers=["CPUExecutionProvider"])
    for shape in shapes:
        x = torch.rand(shape, generator=torch.Generator().manual_seed(3))
        y = torch.from_numpy(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0])
        assert (y - translate_tensors(g, x)).abs().max() < 1e-4


def test_a_generator_the_tracer_cannot_follow_is_refused_in_one_line_and_nothing_is_written(tmp_path):
    """model.sensor.reach (the demo preset's anchored new returns) sizes a pooling window from the input at run time;
    torch.jit.trace cannot record that: the export says so instead of the tracer's traceback."""
    from tests.inference import ckpt_factory as factory

    cfg = factory.tiny_config("resnet9").replace(
        model={"sensor": {"residual": True, "validity": "depth", "reach": 0.1, "new_returns": "anchored"}})
    g = load_generator(factory.make_checkpoint(tmp_path / "reach.ckpt", cfg))
    out = tmp_path / "g.torchscript"
    with pytest.raises(VoloError, match=r"^--format torchscript: this generator cannot be traced \(.*\); export "
                                        r"--format pt or hub instead$"):
        export_generator(g, out, "torchscript")
    assert not out.exists()


def test_onnx_of_sensor_aware_generators_runs_and_matches_at_other_sizes(tmp_path):
    """Pixel coordinates (the demo preset's model.sensor.coords) and anchored new returns within a reach: the ONNX
    graph runs in onnxruntime and computes the deterministic translation at sizes other than the example's (the
    coordinate channels once exported an Expand on traced sizes that onnxruntime rejected)."""
    ort = pytest.importorskip("onnxruntime", reason="the optional 'onnx' extra is not installed")
    from tests.inference import ckpt_factory as factory

    sensor = {"residual": True, "coords": True, "validity": "depth", "reach": 0.1, "new_returns": "anchored"}
    g = load_generator(factory.make_checkpoint(tmp_path / "s.ckpt", factory.tiny_config("resnet9").replace(
        model={"sensor": sensor})))
    session = ort.InferenceSession(str(export_generator(g, tmp_path / "g.onnx", "onnx")))
    name = session.get_inputs()[0].name
    for side in (16, 24):
        x = _x(1, side, seed=side)
        x[:, :, : side // 3] = 0.0  # background rows: the reach ring and anchored returns have work to do
        y = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        with torch.no_grad():
            expected = g.module(x, stochastic=False)
        assert (y - expected).abs().max() < 1e-4, side
