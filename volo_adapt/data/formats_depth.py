"""Depth image files: 16-bit grey PNG (integer units), EXR and ``.npy`` (float metres) in, ``(1, H, W)`` float32
metres (0 = invalid) out, and back: the stored code values (PNG) or floats (EXR, ``.npy``) round-trip exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from volo_adapt.atomic import atomic_path
from volo_adapt.data.formats_common import (
    DEFAULT_PIXEL_LIMIT,
    DEPTH_SUFFIXES,
    as_numpy,
    check_file,
    check_pixels,
    clean_depth,
    decoding,
    open_pil,
    png_header,
    read_npy,
    suffix_of,
    to_hw,
)
from volo_adapt.data.formats_exr import read_exr, write_exr
from volo_adapt.errors import DataError


def read_depth_raw(path: str | os.PathLike, pixel_limit: int = DEFAULT_PIXEL_LIMIT) -> np.ndarray:
    """The stored depth values, unconverted: for bit-exact checks.

    Returns:
        ``(H, W)`` array: uint16 code values for PNG, float32 metres for EXR (half widened exactly), the
        stored float dtype for ``.npy``. Nothing is replaced: NaN/negative values are returned as stored.

    Raises:
        DataError: unreadable/empty/truncated file, 8-bit or multi-channel PNG, non-float EXR/npy,
            wrong array shape, too many pixels, unknown suffix.
    """
    path = Path(path)
    check_file(path)
    suffix = suffix_of(path)
    if suffix == ".png":
        hdr = png_header(path)
        if hdr is None:
            raise DataError(f"{path}: not a PNG image (no PNG signature)")
        h, w, bit_depth, colour_type = hdr
        check_pixels(path, h, w, pixel_limit)
        if colour_type != 0:
            n = {2: 3, 3: 1, 4: 2, 6: 4}.get(colour_type, "?")
            kind = "palette" if colour_type == 3 else f"{n}-channel"
            raise DataError(f"{path}: wrong channel count for depth: {kind} PNG (expected 1-channel 16-bit)")
        if bit_depth != 16:
            raise DataError(f"{path}: {bit_depth}-bit depth PNG is lossy; store depth as 16-bit PNG, EXR or .npy")
        im = open_pil(path, pixel_limit)
        arr = np.asarray(im)
        assert arr.ndim == 2, f"16-bit grey PNG decoded to shape {arr.shape}"
        return arr.astype(np.uint16)
    if suffix == ".exr":
        return read_exr(path, pixel_limit)
    if suffix == ".npy":
        arr = read_npy(path, pixel_limit)
        hw = to_hw(path, arr, "depth")
        check_pixels(path, hw.shape[0], hw.shape[1], pixel_limit)
        if not np.issubdtype(hw.dtype, np.floating):
            raise DataError(f"{path}: .npy depth must be float metres, got dtype {hw.dtype}")
        with decoding(path, "unreadable or truncated .npy"):
            return np.array(hw)  # read the memory map fully (truncation shows here)
    raise DataError(f"{path}: unsupported depth suffix {suffix!r} (expected one of {', '.join(DEPTH_SUFFIXES)})")


def load_depth(
    path: str | os.PathLike, depth_scale: float = 1000.0, pixel_limit: int = DEFAULT_PIXEL_LIMIT
) -> tuple[torch.Tensor, str]:
    """Read a depth image in metres and name its stored format.

    Args:
        path: 16-bit grey PNG (integer units), EXR (float metres; one channel of any name, else the first
            of ``Z``, ``R``, ``depth``, ``Y``) or ``.npy`` (``(H,W)``, ``(1,H,W)`` or ``(H,W,1)`` float metres).
        depth_scale: PNG units per metre (1000 = millimetres, TUM RGB-D = 5000). Ignored for EXR/npy.
        pixel_limit: largest accepted ``H * W``.

    Returns:
        ``(depth, fmt)``: depth ``(1, H, W)`` float32 metres, 0 = invalid (0, NaN, inf, negative -> 0);
        fmt is ``"png16"``, ``"exr"`` or ``"npy"``.
    """
    if not depth_scale > 0:
        raise DataError(f"depth_scale must be > 0 units per metre, got {depth_scale}")
    path = Path(path)
    raw = read_depth_raw(path, pixel_limit)
    suffix = suffix_of(path)
    if suffix == ".png":
        d = raw.astype(np.float32) / np.float32(depth_scale)  # one correctly rounded float32 division
        fmt = "png16"
    else:
        d = raw
        fmt = suffix[1:]
    return torch.from_numpy(clean_depth(d))[None], fmt


def read_depth(
    path: str | os.PathLike, depth_scale: float = 1000.0, pixel_limit: int = DEFAULT_PIXEL_LIMIT
) -> torch.Tensor:
    """Read a depth image as ``(1, H, W)`` float32 metres, 0 = invalid; see :func:`load_depth`.

    Example (a 16-bit PNG in TUM RGB-D units, 5000 per metre, written to a temporary folder first):
        >>> import tempfile
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = Path(folder.name) / "depth.png"
        >>> write_depth(path, torch.tensor([[[0.0, 1.5, 2.25]]]), depth_scale=5000)
        >>> d = read_depth(path, depth_scale=5000)
        >>> d, d.dtype
        (tensor([[[0.0000, 1.5000, 2.2500]]]), torch.float32)
        >>> folder.cleanup()
    """
    return load_depth(path, depth_scale, pixel_limit)[0]


def write_depth(path: str | os.PathLike, depth_m: torch.Tensor | np.ndarray, depth_scale: float = 1000.0) -> None:
    """Write depth atomically, format chosen by suffix.

    Args:
        path: ``.png`` -> uint16 ``round(d * depth_scale)``; ``.exr`` -> float32 channel ``"Z"`` (metres);
            ``.npy`` -> float32 ``(H, W)`` metres.
        depth_m: ``(1, H, W)`` or ``(H, W)`` float metres; 0, NaN, inf and negative values are written as 0
            (invalid). In PNG, valid depths below half a unit also round to 0.
        depth_scale: PNG units per metre.

    Raises:
        DataError: a depth beyond 65535 PNG units, wrong shape, unsupported suffix.
    """
    path = Path(path)
    if not depth_scale > 0:
        raise DataError(f"{path}: depth_scale must be > 0 units per metre, got {depth_scale}")
    d = as_numpy(depth_m)
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if d.ndim != 2:
        raise DataError(f"{path}: cannot write depth of shape {tuple(d.shape)} (expected (1,H,W) or (H,W))")
    d = clean_depth(np.asarray(d))
    suffix = suffix_of(path)
    if suffix == ".png":
        units = np.rint(d.astype(np.float64) * float(depth_scale))
        if units.size and units.max() > 65535:
            raise DataError(
                f"{path}: depth {float(d.max()):.4g} m is {int(units.max())} units at depth_scale {depth_scale}, "
                "beyond 16-bit PNG's 65535; use a smaller --depth-scale, EXR or .npy"
            )
        with atomic_path(path) as tmp:
            Image.fromarray(np.ascontiguousarray(units.astype(np.uint16))).save(tmp, format="PNG")
    elif suffix == ".exr":
        write_exr(path, d)
    elif suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(d), allow_pickle=False)
    else:
        raise DataError(f"{path}: unsupported depth suffix {suffix!r} (expected one of {', '.join(DEPTH_SUFFIXES)})")
