"""EXR depth files through the optional ``OpenEXR`` module (the ``exr`` extra): one float channel, metres.

OpenEXR prints its own diagnostics on a corrupt file (to fd 2 and stdout); they are captured
(:mod:`volo_adapt.data.native`) and the most specific one becomes the reason in the one-line DataError.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from volo_adapt.atomic import atomic_path
from volo_adapt.data.formats_common import check_pixels, to_hw
from volo_adapt.data.native import captured_native_output
from volo_adapt.errors import DataError, first_line

log = logging.getLogger("volo_adapt.data.formats")
"""The readers' logger (one name for the whole :mod:`volo_adapt.data.formats` family)."""


def import_openexr(path: Path):
    """The ``OpenEXR`` module, or a DataError about ``path`` naming the ``exr`` extra to install."""
    try:
        import OpenEXR
    except ImportError as e:
        raise DataError(
            f"{path}: reading/writing EXR needs the OpenEXR module; install the extra: pip install 'volo-adapt[exr]'"
        ) from e
    return OpenEXR


EXR_DEPTH_CHANNELS = ("Z", "R", "depth", "Y")
"""Channel names tried, in order, in an EXR file with several channels."""


def read_exr(path: Path, pixel_limit: int) -> np.ndarray:
    """One float channel of an EXR file as ``(H, W)`` float32 (half is widened exactly); see the module docstring
    for the error messages."""
    OpenEXR = import_openexr(path)
    failure: Exception | None = None
    with captured_native_output() as native:
        try:
            px, name = _read_exr_channel(OpenEXR, path, pixel_limit)
        except DataError:
            raise
        except Exception as e:  # OpenEXR raises RuntimeError, UnicodeDecodeError, ... on corrupt files
            failure = e
    if failure is not None:
        reason = native.first_line(strip_prefix=f"{path}:") or first_line(failure)
        raise DataError(f"{path}: unreadable or truncated EXR ({reason})") from failure
    if native.text:
        log.debug("%s: OpenEXR printed while reading it: %s", path, native.text.strip())
    if px.dtype not in (np.float32, np.float16):
        raise DataError(f"{path}: EXR channel {name!r} is {px.dtype}, expected float metres")
    return to_hw(path, px, "EXR depth").astype(np.float32)


def _read_exr_channel(OpenEXR, path: Path, pixel_limit: int) -> tuple[np.ndarray, str]:  # noqa: N803 (module)
    """``(pixels, channel name)`` of the depth channel, the pixel count checked from the header first."""
    with OpenEXR.File(str(path), header_only=True) as f:
        (x0, y0), (x1, y1) = f.header()["dataWindow"]
    check_pixels(path, int(y1) - int(y0) + 1, int(x1) - int(x0) + 1, pixel_limit)
    with OpenEXR.File(str(path), separate_channels=True) as f:
        channels = f.channels()
        names = list(channels)
        if len(names) == 1:
            name = names[0]
        else:
            name = next((c for c in EXR_DEPTH_CHANNELS if c in channels), None)
            if name is None:
                raise DataError(
                    f"{path}: no depth channel in EXR (looked for {', '.join(EXR_DEPTH_CHANNELS)}; "
                    f"found {', '.join(names) or 'none'})"
                )
        return np.asarray(channels[name].pixels), name


def write_exr(path: Path, depth_m: np.ndarray) -> None:
    """Write ``(H, W)`` float32 metres as the ZIP-compressed channel ``"Z"`` of a scanline EXR, atomically."""
    OpenEXR = import_openexr(path)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with atomic_path(path) as tmp, OpenEXR.File(header, {"Z": np.ascontiguousarray(depth_m)}) as f:
        f.write(str(tmp))
