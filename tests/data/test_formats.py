"""Tests for volo_adapt/data/formats.py: exact round trips and one-line DataErrors."""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from volo_adapt.data.formats import (
    load_depth,
    load_rgb,
    read_depth,
    read_depth_raw,
    read_rgb,
    read_rgbd_array,
    write_depth,
    write_rgb,
    write_rgbd_array,
)
from volo_adapt.errors import DataError

HSET = settings(deadline=None)  # example count and randomness: the profile (tests/conftest.py)
small_hw = st.tuples(st.integers(1, 9), st.integers(1, 9))


def _png_bytes(arr: np.ndarray, bit_depth: int, colour_type: int) -> bytes:
    """A minimal PNG written independently of Pillow/kornia_rs (filter 0 on every row), to test our reader."""
    h, w = arr.shape[:2]
    dtype = ">u2" if bit_depth == 16 else "u1"
    rows = arr.astype(dtype).reshape(h, -1)
    raw = b"".join(b"\x00" + r.tobytes() for r in rows)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _write_exr(path: Path, channels: dict[str, np.ndarray]) -> None:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, channels) as f:
        f.write(str(path))


def _one_line_naming(err: pytest.ExceptionInfo, path: Path) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


# ------------------------------------------------------------------------------------------------ colour


@HSET
@given(codes=hnp.arrays(np.uint8, st.tuples(st.just(3), st.integers(1, 9), st.integers(1, 9))))
def test_png8_colour_round_trip_is_bit_exact(tmp_path_factory, codes):
    d = tmp_path_factory.mktemp("c8")
    write_rgb(d / "a.png", torch.from_numpy(codes.astype(np.float32) / 255.0))
    rgb = read_rgb(d / "a.png")
    assert rgb.dtype == torch.float32 and rgb.shape == codes.shape
    assert np.array_equal(np.rint(rgb.numpy() * 255.0).astype(np.uint8), codes)
    write_rgb(d / "b.png", rgb)
    assert np.array_equal(np.asarray(Image.open(d / "b.png")), codes.transpose(1, 2, 0))


@HSET
@given(codes=hnp.arrays(np.uint16, st.tuples(st.just(3), st.integers(1, 9), st.integers(1, 9))))
def test_png16_colour_round_trip_is_bit_exact(tmp_path_factory, codes):
    d = tmp_path_factory.mktemp("c16")
    write_rgb(d / "a.png", torch.from_numpy(codes.astype(np.float32) / 65535.0), bits=16)
    rgb, fmt = load_rgb(d / "a.png")
    assert fmt == "png16"
    assert np.array_equal(np.rint(rgb.numpy().astype(np.float64) * 65535.0).astype(np.uint16), codes)
    write_rgb(d / "b.png", rgb, bits=16)
    assert torch.equal(read_rgb(d / "b.png"), rgb)


def test_png16_colour_from_independent_writer_keeps_16_bits(tmp_path):
    codes = np.array([[[1, 2, 65535], [257, 300, 40000]]], dtype=np.uint16)  # (1, 2, 3) HWC
    (tmp_path / "c.png").write_bytes(_png_bytes(codes, 16, 2))
    rgb = read_rgb(tmp_path / "c.png")
    assert rgb.shape == (3, 1, 2)
    expected = torch.from_numpy(codes.transpose(2, 0, 1).astype(np.float32) / 65535.0)
    assert torch.equal(rgb, expected)  # Pillow alone would have returned 8-bit values here


def test_grey_and_alpha_colour_modes(tmp_path):
    grey = np.array([[0, 128, 255]], dtype=np.uint8)
    (tmp_path / "g8.png").write_bytes(_png_bytes(grey, 8, 0))
    rgb = read_rgb(tmp_path / "g8.png")
    assert rgb.shape == (3, 1, 3) and torch.equal(rgb[0], rgb[2])
    assert torch.equal(rgb[1], torch.tensor([[0.0, 128.0, 255.0]]) / 255.0)

    grey16 = np.array([[0, 1000, 65535]], dtype=np.uint16)
    (tmp_path / "g16.png").write_bytes(_png_bytes(grey16, 16, 0))
    rgb, fmt = load_rgb(tmp_path / "g16.png")
    assert fmt == "png16" and torch.equal(rgb[2], torch.tensor([[0.0, 1000.0, 65535.0]]) / 65535.0)

    rgba = np.array([[[10, 20, 30, 0], [40, 50, 60, 255]]], dtype=np.uint8)
    (tmp_path / "rgba.png").write_bytes(_png_bytes(rgba, 8, 6))
    rgb = read_rgb(tmp_path / "rgba.png")
    assert torch.equal(rgb, torch.from_numpy(rgba[:, :, :3].transpose(2, 0, 1).astype(np.float32) / 255.0))

    rgba16 = rgba.astype(np.uint16) * 256 + 7  # not multiples of 257: 8-bit truncation would show
    (tmp_path / "rgba16.png").write_bytes(_png_bytes(rgba16, 16, 6))
    rgb = read_rgb(tmp_path / "rgba16.png")
    assert torch.equal(rgb, torch.from_numpy(rgba16[:, :, :3].transpose(2, 0, 1).astype(np.float32) / 65535.0))

    (tmp_path / "la16.png").write_bytes(_png_bytes(rgba16[:, :, :2], 16, 4))
    with pytest.raises(DataError, match="grey\\+alpha") as e:
        read_rgb(tmp_path / "la16.png")
    _one_line_naming(e, tmp_path / "la16.png")


