"""Bad input, fuzzed: random bytes, truncated and corrupted files, decompression bombs, NaN/negative depth,
mismatched sizes and garbage indexes must each give one :class:`DataError` naming the file (or the sample),
never any other exception type; ``volo data check`` lists them all and exits 2 without a traceback.

Readers under test: volo_adapt/data/formats.py (read_rgb, read_depth, read_rgbd_array) and
volo_adapt/data/sources.py (open_source, read_sample).
"""

from __future__ import annotations

import csv
import io
import json
import resource
import struct
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from volo_faults_helpers import assert_one_line_error, assert_silent, expect_error_or_ok, run_volo

from volo_adapt.data.formats import (
    DEFAULT_PIXEL_LIMIT,
    read_depth,
    read_rgb,
    read_rgbd_array,
    write_depth,
    write_rgb,
    write_rgbd_array,
)
from volo_adapt.data.sources import open_source, read_sample
from volo_adapt.errors import DataError

FUZZ = settings(deadline=None,  # example count: the profile (tests/conftest.py)
                 suppress_health_check=[HealthCheck.too_slow])
H, W = 12, 16


# --------------------------------------------------------------------------------------------- valid files


def _valid_bytes(tmp: Path) -> dict[str, bytes]:
    """One small valid file of every readable kind, as bytes (kind name = ``role.suffix``)."""
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(3, H, W, generator=g)
    depth = 0.3 + 3 * torch.rand(1, H, W, generator=g)
    depth[:, :2] = 0.0
    write_rgb(tmp / "rgb.png", rgb)
    write_rgb(tmp / "rgb16.png", rgb, bits=16)
    write_rgb(tmp / "rgb.jpg", rgb)
    write_depth(tmp / "depth.png", depth)
    write_depth(tmp / "depth.exr", depth)
    write_depth(tmp / "depth.npy", depth)
    write_rgbd_array(tmp / "rgbd.npy", rgb, depth)
    write_rgbd_array(tmp / "rgbd.npz", rgb, depth)
    return {p.name: p.read_bytes() for p in sorted(tmp.iterdir())}


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, bytes]:
    return _valid_bytes(tmp_path_factory.mktemp("valid"))


KINDS = ("rgb.png", "rgb16.png", "rgb.jpg", "depth.png", "depth.exr", "depth.npy", "rgbd.npy", "rgbd.npz")


def _suffix(kind: str) -> str:
    return "." + kind.split(".", 1)[1]


def _read(kind: str, path: Path):
    """The reader of ``kind``; checks the contract of a successful read."""
    if kind.startswith("rgb."):
        def fn():
            return read_rgb(path)

        def ok(t):
            assert t.dtype == torch.float32 and t.ndim == 3 and t.shape[0] == 3
            assert torch.isfinite(t).all() and t.min() >= 0 and t.max() <= 1
    elif kind.startswith("rgb16"):
        def fn():
            return read_rgb(path)

        def ok(t):
            assert t.dtype == torch.float32 and t.shape[0] == 3 and t.min() >= 0 and t.max() <= 1
    elif kind.startswith("depth"):
        def fn():
            return read_depth(path)

        def ok(d):
            assert d.dtype == torch.float32 and d.ndim == 3 and d.shape[0] == 1
            assert torch.isfinite(d).all() and (d >= 0).all()
    else:
        def fn():
            return read_rgbd_array(path)

        def ok(out):
            rgb, d = out
            assert rgb.shape[0] == 3 and d.shape == (1, *rgb.shape[1:])
            assert torch.isfinite(d).all() and (d >= 0).all()
    return fn, ok


def _check(kind: str, path: Path, must_fail: bool = False) -> None:
    """Read ``path``: a DataError naming it or a result meeting the reader's contract, and nothing printed."""
    fn, ok = _read(kind, path)
    with assert_silent(f"reading {kind} {path}"):
        out = expect_error_or_ok(fn, DataError, str(path), ok)
    if must_fail:
        assert isinstance(out, DataError), f"{kind} {path.stat().st_size} bytes was accepted"


MAGIC = {
    ".png": b"\x89PNG\r\n\x1a\n",
    ".jpg": b"\xff\xd8\xff\xe0",
    ".exr": b"v/1\x01\x02\x00\x00\x00",
    ".npy": b"\x93NUMPY\x01\x00",
    ".npz": b"PK\x03\x04",
}


