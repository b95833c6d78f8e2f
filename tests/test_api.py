"""Tests for volo_adapt/api.py: the Translator, one image / list / batch in memory, as `volo translate` would."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import volo_adapt.api as api
from volo_adapt import Translator
from volo_adapt.config import load_config
from volo_adapt.data.formats import read_depth, read_depth_raw, write_depth, write_rgb
from volo_adapt.data.sample import RGBDSample, from_network, to_network
from volo_adapt.errors import VoloError
from volo_adapt.inference import export_generator, load_generator, translate_source, translate_tensors

_spec = importlib.util.spec_from_file_location("volo_api_ckpt_factory", Path(__file__).parent / "inference" /
                                               "ckpt_factory.py")
factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factory)

H, W = 20, 30  # neither a multiple of the tiny generator's 8 nor square; padded to 32 x 32


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return factory.make_checkpoint(tmp_path_factory.mktemp("api") / "tiny.ckpt", factory.tiny_config())


@pytest.fixture(scope="module")
def noise_ckpt(tmp_path_factory) -> Path:
    """A generator that samples sensor noise (SensorAwareGenerator with noise inputs)."""
    cfg = load_config(None, ["model.generator=vologan", "model.gen_base=4", "model.critic=patchgan",
                             "model.critic_base=4", "model.gen_kwargs={levels: 3, dropout: 0.0}",
                             "model.sensor.noise=true"])
    return factory.make_checkpoint(tmp_path_factory.mktemp("api") / "noise.ckpt", cfg)


@pytest.fixture(scope="module")
def tr(ckpt) -> Translator:
    return Translator.from_checkpoint(ckpt, device="cpu", precision="32")


def _image(h=H, w=W, seed=0):
    """uint8 colour ``(h, w, 3)`` and float32 depth ``(h, w)`` metres with an invalid band (top quarter)."""
    g = np.random.default_rng(seed)
    rgb = g.integers(0, 256, (h, w, 3), dtype=np.uint8)
    depth = g.uniform(0.3, 4.5, (h, w)).astype(np.float32)
    depth[: h // 4] = 0.0
    return rgb, depth


def _reference(loaded, rgb_u8, depth):
    """The engine's own translation of one image: ``(4, H, W)`` network tensor."""
    x, _ = to_network(RGBDSample.from_depth(torch.from_numpy(rgb_u8).permute(2, 0, 1) / 255.0,
                                            torch.from_numpy(depth)), loaded.codec)
    return translate_tensors(loaded, x[None], precision="32")[0]


# ------------------------------------------------------------------------------------------------ types


@pytest.mark.parametrize("kind", ["np-uint8", "np-float32", "np-float64", "torch-uint8", "torch-float32",
                                  "torch-float16"])
def test_types_round_trip(tr, kind):
    rgb, depth = _image()
    lib, dtype = kind.split("-")
    x = rgb if dtype == "uint8" else (rgb / 255.0).astype(dtype)
    d = depth
    if lib == "torch":
        x, d = torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(depth)
    rgb_out, depth_out = tr(x, d)
    assert type(rgb_out) is type(x) and type(depth_out) is type(d)
    assert rgb_out.dtype == x.dtype and tuple(rgb_out.shape) == (H, W, 3)
    assert str(depth_out.dtype).endswith("float32") and tuple(depth_out.shape) == (H, W)
    if dtype != "uint8":
        ref = np.asarray(torch.as_tensor(rgb_out).float())
        assert ref.min() >= 0 and ref.max() <= 1


def test_uint8_output_is_the_float_output_rounded_and_depth_is_metres(tr):
    rgb, depth = _image()
    rgb_u8, depth_a = tr(rgb, depth)
    rgb_f, depth_b = tr((rgb / 255.0).astype(np.float32), depth)
    assert np.array_equal(rgb_u8, np.rint(rgb_f.astype(np.float64) * 255).astype(np.uint8))
    assert np.array_equal(depth_a, depth_b)
    _, depth_exp, _ = from_network(_reference(tr.loaded, rgb, depth), tr.loaded.codec)
    assert np.allclose(depth_a, depth_exp[0].numpy(), atol=1e-6)
    valid = depth_a > 0
    assert valid.any() and depth_a[valid].min() >= tr.loaded.codec.near and depth_a.max() <= tr.loaded.codec.far