def test_jpeg_is_close_and_refuses_16_bits(tmp_path):
    smooth = torch.linspace(0, 1, 32)[None, None, :].expand(3, 16, 32).clone()
    write_rgb(tmp_path / "a.jpg", smooth)
    rgb, fmt = load_rgb(tmp_path / "a.jpg")
    assert fmt == "jpg" and rgb.shape == (3, 16, 32)
    assert (rgb - smooth).abs().max() < 0.03
    with pytest.raises(DataError, match="8 bits"):
        write_rgb(tmp_path / "b.jpg", smooth, bits=16)


def test_write_rgb_clips_and_rejects_bad_shapes(tmp_path):
    write_rgb(tmp_path / "a.png", torch.tensor([[[-1.0, 2.0]]]).expand(3, 1, 2))
    assert torch.equal(read_rgb(tmp_path / "a.png")[0], torch.tensor([[0.0, 1.0]]))
    with pytest.raises(DataError, match=r"\(3,H,W\)"):
        write_rgb(tmp_path / "b.png", torch.zeros(4, 2, 2))
    with pytest.raises(DataError, match="suffix"):
        write_rgb(tmp_path / "b.bmp", torch.zeros(3, 2, 2))


# ------------------------------------------------------------------------------------------------- depth


@HSET
@given(
    codes=hnp.arrays(np.uint16, small_hw),
    scale=st.sampled_from([1000.0, 5000.0, 256.0, 4000.0]),
)
def test_png16_depth_round_trip_is_bit_exact(tmp_path_factory, codes, scale):
    d = tmp_path_factory.mktemp("d16")
    Image.fromarray(codes).save(d / "a.png")
    depth = read_depth(d / "a.png", depth_scale=scale)
    assert depth.shape == (1, *codes.shape) and depth.dtype == torch.float32
    assert torch.equal(depth[0], torch.from_numpy(codes.astype(np.float32)) / scale)
    write_depth(d / "b.png", depth, depth_scale=scale)
    raw = read_depth_raw(d / "b.png")
    assert raw.dtype == np.uint16 and np.array_equal(raw, codes)


def test_tum_scale_5000(tmp_path):
    (tmp_path / "d.png").write_bytes(_png_bytes(np.array([[5000, 0, 12345]], dtype=np.uint16), 16, 0))
    depth, fmt = load_depth(tmp_path / "d.png", depth_scale=5000)
    assert fmt == "png16"
    assert torch.equal(depth, torch.tensor([[[1.0, 0.0, 2.469]]], dtype=torch.float32))


@HSET
@given(values=hnp.arrays(np.float32, small_hw, elements=st.floats(0.0, 1e4, width=32)))
def test_exr_and_npy_depth_round_trip_float_exact(tmp_path_factory, values):
    d = tmp_path_factory.mktemp("dexr")
    for suffix in (".exr", ".npy"):
        write_depth(d / f"a{suffix}", torch.from_numpy(values)[None])
        raw = read_depth_raw(d / f"a{suffix}")
        assert raw.dtype == np.float32 and np.array_equal(raw, values)
        depth = read_depth(d / f"a{suffix}")
        write_depth(d / f"b{suffix}", depth)
        assert np.array_equal(read_depth_raw(d / f"b{suffix}"), values)


def test_invalid_depth_values_become_zero(tmp_path):
    bad = np.array([[np.nan, np.inf, -np.inf, -2.0, 0.0, 1.5]], dtype=np.float32)
    _write_exr(tmp_path / "a.exr", {"Z": bad})
    np.save(tmp_path / "a.npy", bad)
    for name in ("a.exr", "a.npy"):
        depth = read_depth(tmp_path / name)
        assert torch.equal(depth, torch.tensor([[[0.0, 0.0, 0.0, 0.0, 0.0, 1.5]]]))
    assert np.isnan(read_depth_raw(tmp_path / "a.npy")[0, 0])  # raw is as stored


