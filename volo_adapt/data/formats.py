"""Exact reading and writing of colour, depth and 4-channel RGB-D array files.

Conventions (see ``docs/data-formats.md``):

* colour in memory: ``(3, H, W)`` float32 in ``[0, 1]`` (the stored code value divided by 255 or 65535);
* depth in memory: ``(1, H, W)`` float32 in **metres**, ``0`` = invalid (0, NaN, inf and negative values on
  disk all become 0);
* depth on disk: 16-bit PNG in integer units (``depth_scale`` units per metre: 1000 = millimetres, TUM
  RGB-D = 5000), float32 EXR or ``.npy`` in metres. 8-bit depth is refused (lossy).

Round trips are exact: writing what was read, in the same format, reproduces the stored code values
bit for bit (16-bit PNG depth, 8/16-bit PNG colour) or float for float (EXR, ``.npy``).

Every failure raises :class:`~volo_adapt.errors.DataError` with a one-line message naming the file and the
reason. Every write goes through :mod:`volo_adapt.atomic`.

Libraries: Pillow for 8-bit PNG/JPG and 16-bit grey PNG; ``kornia_rs`` (a dependency of kornia) for 16-bit
*colour* PNG, because Pillow silently reduces 16-bit RGB PNGs to 8 bits and cannot write them; the
``OpenEXR`` module (optional ``exr`` extra) for EXR.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from volo_adapt.atomic import atomic_path
from volo_adapt.data.native import captured_native_output
from volo_adapt.errors import DataError

__all__ = [
    "ARRAY_SUFFIXES",
    "DEFAULT_PIXEL_LIMIT",
    "DEPTH_SUFFIXES",
    "RGB_SUFFIXES",
    "load_depth",
    "load_rgb",
    "read_depth",
    "read_depth_raw",
    "read_rgb",
    "read_rgbd_array",
    "write_depth",
    "write_rgb",
    "write_rgbd_array",
]

DEFAULT_PIXEL_LIMIT: int = 100_000_000
"""Largest ``H * W`` a reader accepts before decoding (decompression-bomb guard); configurable per call."""

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")
DEPTH_SUFFIXES = (".png", ".exr", ".npy")
ARRAY_SUFFIXES = (".npy", ".npz")

log = logging.getLogger(__name__)

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Exceptions that decoders raise on corrupt or truncated input.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error, IndexError, KeyError)


# --------------------------------------------------------------------------------------------- helpers


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


@contextlib.contextmanager
def _decoding(path: Path, what: str) -> Iterator[None]:
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
        raise DataError(f"{path}: {what} ({_first_line(e)})") from e


def _check_file(path: Path) -> None:
    """Refuse a missing, non-regular or empty file with a one-line DataError."""
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: empty file")


def _check_pixels(path: Path, h: int, w: int, pixel_limit: int) -> None:
    if h <= 0 or w <= 0:
        raise DataError(f"{path}: image has no pixels ({h}x{w})")
    if h * w > pixel_limit:
        raise DataError(f"{path}: too many pixels ({h}x{w} = {h * w} > pixel limit {pixel_limit})")


def _png_header(path: Path) -> tuple[int, int, int, int] | None:
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


def _open_pil(path: Path, pixel_limit: int) -> Image.Image:
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
    except _DECODE_ERRORS as e:
        raise DataError(f"{path}: unreadable or truncated image ({e})") from e
    except Exception as e:  # the long tail of a decoder on bad bytes: see _decoding
        raise DataError(f"{path}: unreadable or truncated image ({_first_line(e)})") from e
    try:
        w, h = im.size
        _check_pixels(path, h, w, pixel_limit)
        with _decoding(path, "unreadable or truncated image"):
            im.load()
    except DataError:
        im.close()  # release the file now, not whenever the garbage collector finds the image
        raise
    return im


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


def _to_hw(path: Path, arr: np.ndarray, what: str) -> np.ndarray:
    """Accept ``(H, W)``, ``(1, H, W)`` or ``(H, W, 1)``; return ``(H, W)``."""
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[0] == 1:
        return arr[0]
    if arr.ndim == 3 and arr.shape[2] == 1:
        return arr[:, :, 0]
    raise DataError(f"{path}: wrong array shape {tuple(arr.shape)} for {what} (expected (H,W), (1,H,W) or (H,W,1))")


def _as_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _suffix(path: Path) -> str:
    return path.suffix.lower()


# ------------------------------------------------------------------------------------------------ colour


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
    _check_file(path)
    hdr = _png_header(path)
    if hdr is not None:
        h, w, bit_depth, colour_type = hdr
        _check_pixels(path, h, w, pixel_limit)
        if bit_depth == 16 and colour_type == 4:
            raise DataError(f"{path}: 16-bit grey+alpha PNG is not supported; save it as 16-bit grey or RGB")
        if bit_depth == 16 and colour_type != 0:  # 16-bit RGB / RGBA
            arr = _read_png16_colour(path)
            rgb = arr[:, :, :3] if arr.shape[2] >= 3 else np.repeat(arr[:, :, :1], 3, axis=2)
            t = torch.from_numpy(rgb.astype(np.float32) / 65535.0).permute(2, 0, 1).contiguous()
            return t, "png16"
    im = _open_pil(path, pixel_limit)
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

    Example:
        >>> rgb = read_rgb("scene/rgb/0001.jpg")  # doctest: +SKIP
        >>> rgb.shape, rgb.dtype  # doctest: +SKIP
        (torch.Size([3, 480, 640]), torch.float32)
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
    arr = _as_numpy(rgb)
    if arr.ndim != 3 or arr.shape[0] != 3:
        raise DataError(f"{path}: cannot write colour of shape {tuple(arr.shape)} (expected (3,H,W))")
    if bits not in (8, 16):
        raise DataError(f"{path}: colour bit depth must be 8 or 16, got {bits}")
    suffix = _suffix(path)
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


# ------------------------------------------------------------------------------------------------- depth


def _import_openexr(path: Path):
    try:
        import OpenEXR
    except ImportError as e:
        raise DataError(
            f"{path}: reading/writing EXR needs the OpenEXR module; install the extra: pip install 'volo-adapt[exr]'"
        ) from e
    return OpenEXR


_EXR_DEPTH_CHANNELS = ("Z", "R", "depth", "Y")


def _read_exr(path: Path, pixel_limit: int) -> np.ndarray:
    """One float channel of an EXR file as ``(H, W)`` float32 (half is widened exactly).

    OpenEXR prints its own diagnostics on a corrupt file (to fd 2 and stdout); they are captured
    (:mod:`volo_adapt.data.native`) and the most specific one becomes the reason in our one-line error.
    """
    OpenEXR = _import_openexr(path)
    failure: Exception | None = None
    with captured_native_output() as native:
        try:
            px, name = _read_exr_channel(OpenEXR, path, pixel_limit)
        except DataError:
            raise
        except Exception as e:  # OpenEXR raises RuntimeError, UnicodeDecodeError, ... on corrupt files
            failure = e
    if failure is not None:
        reason = native.first_line(strip_prefix=f"{path}:") or _first_line(failure)
        raise DataError(f"{path}: unreadable or truncated EXR ({reason})") from failure
    if native.text:
        log.debug("%s: OpenEXR printed while reading it: %s", path, native.text.strip())
    if px.dtype not in (np.float32, np.float16):
        raise DataError(f"{path}: EXR channel {name!r} is {px.dtype}, expected float metres")
    return _to_hw(path, px, "EXR depth").astype(np.float32)


def _read_exr_channel(OpenEXR, path: Path, pixel_limit: int) -> tuple[np.ndarray, str]:  # noqa: N803 (module)
    """``(pixels, channel name)`` of the depth channel, the pixel count checked from the header first."""
    with OpenEXR.File(str(path), header_only=True) as f:
        (x0, y0), (x1, y1) = f.header()["dataWindow"]
    _check_pixels(path, int(y1) - int(y0) + 1, int(x1) - int(x0) + 1, pixel_limit)
    with OpenEXR.File(str(path), separate_channels=True) as f:
        channels = f.channels()
        names = list(channels)
        if len(names) == 1:
            name = names[0]
        else:
            name = next((c for c in _EXR_DEPTH_CHANNELS if c in channels), None)
            if name is None:
                raise DataError(
                    f"{path}: no depth channel in EXR (looked for {', '.join(_EXR_DEPTH_CHANNELS)}; "
                    f"found {', '.join(names) or 'none'})"
                )
        return np.asarray(channels[name].pixels), name


def _read_npy(path: Path, pixel_limit: int) -> np.ndarray:
    """Memory-map a ``.npy`` to check its header before reading it."""
    with _decoding(path, "unreadable or truncated .npy"):
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path}: not a .npy array")
    return arr


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
    _check_file(path)
    suffix = _suffix(path)
    if suffix == ".png":
        hdr = _png_header(path)
        if hdr is None:
            raise DataError(f"{path}: not a PNG image (no PNG signature)")
        h, w, bit_depth, colour_type = hdr
        _check_pixels(path, h, w, pixel_limit)
        if colour_type != 0:
            n = {2: 3, 3: 1, 4: 2, 6: 4}.get(colour_type, "?")
            kind = "palette" if colour_type == 3 else f"{n}-channel"
            raise DataError(f"{path}: wrong channel count for depth: {kind} PNG (expected 1-channel 16-bit)")
        if bit_depth != 16:
            raise DataError(f"{path}: {bit_depth}-bit depth PNG is lossy; store depth as 16-bit PNG, EXR or .npy")
        im = _open_pil(path, pixel_limit)
        arr = np.asarray(im)
        assert arr.ndim == 2, f"16-bit grey PNG decoded to shape {arr.shape}"
        return arr.astype(np.uint16)
    if suffix == ".exr":
        return _read_exr(path, pixel_limit)
    if suffix == ".npy":
        arr = _read_npy(path, pixel_limit)
        hw = _to_hw(path, arr, "depth")
        _check_pixels(path, hw.shape[0], hw.shape[1], pixel_limit)
        if not np.issubdtype(hw.dtype, np.floating):
            raise DataError(f"{path}: .npy depth must be float metres, got dtype {hw.dtype}")
        with _decoding(path, "unreadable or truncated .npy"):
            return np.array(hw)  # read the memory map fully (truncation shows here)
    raise DataError(f"{path}: unsupported depth suffix {suffix!r} (expected one of {', '.join(DEPTH_SUFFIXES)})")


def _clean_depth(d: np.ndarray) -> np.ndarray:
    """float32 metres with 0 for non-finite or non-positive values."""
    d = d.astype(np.float32, copy=False)
    return np.where(np.isfinite(d) & (d > 0), d, np.float32(0.0)).astype(np.float32)


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
    suffix = _suffix(path)
    if suffix == ".png":
        d = raw.astype(np.float32) / np.float32(depth_scale)  # one correctly rounded float32 division
        fmt = "png16"
    else:
        d = raw
        fmt = suffix[1:]
    return torch.from_numpy(_clean_depth(d))[None], fmt


def read_depth(
    path: str | os.PathLike, depth_scale: float = 1000.0, pixel_limit: int = DEFAULT_PIXEL_LIMIT
) -> torch.Tensor:
    """Read a depth image as ``(1, H, W)`` float32 metres, 0 = invalid; see :func:`load_depth`.

    Example:
        >>> d = read_depth("tum/depth/1305031102.160407.png", depth_scale=5000)  # doctest: +SKIP
        >>> d.shape, d.dtype  # doctest: +SKIP
        (torch.Size([1, 480, 640]), torch.float32)
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
    d = _as_numpy(depth_m)
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if d.ndim != 2:
        raise DataError(f"{path}: cannot write depth of shape {tuple(d.shape)} (expected (1,H,W) or (H,W))")
    d = _clean_depth(np.asarray(d))
    suffix = _suffix(path)
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
        OpenEXR = _import_openexr(path)
        header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
        with atomic_path(path) as tmp, OpenEXR.File(header, {"Z": np.ascontiguousarray(d)}) as f:
            f.write(str(tmp))
    elif suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(d), allow_pickle=False)
    else:
        raise DataError(f"{path}: unsupported depth suffix {suffix!r} (expected one of {', '.join(DEPTH_SUFFIXES)})")