# -------------------------------------------------------------------------------------------- fuzzed bytes


@FUZZ
@given(kind=st.sampled_from(KINDS), data=st.binary(max_size=600), magic=st.booleans())
def test_random_bytes_give_data_error_naming_the_file(faults_tmp, kind, data, magic):
    """Random bytes (optionally behind the right magic number, to get past format sniffing) are refused."""
    path = faults_tmp("rand") / f"x{_suffix(kind)}"
    path.write_bytes((MAGIC[_suffix(kind)] if magic else b"") + data)
    _check(kind, path)


@FUZZ
@given(kind=st.sampled_from(KINDS), frac=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_files_give_data_error(faults_tmp, valid, kind, frac):
    """A valid file cut at a random offset: refused (always, when the cut loses 40 % or more of it)."""
    data = valid[kind]
    cut = int(frac * len(data))
    path = faults_tmp("trunc") / f"x{_suffix(kind)}"
    path.write_bytes(data[:cut])
    _check(kind, path, must_fail=cut < 0.6 * len(data))


@FUZZ
@given(kind=st.sampled_from(KINDS), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                             st.integers(0, 255)), min_size=1, max_size=8))
def test_corrupted_bytes_are_refused_or_read_cleanly(faults_tmp, valid, kind, flips):
    """Random byte overwrites: either a DataError naming the file or a result that meets the reader contract."""
    data = bytearray(valid[kind])
    for where, value in flips:
        data[int(where * len(data))] = value
    path = faults_tmp("flip") / f"x{_suffix(kind)}"
    path.write_bytes(bytes(data))
    _check(kind, path)


@FUZZ
@given(kind=st.sampled_from(KINDS), flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True),
                                                             st.integers(0, 255)), min_size=1, max_size=4))
def test_corrupted_headers_are_refused_or_read_cleanly(faults_tmp, valid, kind, flips):
    """Byte overwrites within the first 320 bytes, where every format keeps its header (the .npy dict, the EXR
    attributes and offset table, PNG IHDR, JPEG markers, the zip entry): the header parsers get most of the hits."""
    data = bytearray(valid[kind])
    span = min(320, len(data))
    for where, value in flips:
        data[int(where * span)] = value
    path = faults_tmp("hdr") / f"x{_suffix(kind)}"
    path.write_bytes(bytes(data))
    _check(kind, path)


# Counterexamples found by fuzzing (the properties above, `make fuzz`) and by reading the parsers, kept as plain
# regression tests with explicit bytes so that every run checks them.


def _npy(header: bytes, payload: bytes = b"") -> bytes:
    """A version 1.0 ``.npy`` file with the given header dict text (padded to 64 bytes, newline-terminated)."""
    header = header + b" " * (-(len(header) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


NPY_COUNTEREXAMPLES = {
    # a flipped byte leaves the dict's brace open: numpy's header parser raised tokenize.TokenError
    "unclosed_brace": _npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), " + b" "),
    # a 30-digit dimension: OverflowError ("Python int too large to convert to C long")
    "huge_dimension": _npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (" + b"9" * 30 + b", 4), }"),
    # brackets nested far deeper than the parser recurses
    "deep_nesting": _npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': " + b"(" * 3000 + b")" * 3000 + b"}"),
    "negative_dimension": _npy(b"{'descr': '<f4', 'fortran_order': False, 'shape': (4, -4), }"),
    "unknown_version": b"\x93NUMPY\x09\x00" + _npy(b"{}")[8:],
}


@pytest.mark.parametrize("name", sorted(NPY_COUNTEREXAMPLES))
@pytest.mark.parametrize("kind", ["depth.npy", "rgbd.npy"])
def test_npy_header_counterexamples_are_one_data_error(tmp_path, name, kind):
    path = tmp_path / f"{name}.npy"
    path.write_bytes(NPY_COUNTEREXAMPLES[name])
    _check(kind, path, must_fail=True)