def test_torch_outputs_stay_on_the_input_device_and_gradients_are_not_kept(tr):
    rgb, depth = _image()
    x = torch.from_numpy(rgb).float().div(255).requires_grad_(True)
    rgb_out, depth_out = tr(x, torch.from_numpy(depth))
    assert rgb_out.device == x.device and depth_out.device == x.device and not rgb_out.requires_grad


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_generator_and_inputs_on_either_device(ckpt):
    gpu = Translator.from_checkpoint(ckpt, device="cuda", precision="32")
    cpu = Translator.from_checkpoint(ckpt, device="cpu", precision="32")
    rgb, depth = _image()
    on_gpu = gpu(torch.from_numpy(rgb).cuda(), torch.from_numpy(depth).cuda())
    assert on_gpu[0].is_cuda and on_gpu[1].is_cuda and gpu.device.type == "cuda"
    from_numpy, reference = gpu(rgb, depth), cpu(rgb, depth)
    assert np.array_equal(from_numpy[0], on_gpu[0].cpu().numpy())
    assert np.abs(from_numpy[0].astype(int) - reference[0].astype(int)).max() <= 1
    assert np.allclose(from_numpy[1], reference[1], atol=1e-3)


@pytest.mark.parametrize("size", [(20, 30), (33, 51), (5, 7), (16, 16), (40, 9)])
def test_sizes_not_a_multiple_of_the_stride_come_back_unchanged(tr, size):
    rgb, depth = _image(*size)
    rgb_out, depth_out = tr(rgb, depth)
    assert rgb_out.shape == (*size, 3) and depth_out.shape == size
    rgb_exp, depth_exp, _ = from_network(_reference(tr.loaded, rgb, depth), tr.loaded.codec)
    assert np.array_equal(depth_out, depth_exp[0].numpy())
    assert np.array_equal(rgb_out, np.rint(rgb_exp.permute(1, 2, 0).double().numpy() * 255).astype(np.uint8))


# ------------------------------------------------------------------------------------------- invalid depth


def test_invalid_output_depth_is_exactly_zero_where_the_network_says_invalid(tr, monkeypatch):
    real = api.translate_tensors

    def some_invalid(loaded, x, **kw):  # the network's "no return": encoded depth below gap / 2 (here 0.02) or 0
        y = real(loaded, x, **kw)
        y[:, 3, :4], y[:, 3, 4:6] = 0.02, 0.0
        return y

    monkeypatch.setattr(api, "translate_tensors", some_invalid)
    rgb, depth = _image(33, 51)
    _, depth_out = tr(rgb, depth)
    y = some_invalid(tr.loaded, _reference(tr.loaded, rgb, depth)[None])[0]
    valid = tr.loaded.codec.valid_from_encoded(y[3]).numpy()
    assert not valid[:6].any() and valid[6:].all()
    assert np.all(depth_out[:6] == 0.0) and np.all(depth_out[6:] >= tr.loaded.codec.near)


def test_invalid_and_unrepresentable_input_depth_enter_as_invalid_like_volo_translate(tr):
    rgb, depth = _image()
    odd = depth.copy()
    odd[5, :4] = [np.nan, np.inf, -1.0, 0.0]
    odd[6, :3] = [0.1, 7.0, 1e9]  # valid readings outside the codec's [0.25, 5] m
    zeroed = odd.copy()
    zeroed[~np.isfinite(zeroed) | (zeroed < 0.25) | (zeroed > 5.0)] = 0.0
    a, b = tr(rgb, odd), tr(rgb, zeroed)
    assert tr.out_of_range_px == 0  # the last call (zeroed) had none
    tr(rgb, odd)
    assert tr.out_of_range_px == 3
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_same_decoded_output_as_translate_source_on_a_folder(tr, tmp_path):
    src = tmp_path / "in"
    images = {"a/000": _image(33, 51, 1), "b/001": _image(20, 30, 2), "b/002": _image(33, 51, 3)}
    images["b/001"][1][2, 3] = 6.5  # out of range: invalid on entry in both
    for key, (rgb, depth) in images.items():
        write_rgb(src / "rgb" / f"{key}.png", torch.from_numpy(rgb).permute(2, 0, 1) / 255.0)
        write_depth(src / "depth" / f"{key}.npy" if key == "b/001" else src / "depth" / f"{key}.png", depth)
    report = translate_source(src, tmp_path / "out", tr.loaded, device="cpu", precision="32", batch_size=2)
    assert len(report.translated) == 3
    for key in images:  # inputs as read back from the files (PNG depth is millimetres)
        depth_file = next((src / "depth").glob(f"{key}.*"))
        rgb_in = np.asarray(Image.open(src / "rgb" / f"{key}.png"))
        rgb_out, depth_out = tr(rgb_in, read_depth(depth_file).numpy()[0])
        assert np.array_equal(rgb_out, np.asarray(Image.open(tmp_path / "out" / "rgb" / f"{key}.png")))
        written = tmp_path / "out" / depth_file.relative_to(src)
        if written.suffix == ".png":  # millimetre quantisation
            assert np.abs(read_depth_raw(written).astype(np.int64) - np.rint(depth_out * 1000)).max() <= 1
        else:
            assert np.array_equal(np.load(written), depth_out)


