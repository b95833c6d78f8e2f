"""Colour image files: 8/16-bit PNG and JPEG in, ``(3, H, W)`` float32 in ``[0, 1]`` out, and back (exact codes).

Pillow reads and writes 8-bit PNG/JPG and 16-bit grey PNG; ``kornia_rs`` (a dependency of kornia) reads and
writes 16-bit *colour* PNG, because Pillow silently reduces 16-bit RGB PNGs to 8 bits and cannot write them.
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
    RGB_SUFFIXES,
    as_numpy,
    check_file,
    check_pixels,
    open_pil,
    png_header,
    suffix_of,
)
from volo_adapt.errors import DataError


def _read_png16_colour(path: Path) -> np.ndarray:
    """16-bit colour PNG -> ``(H, W, C)`` uint16 via kornia_rs (Pillow truncates these to 8 bits)."""
    try:
        import kornia_rs
    except ImportError as e:  # pragma: no cover - kornia_rs ships with kornia
        raise DataError(f"{path}: reading 16-bit colour PNG needs the kornia_rs package (installed with kornia)") from e
    if not hasattr(kornia_rs, "io") or not hasattr(kornia_rs.io, "read_image"):
        raise DataError(f"{path}: reading 16-bit colour PNG needs kornia_rs >= 0.2 (found an older version)")
    try:
        arr = kornia_rs.io.read_image(str(path))
    except Exception as e:  # kornia_rs raises a bare Exception on corrupt data
        raise DataError(f"{path}: unreadable or truncated 16-bit PNG ({e})") from e
    arr = np.asarray(arr)
    assert arr.dtype == np.uint16 and arr.ndim == 3, f"kornia_rs returned {arr.dtype} {arr.shape}"
    return arr


def load_rgb(path: str | os.PathLike, pixel_limit: int = DEFAULT_PIXEL_LIMIT) -> tuple[torch.Tensor, str]:
    """Read a colour image and name its stored format.

    Args:
        path: an 8-bit or 16-bit PNG, or a JPEG (grey, palette, RGB, RGBA, CMYK; alpha is dropped,
            grey is repeated to 3 channels).
        pixel_limit: largest accepted ``H * W``.

    Returns:
        ``(rgb, fmt)``: rgb ``(3, H, W)`` float32 in ``[0, 1]`` (code value / 255 or / 65535) and a short
        format name such as ``"png8"``, ``"png16"`` or ``"jpg"``.

    Raises:
        DataError: missing, empty, truncated or non-image file, or too many pixels.
    """
    path = Path(path)
    check_file(path)
    hdr = png_header(path)
    if hdr is not None:
        h, w, bit_depth, colour_type = hdr
        check_pixels(path, h, w, pixel_limit)
        if bit_depth == 16 and colour_type == 4:
            raise DataError(f"{path}: 16-bit grey+alpha PNG is not supported; save it as 16-bit grey or RGB")
        if bit_depth == 16 and colour_type != 0:  # 16-bit RGB / RGBA
            arr = _read_png16_colour(path)
            rgb = arr[:, :, :3] if arr.shape[2] >= 3 else np.repeat(arr[:, :, :1], 3, axis=2)
            t = torch.from_numpy(rgb.astype(np.float32) / 65535.0).permute(2, 0, 1).contiguous()
            return t, "png16"
    im = open_pil(path, pixel_limit)
    fmt = {"PNG": "png", "JPEG": "jpg"}.get(im.format or "", (im.format or "unknown").lower())
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey PNG
        arr = np.asarray(im).astype(np.float32) / 65535.0
        arr = np.repeat(arr[:, :, None], 3, axis=2)
        fmt = fmt + "16" if fmt == "png" else fmt
    elif im.mode == "F":
        raise DataError(f"{path}: floating-point image is not a colour image")
    else:
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")  # palette, RGBA, LA, CMYK, 1-bit: colour conversion, not depth
        arr = np.asarray(im).astype(np.float32) / 255.0
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
        fmt = fmt + "8" if fmt == "png" else fmt
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous(), fmt


def read_rgb(path: str | os.PathLike, pixel_limit: int = DEFAULT_PIXEL_LIMIT) -> torch.Tensor:
    """Read a colour image as ``(3, H, W)`` float32 in ``[0, 1]``; see :func:`load_rgb`.

    Example (an 8-bit PNG written to a temporary folder first):
        >>> import tempfile
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = Path(folder.name) / "0001.png"
        >>> write_rgb(path, torch.full((3, 2, 5), 51 / 255))
        >>> rgb = read_rgb(path)
        >>> rgb.shape, rgb.dtype, rgb.unique().tolist()
        (torch.Size([3, 2, 5]), torch.float32, [0.20000000298023224])
        >>> folder.cleanup()
    """
    return load_rgb(path, pixel_limit)[0]


def write_rgb(path: str | os.PathLike, rgb: torch.Tensor | np.ndarray, bits: int = 8) -> None:
    """Write a colour image atomically.

    Args:
        path: ``.png`` (8 or 16 bits per channel) or ``.jpg``/``.jpeg`` (8 bits, quality 95, 4:4:4 chroma).
        rgb: ``(3, H, W)`` float in ``[0, 1]``. Values outside ``[0, 1]`` are clipped and NaN becomes 0
            (the file format cannot store them); code value = ``round(x * (2**bits - 1))``.
        bits: 8 or 16.

    Raises:
        DataError: unsupported suffix or bit depth, or a wrong shape.
    """
    path = Path(path)
    arr = as_numpy(rgb)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise DataError(f"{path}: cannot write colour of shape {tuple(arr.shape)} (expected (3,H,W))")
    if bits not in (8, 16):
        raise DataError(f"{path}: colour bit depth must be 8 or 16, got {bits}")
    suffix = suffix_of(path)
    if suffix not in RGB_SUFFIXES:
        raise DataError(f"{path}: unsupported colour suffix {suffix!r} (expected one of {', '.join(RGB_SUFFIXES)})")
    if suffix != ".png" and bits != 8:
        raise DataError(f"{path}: JPEG stores 8 bits per channel only (asked for {bits})")
    hwc = np.nan_to_num(np.asarray(arr, dtype=np.float64).transpose(1, 2, 0), nan=0.0).clip(0.0, 1.0)
    maxval = (1 << bits) - 1
    codes = np.rint(hwc * maxval)
    with atomic_path(path) as tmp:
        if bits == 8:
            im = Image.fromarray(np.ascontiguousarray(codes.astype(np.uint8)), mode="RGB")
            if suffix == ".png":
                im.save(tmp, format="PNG")
            else:
                im.save(tmp, format="JPEG", quality=95, subsampling=0)  # 4:4:4: no chroma halving
        else:
            import kornia_rs  # Pillow cannot write 16-bit colour PNG

            try:
                kornia_rs.io.write_image_png_u16(str(tmp), np.ascontiguousarray(codes.astype(np.uint16)), "rgb")
            except (AttributeError, ValueError, RuntimeError) as e:
                raise DataError(f"{path}: cannot write 16-bit colour PNG with kornia_rs ({e})") from e