@pytest.mark.parametrize("kind", ["depth.npy", "rgbd.npy", "rgbd.npz"])
def test_a_backslash_in_the_npy_header_is_refused_without_a_warning(faults_tmp, valid, kind):
    """`make fuzz` at 3000 examples (issue 23): `kind='depth.npy', flips=[(0.171875, 92)]` wrote a backslash into the
    header dict, and numpy's header parser (ast.literal_eval) compiled it and printed "DeprecationWarning: invalid
    escape sequence '\\e'" (a future Python raises). The header is now parsed, never compiled: the same bytes give
    one DataError (or a clean read) and no warning of any kind."""
    data = bytearray(valid["rgbd.npy" if kind == "rgbd.npz" else kind])
    data[int(0.171875 * min(320, len(data)))] = 92
    if kind == "rgbd.npz":  # the same member inside a zip
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("rgbd.npy", bytes(data))
        data = bytearray(buf.getvalue())
    path = faults_tmp("backslash") / f"x{_suffix(kind)}"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check(kind, path)


def _zip_method_99(valid_npz: bytes) -> bytes:
    """The valid .npz with its member's compression method set to 99 (unknown): zipfile raised
    NotImplementedError."""
    data = bytearray(valid_npz)
    data[8:10] = struct.pack("<H", 99)  # local file header: method at offset 8
    central = data.index(b"PK\x01\x02")
    data[central + 10: central + 12] = struct.pack("<H", 99)  # central directory entry: method at offset 10
    return bytes(data)


def test_npz_with_an_unknown_compression_method_is_one_data_error(tmp_path, valid):
    path = tmp_path / "method.npz"
    path.write_bytes(_zip_method_99(valid["rgbd.npz"]))
    _check("rgbd.npz", path, must_fail=True)


def _exr_first_chunk(data: bytes) -> int:
    """Offset of the first scanline chunk of a single-part EXR: the first entry of the offset table that follows
    the header (attributes ``name\\0 type\\0 int32 size, value``, ended by a null byte)."""
    pos = 8  # magic number and version
    while data[pos] != 0:
        type_end = data.index(b"\x00", data.index(b"\x00", pos) + 1)
        pos = type_end + 5 + struct.unpack_from("<i", data, type_end + 1)[0]
    return struct.unpack_from("<Q", data, pos + 1)[0]