# --------------------------------------------------------------------------------------- lists and batches


def _network_calls(monkeypatch) -> list:
    """Record the input shape of every network call the Translator makes."""
    calls, real = [], api.translate_tensors
    monkeypatch.setattr(api, "translate_tensors", lambda loaded, x, **kw: calls.append(tuple(x.shape)) or real(
        loaded, x, **kw))
    return calls


def test_lists_and_batches_equal_one_by_one_calls_and_share_network_calls(tr, monkeypatch):
    imgs = [_image(20, 30, 0), _image(33, 51, 1), _image(20, 30, 2)]
    single = [tr(r, d) for r, d in imgs]
    calls = _network_calls(monkeypatch)
    rgbs, depths = tr([r for r, _ in imgs], [d for _, d in imgs])
    assert sorted(calls) == sorted([(2, 4, 20, 30), (1, 4, 33, 51)])
    assert isinstance(rgbs, list) and len(rgbs) == 3 == len(depths)
    for (r1, d1), r2, d2 in zip(single, rgbs, depths, strict=True):
        assert np.abs(r1.astype(int) - r2.astype(int)).max() <= 1 and np.allclose(d1, d2, atol=1e-4)
    calls.clear()
    rb, db = tr(np.stack([imgs[0][0], imgs[2][0]]), torch.from_numpy(np.stack([imgs[0][1], imgs[2][1]])))
    assert calls == [(2, 4, 20, 30)] and rb.shape == (2, 20, 30, 3) and isinstance(db, torch.Tensor)
    assert np.array_equal(rb[1], rgbs[2]) and np.array_equal(db[1].numpy(), depths[2])
    assert tr([], []) == ([], [])
    empty = tr(np.zeros((0, 8, 8, 3), np.uint8), np.zeros((0, 8, 8), np.float64))
    assert empty[0].shape == (0, 8, 8, 3) and empty[1].dtype == np.float32


def test_big_batches_are_split_by_max_batch_pixels(ckpt, monkeypatch):
    tr = Translator.from_checkpoint(ckpt, device="cpu", precision="32", max_batch_pixels=2 * 32 * 32)
    calls = _network_calls(monkeypatch)
    rgb, depth = _image()
    tr(np.stack([rgb] * 5), np.stack([depth] * 5))
    assert [c[0] for c in calls] == [2, 2, 1]


# ---------------------------------------------------------------------------------------------------- seeds


def test_seeds_make_noise_reproducible_per_image(noise_ckpt):
    tr = Translator.from_checkpoint(noise_ckpt, device="cpu", precision="32")
    rgb, depth = _image()
    a, b, c = tr(rgb, depth, seed=3), tr(rgb, depth, seed=3), tr(rgb, depth, seed=4)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])
    assert np.array_equal(tr(rgb, depth)[1], tr(rgb, depth, seed=0)[1])  # None: seed 0, as volo translate
    rgbs, depths = tr([rgb, rgb], [depth, depth], seed=3)
    assert np.allclose(depths[0], a[1], atol=1e-4) and not np.array_equal(depths[0], depths[1])  # seeded per image
    rgbs, depths = tr([rgb, rgb], [depth, depth], seed=[4, 3])  # one seed per image: as calls of their own
    assert np.allclose(depths[0], c[1], atol=1e-4) and np.allclose(depths[1], a[1], atol=1e-4)
    rb, db = tr(np.stack([rgb, rgb]), np.stack([depth, depth]), seed=[4, 3])
    assert np.array_equal(db, np.stack(depths))


# --------------------------------------------------------------------------------------- loading, precision


def test_exported_pt_file_translates_like_its_checkpoint(tr, tmp_path):
    pt = export_generator(load_generator(tr.loaded.source), tmp_path / "a2b.pt", "pt")
    rgb, depth = _image()
    exported = Translator.from_checkpoint(pt, device="cpu", precision="32")
    assert exported.loaded.kind == "export"
    assert all(np.array_equal(x, y) for x, y in zip(tr(rgb, depth), exported(rgb, depth), strict=True))


