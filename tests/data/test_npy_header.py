"""The hand-written .npy header reader: numpy's own files read back exactly; hostile headers refused, never compiled."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from volo_adapt.data.npy_header import NpyHeaderError, open_npy, parse_header_text, read_npy_bytes


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<u2", "<f8", "|u1", "<f2"])
@pytest.mark.parametrize("shape", [(3, 5), (2, 3, 4), (0, 4), (7,)])
@pytest.mark.parametrize("fortran", [False, True])
def test_numpy_written_files_read_back_exactly(tmp_path, dtype, shape, fortran):
    arr = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape, order="F" if fortran else "C")
    if fortran:
        arr = np.asfortranarray(arr)
    path = tmp_path / "a.npy"
    np.save(path, arr)
    got = open_npy(path)
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)
    buf = io.BytesIO()
    np.save(buf, arr)
    np.testing.assert_array_equal(read_npy_bytes(buf.getvalue()), arr)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_every_header_version(tmp_path, version):
    arr = np.ones((2, 3), dtype=np.float32)
    path = tmp_path / "v.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)
    np.testing.assert_array_equal(open_npy(path), arr)


def _with_header(text: str) -> bytes:
    header = text.encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64


@pytest.mark.parametrize(
    "text",
    [
        # the fuzz case of issue 23: a backslash in the header made numpy's literal_eval warn "invalid escape \e"
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), '\\e': 1}",
        "{'descr': '<f\\e4', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': 'O', 'fortran_order': False, 'shape': (2, 2), }",  # object arrays (pickle)
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",  # structured
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 2], }",
        "{'descr': '<f4', 'shape': (2, 2), }",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': " + "(" * 500 + ")" * 500 + "}",
        "__import__('os')",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (" + "1" * 5000 + "x",  # no catastrophic backtracking
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2), }",
        "{'descr': 'nonsense', 'fortran_order': False, 'shape': (2,), }",
    ],
)
def test_hostile_headers_are_refused_without_warnings(tmp_path, text):
    path = tmp_path / "bad.npy"
    path.write_bytes(_with_header(text))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DeprecationWarning/SyntaxWarning from compiling would fail here
        with pytest.raises(NpyHeaderError):
            open_npy(path)


@pytest.mark.parametrize("data", [b"", b"\x93NUMP", b"\x93NUMPY\x09\x00\x10\x00", b"PK\x03\x04 not npy"])
def test_not_npy_is_refused(data):
    with pytest.raises(NpyHeaderError):
        read_npy_bytes(data)


def test_truncated_data_is_refused(tmp_path):
    path = tmp_path / "t.npy"
    np.save(path, np.ones((4, 4), dtype=np.float32))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(NpyHeaderError, match="truncated data"):
        open_npy(path)


def test_parse_header_text_grammar():
    assert parse_header_text("{'descr': '<u2', 'fortran_order': True, 'shape': (3,), }") == (
        (3,), np.dtype("<u2"), True)
    assert parse_header_text("{'shape': (), 'descr': '<f8', 'fortran_order': False}")[0] == ()