def test_corrupt_exr_chunk_gives_only_our_line(tmp_path, valid):
    """The first chunk's scanline number is garbage: OpenEXR printed an EXR_ERR_BAD_CHUNK_LEADER line to fd 2
    and a "Warning: Exception raised reading pixel data" line to stdout before raising. Now its message is the
    reason inside our one line and nothing is printed."""
    data = bytearray(valid["depth.exr"])
    chunk = _exr_first_chunk(bytes(data))
    data[chunk: chunk + 4] = struct.pack("<i", 1061634197)
    path = tmp_path / "leader.exr"
    path.write_bytes(bytes(data))
    with assert_silent("reading a corrupt EXR"), pytest.raises(DataError) as e:
        read_depth(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: unreadable or truncated EXR (") and "\n" not in msg
    assert "EXR_ERR_BAD_CHUNK_LEADER" in msg and "1061634197" in msg


# ---------------------------------------------------------------------------------- decompression bombs


def _png_chunk(tag: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))


def _png_bomb(w: int, h: int, bit_depth: int, colour_type: int) -> bytes:
    """A ~60-byte PNG whose header claims ``w x h`` pixels (the data would be gigabytes)."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + _png_chunk(b"IEND", b""))


def _jpeg_bomb(valid_jpg: bytes, side: int = 65000) -> bytes:
    """A valid small JPEG whose SOF0 header is patched to claim ``side x side`` pixels."""
    data = bytearray(valid_jpg)
    i = data.index(b"\xff\xc0")  # SOF0: marker, length(2), precision(1), height(2), width(2)
    data[i + 5: i + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def _exr_bomb(valid_exr: bytes, side: int = 100_000) -> bytes:
    """A valid small EXR whose dataWindow is patched to claim ``side x side`` pixels."""
    data = bytearray(valid_exr)
    tag = b"dataWindow\x00box2i\x00" + struct.pack("<i", 16)
    i = data.index(tag) + len(tag)
    data[i: i + 16] = struct.pack("<iiii", 0, 0, side - 1, side - 1)
    return bytes(data)


def _npz_bomb(side: int = 100_000) -> bytes:
    """An .npz whose ``rgbd`` member's header claims ``(side, side, 4)`` float32 (the data is 64 bytes)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                 "shape": (side, side, 4)})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("rgbd.npy", header.getvalue() + b"\x00" * 64)
    return buf.getvalue()


def test_decompression_bombs_are_refused_before_decoding(tmp_path, valid):
    """Tiny files whose headers claim 100000x100000 (or 65000x65000 JPEG) pixels are refused by the pixel limit
    from their header alone: the message says so, and the process' peak memory does not grow."""
    bombs = {
        "rgb8.png": (_png_bomb(100_000, 100_000, 8, 2), read_rgb),
        "rgb16.png": (_png_bomb(100_000, 100_000, 16, 2), read_rgb),
        "grey.png": (_png_bomb(100_000, 100_000, 8, 0), read_rgb),
        "depth.png": (_png_bomb(100_000, 100_000, 16, 0), read_depth),
        "bomb.jpg": (_jpeg_bomb(valid["rgb.jpg"]), read_rgb),
        "depth.exr": (_exr_bomb(valid["depth.exr"]), read_depth),
        "rgbd.npz": (_npz_bomb(), read_rgbd_array),
    }
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    for name, (data, reader) in bombs.items():
        path = tmp_path / name
        path.write_bytes(data)
        assert len(data) < 4096
        with pytest.raises(DataError) as e:
            reader(path)
        msg = str(e.value)
        assert str(path) in msg and "\n" not in msg
        assert "too many pixels" in msg, (name, msg)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert grown_mib < 200, f"reading the bombs raised peak memory by {grown_mib:.0f} MiB"


def test_pixel_limit_is_configurable(tmp_path, valid):
    """A normal 12x16 file is refused under a 100-pixel limit and read under the default."""
    for kind in KINDS:
        path = tmp_path / f"x{_suffix(kind)}"
        path.write_bytes(valid[kind])
        reader = read_rgb if kind.startswith("rgb") and "rgbd" not in kind else (
            read_depth if kind.startswith("depth") else read_rgbd_array)
        reader(path, pixel_limit=DEFAULT_PIXEL_LIMIT)
        with pytest.raises(DataError, match="too many pixels"):
            reader(path, pixel_limit=100)


# -------------------------------------------------------------------------------------- bad depth values

any_floats = st.floats(allow_nan=True, allow_infinity=True, width=32)


def _expected_depth(d: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(d) & (d > 0), d, 0).astype(np.float32)


@FUZZ
@given(d=hnp.arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=any_floats),
       fmt=st.sampled_from([".npy", ".exr"]))
def test_nan_inf_negative_depth_become_invalid_not_errors(faults_tmp, d, fmt):
    """Depth stored with NaN, +-inf, negative or zero values reads as 0 (invalid) there and exactly elsewhere."""
    path = faults_tmp("nan") / f"d{fmt}"
    if fmt == ".npy":
        np.save(path, d)
    else:
        with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage},
                          {"Z": np.ascontiguousarray(d)}) as f:
            f.write(str(path))
    got = read_depth(path)[0].numpy()
    np.testing.assert_array_equal(got, _expected_depth(d))


@FUZZ
@given(d=hnp.arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=any_floats))
def test_rgbd_array_depth_channel_cleaned_and_sample_mask_agrees(faults_tmp, d):
    """NaN/negative depth in a 4-channel array becomes invalid; read_sample's mask is exactly depth > 0."""
    root = faults_tmp("arr")
    arr = np.concatenate([np.full((*d.shape, 3), 0.5, np.float32), d[:, :, None]], axis=2)
    np.save(root / "s.npy", arr)
    (ref,) = open_source(str(root))
    sample = read_sample(ref)
    np.testing.assert_array_equal(sample.depth[0].numpy(), _expected_depth(d))
    assert torch.equal(sample.valid, sample.depth > 0)


def test_nan_colour_in_an_array_is_a_data_error(tmp_path):
    arr = np.full((4, 4, 4), 0.5, np.float32)
    arr[1, 1, 0] = np.nan
    np.save(tmp_path / "s.npy", arr)
    with pytest.raises(DataError, match="NaN"):
        read_rgbd_array(tmp_path / "s.npy")


