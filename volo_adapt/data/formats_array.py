"""4-channel RGB-D array files: ``.npy`` / ``.npz`` holding ``(H, W, 4)`` float (RGB in ``[0, 1]``, depth metres)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from volo_adapt.atomic import atomic_path
from volo_adapt.data.formats_common import (
    ARRAY_SUFFIXES,
    DEFAULT_PIXEL_LIMIT,
    as_numpy,
    check_file,
    check_pixels,
    clean_depth,
    decoding,
    read_npy,
    suffix_of,
)
from volo_adapt.errors import DataError


def _read_npz_member(path: Path, pixel_limit: int) -> np.ndarray:
    """The ``rgbd`` member of an ``.npz`` (else its first ``.npy`` member), shape-checked from its header before its
    data is read. Headers go through :mod:`volo_adapt.data.npy_header` (parsed, never compiled as Python)."""
    from volo_adapt.data.npy_header import read_npy_bytes, read_npy_header

    with zipfile.ZipFile(path) as zf:
        keys = [n[: -len(".npy")] for n in zf.namelist() if n.endswith(".npy")]
        if not keys:
            raise DataError(f"{path}: .npz holds no arrays")
        member = f"{'rgbd' if 'rgbd' in keys else keys[0]}.npy"
        with zf.open(member) as f:
            header = read_npy_header(f)
        _check_array_shape(path, header.shape, pixel_limit)
        return np.array(read_npy_bytes(zf.read(member)))


def _check_array_shape(path: Path, shape: tuple[int, ...], pixel_limit: int) -> None:
    if len(shape) != 3 or shape[2] != 4:
        raise DataError(f"{path}: wrong array shape {tuple(shape)} (expected (H,W,4): RGB in [0,1] + depth m)")
    check_pixels(path, shape[0], shape[1], pixel_limit)


def read_rgbd_array(
    path: str | os.PathLike, pixel_limit: int = DEFAULT_PIXEL_LIMIT
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read a 4-channel RGB-D array file.

    Args:
        path: ``.npy`` holding ``(H, W, 4)`` float, or ``.npz`` whose key ``"rgbd"`` (else its first array)
            holds it. Channels 0-2 are colour in ``[0, 1]``, channel 3 is depth in metres.

    Returns:
        ``(rgb, depth)``: rgb ``(3, H, W)`` float32 in ``[0, 1]``, depth ``(1, H, W)`` float32 metres,
        0 = invalid (0, NaN, inf, negative -> 0).

    Raises:
        DataError: unreadable/empty file, wrong shape or dtype, colour outside ``[0, 1]``, too many pixels.
    """
    path = Path(path)
    check_file(path)
    suffix = suffix_of(path)
    if suffix == ".npy":
        arr = read_npy(path, pixel_limit)
        _check_array_shape(path, arr.shape, pixel_limit)
        with decoding(path, "unreadable or truncated array file"):
            arr = np.array(arr)  # read the memory map fully (truncation shows here)
    elif suffix == ".npz":
        with decoding(path, "unreadable or truncated array file"):
            arr = _read_npz_member(path, pixel_limit)
    else:
        raise DataError(f"{path}: unsupported array suffix {suffix!r} (expected .npy or .npz)")
    if not np.issubdtype(arr.dtype, np.floating):
        raise DataError(f"{path}: array dtype {arr.dtype} (expected float: RGB in [0,1], depth in metres)")
    rgb = arr[:, :, :3].astype(np.float32)
    finite = np.isfinite(rgb)
    if not finite.all():
        raise DataError(f"{path}: colour channels contain NaN or inf")
    lo, hi = (float(rgb.min()), float(rgb.max())) if rgb.size else (0.0, 0.0)
    if lo < 0.0 or hi > 1.0:
        raise DataError(f"{path}: colour channels outside [0, 1] (min {lo:.4g}, max {hi:.4g}); store colour in [0, 1]")
    depth = clean_depth(arr[:, :, 3])
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))), torch.from_numpy(depth)[None]


def write_rgbd_array(
    path: str | os.PathLike, rgb: torch.Tensor | np.ndarray, depth_m: torch.Tensor | np.ndarray
) -> None:
    """Write ``(H, W, 4)`` float32 (RGB in ``[0, 1]``, depth metres, invalid = 0) to ``.npy`` or ``.npz`` (key
    ``"rgbd"``, compressed), atomically.

    Args:
        rgb: ``(3, H, W)`` float in ``[0, 1]`` (written as float32, not clipped).
        depth_m: ``(1, H, W)`` or ``(H, W)`` float metres; non-finite or non-positive -> 0.
    """
    path = Path(path)
    c = as_numpy(rgb)
    d = as_numpy(depth_m)
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if c.ndim != 3 or c.shape[0] != 3 or d.shape != c.shape[1:]:
        raise DataError(
            f"{path}: cannot write rgb {tuple(c.shape)} with depth {tuple(d.shape)} (expected (3,H,W) and (1,H,W))"
        )
    arr = np.concatenate([c.astype(np.float32).transpose(1, 2, 0), clean_depth(d)[:, :, None]], axis=2)
    arr = np.ascontiguousarray(arr)
    suffix = suffix_of(path)
    if suffix not in ARRAY_SUFFIXES:
        raise DataError(f"{path}: unsupported array suffix {suffix!r} (expected .npy or .npz)")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if suffix == ".npy":
            np.save(f, arr, allow_pickle=False)
        else:
            np.savez_compressed(f, rgbd=arr)