# ------------------------------------------------------------------------------------------ 4-channel arrays


def _npz_member_shape(path: Path, key: str) -> tuple[int, ...]:
    """Shape of one ``.npz`` member from its header only (so the pixel limit is checked before reading)."""
    with zipfile.ZipFile(path) as zf, zf.open(f"{key}.npy") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read_header(f)
    return tuple(shape)


def _check_array_shape(path: Path, shape: tuple[int, ...], pixel_limit: int) -> None:
    if len(shape) != 3 or shape[2] != 4:
        raise DataError(f"{path}: wrong array shape {tuple(shape)} (expected (H,W,4): RGB in [0,1] + depth m)")
    _check_pixels(path, shape[0], shape[1], pixel_limit)


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
    _check_file(path)
    suffix = _suffix(path)
    if suffix == ".npy":
        arr = _read_npy(path, pixel_limit)
        _check_array_shape(path, arr.shape, pixel_limit)
        with _decoding(path, "unreadable or truncated array file"):
            arr = np.array(arr)  # read the memory map fully (truncation shows here)
    elif suffix == ".npz":
        with _decoding(path, "unreadable or truncated array file"), np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            if not keys:
                raise DataError(f"{path}: .npz holds no arrays")
            key = "rgbd" if "rgbd" in keys else keys[0]
            _check_array_shape(path, _npz_member_shape(path, key), pixel_limit)
            arr = np.asarray(npz[key])
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
    depth = _clean_depth(arr[:, :, 3])
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
    c = _as_numpy(rgb)
    d = _as_numpy(depth_m)
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if c.ndim != 3 or c.shape[0] != 3 or d.shape != c.shape[1:]:
        raise DataError(
            f"{path}: cannot write rgb {tuple(c.shape)} with depth {tuple(d.shape)} (expected (3,H,W) and (1,H,W))"
        )
    arr = np.concatenate([c.astype(np.float32).transpose(1, 2, 0), _clean_depth(d)[:, :, None]], axis=2)
    arr = np.ascontiguousarray(arr)
    suffix = _suffix(path)
    if suffix not in ARRAY_SUFFIXES:
        raise DataError(f"{path}: unsupported array suffix {suffix!r} (expected .npy or .npz)")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if suffix == ".npy":
            np.save(f, arr, allow_pickle=False)
        else:
            np.savez_compressed(f, rgbd=arr)