# ------------------------------------------------------------------------------------- mismatched sizes


@FUZZ
@given(rgb_hw=st.tuples(st.integers(1, 24), st.integers(1, 24)), depth_hw=st.tuples(st.integers(1, 24),
                                                                                     st.integers(1, 24)))
def test_mismatched_rgb_and_depth_sizes(faults_tmp, rgb_hw, depth_hw):
    """Any pair of sizes: aligned to one size (same aspect) or a DataError naming the sample, nothing else."""
    root = faults_tmp("size")
    write_rgb(root / "rgb" / "k.png", torch.rand(3, *rgb_hw))
    write_depth(root / "depth" / "k.png", torch.full((1, *depth_hw), 1.5))
    (ref,) = open_source(str(root))

    def ok(s):
        assert s.rgb.shape[1:] == s.depth.shape[1:] == s.valid.shape[1:]
        assert (s.depth[s.valid] == 1.5).all()  # nearest resampling never invents depth

    out = expect_error_or_ok(lambda: read_sample(ref), DataError, f"{root}: k", ok)
    if isinstance(out, DataError):
        assert "aspect" in str(out)


# ---------------------------------------------------------------------------------------- garbage indexes

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                      st.text(max_size=12), st.sampled_from(["rgb/a.png", "../x.png", "/nonexistent/y.png", "", "#",
                                                             "/", ".", "..", "a/.."]))
json_values = st.recursive(json_leaf, lambda c: st.one_of(st.lists(c, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), c, max_size=4)),
                           max_leaves=12)
entry = st.fixed_dictionaries({}, optional={"color_path": json_values, "depth_path": json_values,
                                            "other": json_values})
index_docs = st.one_of(json_values, st.lists(entry, max_size=4),
                       st.dictionaries(st.sampled_from(["train", "val", "x"]), st.lists(entry, max_size=4), max_size=3))


def _read_all(spec: str, names: str) -> None:
    """open_source then read_sample of every ref: DataError or success, never anything else."""
    refs = expect_error_or_ok(lambda: open_source(spec), DataError, names)
    if isinstance(refs, DataError):
        return
    for ref in refs:
        expect_error_or_ok(lambda ref=ref: read_sample(ref), DataError, None)


@FUZZ
@given(doc=index_docs, key=st.sampled_from(["", "#train", "#x", "#nope"]))
def test_fuzzed_json_index(faults_tmp, doc, key):
    path = faults_tmp("json") / "index.json"
    path.write_text(json.dumps(doc))
    _read_all(str(path) + key, "index.json")


@FUZZ
@given(data=st.binary(max_size=300), as_json=st.booleans())
def test_random_bytes_as_index(faults_tmp, data, as_json):
    path = faults_tmp("idx") / ("index.json" if as_json else "index.csv")
    path.write_bytes(data)
    _read_all(str(path), path.name)


@pytest.mark.parametrize("text", [
    "[" * 100_000,  # RecursionError in the JSON decoder
    "1" * 5000,  # ValueError: an integer beyond Python's 4300-digit conversion limit, not a JSONDecodeError
    '{"train": [{"color_path": 1' + "0" * 5000 + "}]}",
], ids=["deep_nesting", "huge_integer", "huge_integer_in_entry"])
def test_json_index_counterexamples_are_one_data_error(tmp_path, text):
    path = tmp_path / "index.json"
    path.write_text(text)
    with assert_silent("opening a bad index"), pytest.raises(DataError) as e:
        open_source(str(path))
    assert str(e.value).startswith(f"{path}: not valid JSON (") and "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["/", ".", "..", "rgb/.."])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_index_entry_naming_a_folder_is_one_data_error(tmp_path, fmt, value):
    """Found by make fuzz: a CSV row '/' made the sample key Path('.').with_suffix(''), a ValueError."""
    path = tmp_path / f"index.{fmt}"
    if fmt == "csv":
        path.write_text(f"color_path,depth_path\n{value},d.png\n")
    else:
        path.write_text(json.dumps([{"color_path": "c.png", "depth_path": value}]))
    with assert_silent("opening the index"), pytest.raises(DataError) as e:
        open_source(str(path))
    assert str(e.value).startswith(f"{path}: ") and f"{value!r} names a folder" in str(e.value)