def test_exr_channel_choice(tmp_path):
    a = np.full((2, 3), 1.0, np.float32)
    b = np.full((2, 3), 2.0, np.float32)
    c = np.full((2, 3), 3.0, np.float32)
    _write_exr(tmp_path / "single.exr", {"distance": a})
    assert float(read_depth(tmp_path / "single.exr")[0, 0, 0]) == 1.0
    _write_exr(tmp_path / "rgb.exr", {"R": b, "G": a, "B": c})
    assert float(read_depth(tmp_path / "rgb.exr")[0, 0, 0]) == 2.0
    _write_exr(tmp_path / "zr.exr", {"R": b, "Z": c})
    assert float(read_depth(tmp_path / "zr.exr")[0, 0, 0]) == 3.0
    _write_exr(tmp_path / "half.exr", {"Y": np.full((2, 3), 0.5, np.float16), "A": a.astype(np.float16)})
    assert read_depth_raw(tmp_path / "half.exr").dtype == np.float32
    _write_exr(tmp_path / "none.exr", {"foo": a, "bar": b})
    with pytest.raises(DataError) as e:
        read_depth(tmp_path / "none.exr")
    assert "bar" in _one_line_naming(e, tmp_path / "none.exr") and "Z" in str(e.value)


def test_npy_depth_shapes(tmp_path):
    d = np.arange(6, dtype=np.float32).reshape(2, 3)
    for i, arr in enumerate((d, d[None], d[:, :, None], d.astype(np.float64))):
        np.save(tmp_path / f"{i}.npy", arr)
        assert torch.equal(read_depth(tmp_path / f"{i}.npy"), torch.from_numpy(d)[None])
    np.save(tmp_path / "bad.npy", np.zeros((2, 2, 3), np.float32))
    with pytest.raises(DataError, match="shape") as e:
        read_depth(tmp_path / "bad.npy")
    _one_line_naming(e, tmp_path / "bad.npy")
    np.save(tmp_path / "int.npy", np.zeros((2, 2), np.uint16))
    with pytest.raises(DataError, match="float metres"):
        read_depth(tmp_path / "int.npy")


def test_png_depth_beyond_16_bits_is_refused(tmp_path):
    with pytest.raises(DataError, match="65535") as e:
        write_depth(tmp_path / "d.png", torch.tensor([[[70.0]]]), depth_scale=1000)
    _one_line_naming(e, tmp_path / "d.png")
    assert not (tmp_path / "d.png").exists()
    write_depth(tmp_path / "d.png", torch.tensor([[[65.535]]]), depth_scale=1000)
    assert int(read_depth_raw(tmp_path / "d.png")[0, 0]) == 65535


def test_8bit_depth_and_colour_depth_are_refused(tmp_path):
    (tmp_path / "d8.png").write_bytes(_png_bytes(np.array([[1, 2]], dtype=np.uint8), 8, 0))
    with pytest.raises(DataError, match="8-bit depth.*lossy") as e:
        read_depth(tmp_path / "d8.png")
    _one_line_naming(e, tmp_path / "d8.png")
    write_rgb(tmp_path / "c.png", torch.zeros(3, 2, 2))
    with pytest.raises(DataError, match="channel") as e:
        read_depth(tmp_path / "c.png")
    _one_line_naming(e, tmp_path / "c.png")


# ---------------------------------------------------------------------------------------- 4-channel arrays


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_rgbd_array_round_trip(tmp_path, suffix):
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(3, 5, 7, generator=g)
    depth = torch.rand(1, 5, 7, generator=g) * 4
    depth[0, 0, 0] = 0
    write_rgbd_array(tmp_path / f"a{suffix}", rgb, depth)
    r, d = read_rgbd_array(tmp_path / f"a{suffix}")
    assert torch.equal(r, rgb) and torch.equal(d, depth)


def test_rgbd_array_npz_key_and_checks(tmp_path):
    arr = np.zeros((2, 3, 4), np.float32)
    arr[..., 3] = 2.0
    np.savez(tmp_path / "first.npz", other=arr)
    np.savez(tmp_path / "keyed.npz", aaa=np.ones((2, 3, 4), np.float32) * 9, rgbd=arr)
    for name in ("first.npz", "keyed.npz"):
        _, d = read_rgbd_array(tmp_path / name)
        assert torch.equal(d, torch.full((1, 2, 3), 2.0))
    np.save(tmp_path / "three.npy", np.zeros((2, 3, 3), np.float32))
    with pytest.raises(DataError, match="shape") as e:
        read_rgbd_array(tmp_path / "three.npy")
    _one_line_naming(e, tmp_path / "three.npy")
    np.save(tmp_path / "255.npy", np.full((2, 3, 4), 200.0, np.float32))
    with pytest.raises(DataError, match=r"outside \[0, 1\]"):
        read_rgbd_array(tmp_path / "255.npy")
    with pytest.raises(DataError, match="too many pixels"):
        read_rgbd_array(tmp_path / "keyed.npz", pixel_limit=5)


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("name", "reader"),
    [("x.png", read_rgb), ("x.jpg", read_rgb), ("x.png", read_depth), ("x.exr", read_depth), ("x.npy", read_depth)],
)
def test_empty_missing_and_text_files(tmp_path, name, reader):
    p = tmp_path / name
    with pytest.raises(DataError, match="no such file") as e:
        reader(p)
    _one_line_naming(e, p)
    p.write_bytes(b"")
    with pytest.raises(DataError, match="empty file") as e:
        reader(p)
    _one_line_naming(e, p)
    p.write_text("this is not an image\n")
    with pytest.raises(DataError) as e:
        reader(p)
    _one_line_naming(e, p)