def test_auto_precision_is_decided_on_the_first_call_and_kept(ckpt, monkeypatch):
    monkeypatch.setattr("volo_adapt.hardware.fast_bf16", lambda device: True)
    tr = Translator.from_checkpoint(ckpt, device="cpu")
    rgb, depth = _image()
    first = tr(rgb, depth)
    assert tr.depth_check is not None and tr.depth_check["used"] == tr.precision in ("bf16", "32")
    assert [t["mode"] for t in tr.depth_check["tried"]] == ["bf16"]
    assert np.array_equal(first[1], tr(rgb, depth)[1])
    monkeypatch.setattr("volo_adapt.hardware.fast_bf16", lambda device: False)
    assert Translator.from_checkpoint(ckpt, device="cpu").precision == "32"  # no faster mode on this CPU


def test_import_volo_adapt_stays_light():
    code = ("import sys, volo_adapt; assert 'torch' not in sys.modules and 'lightning' not in sys.modules; "
            "from volo_adapt import Translator; assert Translator.__module__ == 'volo_adapt.api'; "
            "assert 'lightning' not in sys.modules and 'Translator' in dir(volo_adapt)")
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------------------------------- errors

_RGB, _DEPTH = _image()


@pytest.mark.parametrize(("rgb", "depth", "message"), [
    (_RGB.transpose(2, 0, 1), _DEPTH, "rgb: expected shape (H, W, 3), got (3, 20, 30); channels first?"),
    (_RGB[..., :1], _DEPTH, "rgb: expected shape (H, W, 3), got (20, 30, 1)"),
    (_RGB.astype(np.int32), _DEPTH, "rgb: dtype int32: expected uint8 (0-255) or float in [0, 1]"),
    (_RGB.astype(np.float32), _DEPTH, "rgb: float colour must be in [0, 1], got values in [0, 255]"),
    (np.full((H, W, 3), np.nan, np.float32), _DEPTH, "rgb: float colour has NaN or inf values"),
    (_RGB, _DEPTH[:10], "depth: expected shape (20, 30) (H, W of rgb), got (10, 30)"),
    (_RGB, (_DEPTH * 1000).astype(np.uint16), "depth: dtype uint16: expected float metres (0 = invalid)"),
    (_RGB, torch.zeros(H, W, dtype=torch.int64), "depth: dtype int64: expected float metres"),
    ("img.png", _DEPTH, "rgb: expected a numpy array or a torch tensor, got str"),
    ([_RGB, _RGB], [_DEPTH], "depth: expected a list of 2 depth maps (one per rgb image), got list of 1"),
    ([_RGB, _RGB[..., 0]], [_DEPTH, _DEPTH], "rgb[1]: expected shape (H, W, 3), got (20, 30)"),
    (np.stack([_RGB] * 2), _DEPTH, "depth: expected a (2, H, W) batch for rgb of shape (2, 20, 30, 3)"),
])
def test_exception_wrong_inputs_name_the_argument(tr, rgb, depth, message):
    with pytest.raises(VoloError) as e:
        tr(rgb, depth)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


@pytest.mark.parametrize(("seed", "message"), [
    ([1, 2, 3], "seed: 3 seeds for 1 image(s)"), ("7", "seed '7': expected None, an int or a sequence of ints"),
    (1.5, "seed 1.5: expected"),
])
def test_exception_bad_seeds(tr, seed, message):
    with pytest.raises(VoloError, match=None) as e:
        tr(_RGB, _DEPTH, seed=seed)
    assert str(e.value).startswith(message)


def test_exception_loading_and_options_are_one_line_volo_errors(ckpt, tmp_path):
    cases = [
        ({"path": tmp_path / "missing.ckpt"}, "missing.ckpt"),
        ({"path": ckpt, "direction": "sideways"}, "direction 'sideways': must be one of a2b, b2a"),
        ({"path": ckpt, "device": "gpu7"}, "device 'gpu7': not a device name"),
        ({"path": ckpt, "precision": "64"}, "precision '64': must be one of"),
        ({"path": ckpt, "max_batch_pixels": 0}, "max_batch_pixels 0: must be >= 1"),
    ]
    for kwargs, message in cases:
        kwargs.setdefault("device", "cpu")
        with pytest.raises(VoloError) as e:
            Translator.from_checkpoint(**kwargs)
        assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
