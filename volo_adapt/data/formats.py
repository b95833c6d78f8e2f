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

This module is the public face of the file formats; each job lives in its own module:
:mod:`~volo_adapt.data.formats_rgb` (colour), :mod:`~volo_adapt.data.formats_depth` (depth),
:mod:`~volo_adapt.data.formats_exr` (EXR), :mod:`~volo_adapt.data.formats_array` (4-channel arrays) and
:mod:`~volo_adapt.data.formats_common` (file checks shared by all of them).
"""

from __future__ import annotations

from volo_adapt.data.formats_array import read_rgbd_array, write_rgbd_array
from volo_adapt.data.formats_common import ARRAY_SUFFIXES, DEFAULT_PIXEL_LIMIT, DEPTH_SUFFIXES, RGB_SUFFIXES
from volo_adapt.data.formats_depth import load_depth, read_depth, read_depth_raw, write_depth
from volo_adapt.data.formats_rgb import load_rgb, read_rgb, write_rgb

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