def test_truncated_files(tmp_path):
    g = torch.Generator().manual_seed(1)
    write_rgb(tmp_path / "c8.png", torch.rand(3, 32, 32, generator=g))
    write_rgb(tmp_path / "c16.png", torch.rand(3, 32, 32, generator=g), bits=16)
    write_rgb(tmp_path / "c.jpg", torch.rand(3, 32, 32, generator=g))
    write_depth(tmp_path / "d.png", torch.rand(1, 32, 32, generator=g))
    write_depth(tmp_path / "d.exr", torch.rand(1, 32, 32, generator=g))
    write_depth(tmp_path / "d.npy", torch.rand(1, 32, 32, generator=g))
    cases = [("c8.png", read_rgb), ("c16.png", read_rgb), ("c.jpg", read_rgb)]
    cases += [("d.png", read_depth), ("d.exr", read_depth), ("d.npy", read_depth)]
    for name, reader in cases:
        p = tmp_path / name
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
        with pytest.raises(DataError) as e:
            reader(p)
        _one_line_naming(e, p)


def test_pixel_limit(tmp_path):
    write_rgb(tmp_path / "c.png", torch.zeros(3, 4, 5))
    write_rgb(tmp_path / "c.jpg", torch.zeros(3, 4, 5))
    for suffix in (".png", ".exr", ".npy"):
        write_depth(tmp_path / f"d{suffix}", torch.ones(1, 4, 5))
    for name, reader in [("c.png", read_rgb), ("c.jpg", read_rgb)] + [
        (f"d{s}", read_depth) for s in (".png", ".exr", ".npy")
    ]:
        assert reader(tmp_path / name, pixel_limit=20).shape[-2:] == (4, 5)
        with pytest.raises(DataError, match=r"too many pixels \(4x5 = 20 > pixel limit 19\)") as e:
            reader(tmp_path / name, pixel_limit=19)
        _one_line_naming(e, tmp_path / name)


def test_missing_openexr_names_the_extra(tmp_path, monkeypatch):
    write_depth(tmp_path / "d.exr", torch.ones(1, 2, 2))
    monkeypatch.setitem(sys.modules, "OpenEXR", None)  # import OpenEXR now raises ImportError
    with pytest.raises(DataError, match=r"volo-adapt\[exr\]"):
        read_depth(tmp_path / "d.exr")
    with pytest.raises(DataError, match=r"volo-adapt\[exr\]"):
        write_depth(tmp_path / "e.exr", torch.ones(1, 2, 2))


def test_writes_are_atomic_and_leave_no_temp_files(tmp_path):
    write_depth(tmp_path / "d.png", torch.ones(1, 2, 2))
    with pytest.raises(DataError):
        write_depth(tmp_path / "d.png", torch.full((1, 2, 2), 1e6))
    assert torch.equal(read_depth(tmp_path / "d.png"), torch.ones(1, 2, 2))  # previous file intact
    write_rgbd_array(tmp_path / "a.npz", torch.zeros(3, 2, 2), torch.ones(1, 2, 2))
    write_rgb(tmp_path / "sub" / "c.png", torch.zeros(3, 2, 2), bits=16)
    write_depth(tmp_path / "d.exr", torch.ones(2, 2))
    names = sorted(p.name for p in tmp_path.rglob("*"))
    assert names == ["a.npz", "c.png", "d.exr", "d.png", "sub"]


def test_formats_module_still_exports_every_reader_and_writer():
    import volo_adapt.data.formats as formats
    from volo_adapt.data import formats_array, formats_depth, formats_rgb

    assert formats.write_rgb is formats_rgb.write_rgb and formats.load_depth is formats_depth.load_depth
    assert formats.read_rgbd_array is formats_array.read_rgbd_array
    for name in formats.__all__:
        assert getattr(formats, name) is not None, name