@FUZZ
@given(header=st.sampled_from([["color_path", "depth_path"], ["depth_path", "color_path", "x"], ["a", "b"], []]),
       rows=st.lists(st.lists(st.one_of(st.text(max_size=10), st.sampled_from(["rgb/a.png", "", "../b.png"])),
                              max_size=4), max_size=5))
def test_fuzzed_csv_index(faults_tmp, header, rows):
    path = faults_tmp("csv") / "index.csv"
    buf = io.StringIO()
    w = csv.writer(buf)
    if header:
        w.writerow(header)
    w.writerows(rows)
    path.write_text(buf.getvalue())
    _read_all(str(path), "index.csv")


# ------------------------------------------------------------------------------------ volo data check CLI


def test_volo_data_check_lists_every_fuzzed_file_and_exits_2(tmp_path, valid):
    """A folder of random, truncated, bomb and NaN files next to good ones: exit 2, every bad file listed by
    name, no traceback."""
    root = tmp_path / "fuzzed"
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    rng = np.random.default_rng(0)
    bad = {
        "random": (rng.bytes(300), valid["depth.png"]),
        "magic": (MAGIC[".png"] + rng.bytes(200), valid["depth.png"]),
        "trunc_rgb": (valid["rgb.png"][: len(valid["rgb.png"]) // 3], valid["depth.png"]),
        "trunc_depth": (valid["rgb.png"], valid["depth.png"][:40]),
        "bomb": (_png_bomb(100_000, 100_000, 8, 2), valid["depth.png"]),
        "empty": (valid["rgb.png"], b""),
    }
    for key, (rgb, depth) in bad.items():
        (root / "rgb" / f"{key}.png").write_bytes(rgb)
        (root / "depth" / f"{key}.png").write_bytes(depth)
    for i in range(2):
        (root / "rgb" / f"good{i}.png").write_bytes(valid["rgb.png"])
        (root / "depth" / f"good{i}.png").write_bytes(valid["depth.png"])
    exr = bytearray(valid["depth.exr"])  # a corrupt EXR: OpenEXR's own diagnostics must not reach the terminal
    chunk = _exr_first_chunk(bytes(exr))
    exr[chunk: chunk + 4] = struct.pack("<i", 1061634197)
    (root / "rgb" / "exr_leader.png").write_bytes(valid["rgb.png"])
    (root / "depth" / "exr_leader.exr").write_bytes(bytes(exr))
    bad["exr_leader"] = (b"", b"")
    nan_depth = np.full((H, W), np.nan, np.float32)
    nan_depth[0, 0] = -3.0
    (root / "rgb" / "nan.png").write_bytes(valid["rgb.png"])
    np.save(root / "depth" / "nan.npy", nan_depth)  # all invalid: readable, not an error
    proc = run_volo("data", "check", str(root))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out
    assert f"{len(bad)} bad sample(s)" in out
    for key in bad:
        assert f"{key}.{'exr' if key == 'exr_leader' else 'png'}" in out, key
    assert "too many pixels" in out
    assert "Warning: Exception raised" not in out  # OpenEXR's binding prints this to stdout
    assert not any(line.lstrip().startswith(str(root / "depth" / "exr_leader.exr") + ": (EXR_ERR")
                   for line in out.splitlines()), out  # OpenEXR's core prints this to fd 2
    listed = out.split("bad sample(s):", 1)[1]
    assert "good0" not in listed and "nan" not in listed


def test_volo_data_check_pixel_limit_option(tmp_path, valid):
    root = tmp_path / "small"
    for i in range(2):
        (root / "rgb").mkdir(parents=True, exist_ok=True)
        (root / "depth").mkdir(exist_ok=True)
        (root / "rgb" / f"{i}.png").write_bytes(valid["rgb.png"])
        (root / "depth" / f"{i}.png").write_bytes(valid["depth.png"])
    proc = run_volo("data", "check", str(root), "--pixel-limit", "100")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stdout.count("too many pixels") == 2


def test_volo_data_check_unopenable_source_is_one_line(tmp_path):
    (tmp_path / "index.json").write_bytes(b"\xff\xfe{garbage")
    proc = run_volo("data", "check", str(tmp_path / "index.json"))
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "index.json")
