"""Checks and small helpers shared by the file readers and writers of :mod:`volo_adapt.data.formats`.

Missing/empty files, pixel-count limits (decompression-bomb guard), PNG headers read by hand, Pillow opening
with full decoding, ``.npy`` memory maps, and the one rule that turns stored depth into metres with 0 = invalid.
Every failure is a one-line :class:`~volo_adapt.errors.DataError` naming the file.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from volo_adapt.errors import DataError, first_line

DEFAULT_PIXEL_LIMIT: int = 100_000_000
"""Largest ``H * W`` a reader accepts before decoding (decompression-bomb guard); configurable per call."""

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
"""Colour files the readers accept (lower-case suffixes)."""
DEPTH_SUFFIXES = (".png", ".exr", ".npy")
"""Depth files the readers accept."""
ARRAY_SUFFIXES = (".npy", ".npz")
"""4-channel RGB-D array files the readers accept."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Exceptions that decoders raise on corrupt or truncated input.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error, IndexError, KeyError)


@contextlib.contextmanager
def decoding(path: Path, what: str) -> Iterator[None]:
    """Turn whatever a third-party decoder raises on bad bytes into one DataError naming ``path``.

    Decoders of untrusted bytes raise a long tail of exception types: numpy's ``.npy`` header parser alone lets
    ``tokenize.TokenError`` (a flipped byte leaves a bracket open), ``OverflowError`` (a 30-digit dimension) and
    ``RecursionError`` through, ``zipfile`` raises ``NotImplementedError`` for an unknown compression method.
    Listing them is whack-a-mole and every miss is a traceback for the user, so around calls into a decoder
    anything but our own DataError and assertion failures (our bugs) becomes a DataError.
    ``MemoryError`` is included on purpose: a corrupt header can ask for an absurd allocation.
    """
    try:
        yield
    except (DataError, AssertionError):
        raise
    except Exception as e:
        raise DataError(f"{path}: {what} ({first_line(e)})") from e


def check_file(path: Path) -> None:
    """Refuse a missing, non-regular or empty file with a one-line DataError."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")


def check_pixels(path: Path, h: int, w: int, pixel_limit: int) -> None:
    """Refuse an image without pixels or with more than ``pixel_limit`` (before decoding it)."""
    if h <= 0 or w <= 0:
        raise DataError(f"{path}: image has no pixels ({h}x{w})")
    if h * w > pixel_limit:
        raise DataError(f"{path}: too many pixels ({h}x{w} = {h * w} > pixel limit {pixel_limit})")


def png_header(path: Path) -> tuple[int, int, int, int] | None:
    """``(height, width, bit_depth, colour_type)`` from a PNG's IHDR chunk, or None if not a PNG.

    Hand-written because Pillow does not expose the stored bit depth of colour PNGs (a 16-bit RGB PNG
    opens as 8-bit mode ``RGB``), and we must not lose those bits.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(33)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    if not head.startswith(_PNG_SIGNATURE):
        return None
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise DataError(f"{path}: truncated or corrupt PNG header")
    w, h, bit_depth, colour_type = struct.unpack(">IIBB", head[16:26])
    return h, w, bit_depth, colour_type


def open_pil(path: Path, pixel_limit: int) -> Image.Image:
    """Open with Pillow, check the pixel count, then decode fully (so truncation is caught here)."""
    try:
        with warnings.catch_warnings():
            # Our own pixel_limit is the guard; Pillow's warning threshold (89 MP) is below our default.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as e:
        raise DataError(f"{path}: too many pixels for Pillow's own guard ({e})") from e
    except Image.UnidentifiedImageError as e:
        raise DataError(f"{path}: not an image (cannot identify the file format)") from e
    except DECODE_ERRORS as e:
        raise DataError(f"{path}: unreadable or truncated image ({e})") from e
    except Exception as e:  # the long tail of a decoder on bad bytes: see decoding
        raise DataError(f"{path}: unreadable or truncated image ({first_line(e)})") from e
    try:
        w, h = im.size
        check_pixels(path, h, w, pixel_limit)
        with decoding(path, "unreadable or truncated image"):
            im.load()
    except DataError:
        im.close()  # release the file now, not whenever the garbage collector finds the image
        raise
    return im


def to_hw(path: Path, arr: np.ndarray, what: str) -> np.ndarray:
    """Accept ``(H, W)``, ``(1, H, W)`` or ``(H, W, 1)``; return ``(H, W)``."""
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[0] == 1:
        return arr[0]
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[:, :, 0]
    raise DataError(f"{path}: wrong array shape {tuple(arr.shape)} for {what} (expected (H,W), (1,H,W) or (H,W,1))")


def as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A tensor (detached, on the CPU) or array-like as a numpy array, dtype kept."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def suffix_of(path: Path) -> str:
    """The lower-case suffix, e.g. ``".png"``."""
    return path.suffix.lower()


def clean_depth(d: np.ndarray) -> np.ndarray:
    """float32 metres with 0 for non-finite or non-positive values."""
    d = d.astype(np.float32, copy=False)
    return np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0)).astype(np.float32)


def read_npy(path: Path, pixel_limit: int) -> np.ndarray:
    """Memory-map a ``.npy`` after checking its header (:mod:`volo_adapt.data.npy_header`: the header text is parsed,
    never compiled as Python, so hostile bytes cannot make Python's parser warn, recurse or allocate)."""
    from volo_adapt.data.npy_header import open_npy

    with decoding(path, "unreadable or truncated .npy"):
        return open_npy(path)
