"""Read ``.npy`` headers (and ``.npz`` members) without ever compiling the file's bytes as Python source.

numpy's own reader passes the header text to ``ast.literal_eval``: a crafted or corrupted header is then compiled
by Python's parser, which prints a ``DeprecationWarning`` ("invalid escape sequence") for a stray backslash (a future
Python raises instead) and can spend unbounded time and memory on deeply nested brackets. Depth files come from
users and sensors, so this module parses the one grammar numpy writes, by hand, and refuses everything else:

    {'descr': '<f4', 'fortran_order': False, 'shape': (480, 640), }

Written by hand because no library parses the npy header without ``literal_eval``; the grammar is numpy's
``NEP 1`` format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html), versions 1.0-3.0.
Only plain (non-structured, non-object) dtypes are accepted: depth and RGB-D arrays never need more.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

MAGIC = b"\x93NUMPY"
MAX_HEADER_BYTES = 64 * 1024
"""numpy refuses headers above 10 kB by default; ours is generous but bounded."""
MAX_DIMENSION = 2**31 - 1
"""Largest accepted array dimension (a flipped byte can make a 30-digit one)."""

_KEY_VALUE = re.compile(
    r"\s*'(?P<key>descr|fortran_order|shape)'\s*:\s*"
    r"(?P<value>'[<>|=]?[a-zA-Z][a-zA-Z0-9]*'|True|False|\(\s*(?:\d+\s*(?:,\s*\d+\s*)*,?\s*)?\))\s*(?:,|$)"
)


class NpyHeaderError(ValueError):
    """The bytes are not a ``.npy`` header this reader accepts; the message says what is wrong, on one line."""


@dataclass(frozen=True)
class NpyHeader:
    """What an ``.npy`` header says about the array that follows it.

    Attributes:
        shape: array shape, e.g. ``(480, 640)``.
        dtype: a plain numpy dtype (``float32``, ``uint16``, ...; never object or structured).
        fortran_order: True when the data is stored column-major.
        offset: byte offset of the data from the start of the file or member.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    offset: int

    @property
    def nbytes(self) -> int:
        """Bytes of array data the header promises."""
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _parse_value(key: str, raw: str) -> object:
    if key == "descr":
        if not raw.startswith("'"):
            raise NpyHeaderError(f"descr must be a dtype string, got {raw[:20]!r}")
        try:
            dtype = np.dtype(raw[1:-1])
        except TypeError as e:
            raise NpyHeaderError(f"unknown dtype {raw[1:-1]!r}") from e
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None:
            raise NpyHeaderError(f"dtype {raw[1:-1]!r} is not a plain numeric type")
        return dtype
    if key == "fortran_order":
        if raw not in ("True", "False"):
            raise NpyHeaderError(f"fortran_order must be True or False, got {raw[:20]!r}")
        return raw == "True"
    if not raw.startswith("("):
        raise NpyHeaderError(f"shape must be a tuple, got {raw[:20]!r}")
    shape = tuple(int(x) for x in re.findall(r"\d+", raw))
    if any(n > MAX_DIMENSION for n in shape):
        raise NpyHeaderError(f"dimension above {MAX_DIMENSION} in shape {raw[:40]}")
    return shape


def parse_header_text(text: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    """``"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"`` -> ``(shape, dtype, fortran_order)``.

    Raises:
        NpyHeaderError: anything but exactly the three keys with values of numpy's grammar.
    """
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise NpyHeaderError("header is not a {...} dictionary")
    inner, pos, found = body[1:-1], 0, {}
    while inner[pos:].strip():
        m = _KEY_VALUE.match(inner, pos)
        if m is None:
            raise NpyHeaderError(f"unexpected header text at {inner[pos:pos + 20].strip()!r}")
        key = m.group("key")
        if key in found:
            raise NpyHeaderError(f"key {key!r} given twice")
        found[key] = _parse_value(key, m.group("value"))
        pos = m.end()
    missing = {"descr", "fortran_order", "shape"} - set(found)
    if missing:
        raise NpyHeaderError(f"header lacks {', '.join(sorted(missing))}")
    return found["shape"], found["descr"], found["fortran_order"]


def read_npy_header(f: BinaryIO) -> NpyHeader:
    """Read the magic, version and header of an ``.npy`` stream positioned at its start.

    Raises:
        NpyHeaderError: not an ``.npy`` stream, an unknown version, a truncated or oversized header, or header text
            outside numpy's grammar.
    """
    magic = f.read(8)
    if len(magic) < 8 or magic[:6] != MAGIC:
        raise NpyHeaderError("not a .npy file (bad magic bytes)")
    major = magic[6]
    if major not in (1, 2, 3):
        raise NpyHeaderError(f"unsupported .npy version {major}.{magic[7]}")
    size_bytes = f.read(2 if major == 1 else 4)
    if len(size_bytes) < (2 if major == 1 else 4):
        raise NpyHeaderError("truncated header length")
    length = struct.unpack("<H" if major == 1 else "<I", size_bytes)[0]
    if length > MAX_HEADER_BYTES:
        raise NpyHeaderError(f"header of {length} bytes is larger than {MAX_HEADER_BYTES}")
    raw = f.read(length)
    if len(raw) < length:
        raise NpyHeaderError("truncated header")
    try:
        text = raw.decode("latin1" if major < 3 else "utf8")
    except UnicodeDecodeError as e:
        raise NpyHeaderError("header is not valid text") from e
    shape, dtype, fortran = parse_header_text(text)
    return NpyHeader(shape, dtype, fortran, 8 + len(size_bytes) + length)


def read_npy_bytes(data: bytes) -> np.ndarray:
    """An ``.npy`` held in memory (e.g. an ``.npz`` member) -> a read-only array (no copy of the data).

    Raises:
        NpyHeaderError: a bad header, or fewer data bytes than the header promises.
    """
    import io

    header = read_npy_header(io.BytesIO(data))
    if len(data) - header.offset < header.nbytes:
        raise NpyHeaderError(f"truncated data ({len(data) - header.offset} of {header.nbytes} bytes)")
    flat = np.frombuffer(data, dtype=header.dtype, count=int(np.prod(header.shape, dtype=np.int64)),
                         offset=header.offset)
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def open_npy(path: str | os.PathLike) -> np.ndarray:
    """Memory-map an ``.npy`` file read-only after checking its header and size (nothing else is read).

    Returns:
        The array (a read-only ``np.memmap``; an empty ``ndarray`` when it has no elements).

    Raises:
        NpyHeaderError: a bad header, or a file shorter than the header promises.
        OSError: the file cannot be opened.
    """
    with open(path, "rb") as f:
        header = read_npy_header(f)
    available = os.path.getsize(path) - header.offset
    if available < header.nbytes:
        raise NpyHeaderError(f"truncated data ({available} of {header.nbytes} bytes)")
    order = "F" if header.fortran_order else "C"
    if header.nbytes == 0:
        return np.empty(header.shape, dtype=header.dtype, order=order)
    return np.memmap(path, dtype=header.dtype, mode="r", offset=header.offset, shape=header.shape, order=order)
