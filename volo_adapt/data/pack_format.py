"""The packed sample format: one RGB-D sample as a litdata item, and back, bit for bit.

A *packed folder* (written by ``volo data pack``, see :mod:`volo_adapt.data.pack_writer`) is a litdata optimised
dataset: compressed chunk files ``chunk-0-N.bin`` plus litdata's ``index.json``, and our own
``volo_pack.json`` manifest (format version, sources, counts, bad files). It is recognised by those two
files; the same folder copied to object storage is addressed as ``s3://bucket/prefix``.

One item is a flat dict (litdata serialises each leaf; arrays keep dtype and shape)::

    key     str   the sample's relative stem in its source ("sub/0001")
    source  str   the source spec it was packed from
    meta    str   JSON: rgb_format, depth_format, depth_scale, rgb_size, depth_size, rgb_path, depth_path
    rgb     (H, W, 3) uint8 | uint16 code values as stored (png8/jpg | png16), or float32 in [0, 1] (arrays)
    depth   (h, w) uint16 units (png16, ``depth_scale`` units per metre) or float metres as stored (exr, npy,
            arrays)

Colour and depth are stored *as stored on disk, at their stored sizes*, never resampled: :func:`decode_item`
then applies exactly the steps of :func:`~volo_adapt.data.sources.read_sample` (the same divisions, the same
invalid-depth cleaning, the same RGB/depth alignment), so a packed sample reads to tensors identical to the
loose files' (tested). JPEG colour is stored decoded (its pixels, exactly as Pillow decodes them), so a pack of
JPEG sources is larger than the JPEG files; PNG sources pack to about their own size (zstd).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from volo_adapt.data.align import align_rgb_depth
from volo_adapt.data.formats import DEFAULT_PIXEL_LIMIT, load_rgb, read_depth_raw, read_rgbd_array
from volo_adapt.data.formats_common import clean_depth
from volo_adapt.data.sample import RGBDSample
from volo_adapt.data.sources import SampleRef, partner_paths
from volo_adapt.errors import DataError

__all__ = [
    "INDEX_FILE",
    "MANIFEST_FILE",
    "PACK_FORMAT",
    "REMOTE_SCHEMES",
    "decode_item",
    "encode_ref",
    "is_packed_folder",
    "is_remote",
    "is_stream_spec",
    "require_litdata",
]

PACK_FORMAT = 1
"""Version of the item layout and of ``volo_pack.json``; bump when either changes meaning."""
INDEX_FILE = "index.json"
"""litdata's index of chunks (written last: a folder without it is not a finished pack)."""
MANIFEST_FILE = "volo_pack.json"
"""Our manifest beside litdata's index."""
REMOTE_SCHEMES = ("s3://", "gs://", "azure://", "hf://")
"""Object-store URI schemes litdata streams from (only s3:// is tested here)."""

_CODE_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def is_remote(spec: str) -> bool:
    """True for an object-store URI such as ``s3://bucket/prefix``."""
    return str(spec).startswith(REMOTE_SCHEMES)


def is_packed_folder(spec: str) -> bool:
    """True for a local folder holding a finished pack (litdata's ``index.json`` and ``volo_pack.json``)."""
    p = Path(str(spec))
    return p.is_dir() and (p / INDEX_FILE).is_file() and (p / MANIFEST_FILE).is_file()


def is_stream_spec(spec: str) -> bool:
    """True when a source is streamed (a packed folder or an object-store URI), False for loose files."""
    return is_remote(spec) or is_packed_folder(spec)


def require_litdata() -> Any:
    """Import litdata or raise a one-line DataError saying how to install it beside the CPU torch."""
    try:
        import litdata
    except ImportError as e:
        raise DataError(
            "packed/streamed data needs litdata: pip install --no-deps litdata && pip install 'volo-adapt[stream]' "
            "(never plain `pip install litdata`: it pulls torchvision and another torch)"
        ) from e
    return litdata


def _rgb_codes(rgb: torch.Tensor, fmt: str) -> np.ndarray:
    """``(3, H, W)`` float32 from :func:`load_rgb` -> ``(H, W, 3)`` stored code values (uint8 or uint16).

    Exact: load_rgb divides an integer code by 255 or 65535 in float32 (relative error <= 2**-24), so
    multiplying back and rounding recovers the code (the error stays below 0.01 of a code value).
    """
    bits16 = fmt.endswith("16")
    scale, dtype = (65535.0, np.uint16) if bits16 else (255.0, np.uint8)
    arr = rgb.permute(1, 2, 0).numpy().astype(np.float64) * scale
    return np.ascontiguousarray(np.rint(arr).astype(dtype))


def encode_ref(ref: SampleRef, depth_scale: float = 1000.0, pixel_limit: int = DEFAULT_PIXEL_LIMIT) -> dict[str, Any]:
    """Read one sample's files as stored and return its packed item (see the module docstring).

    The item is decoded once here (:func:`decode_item`), so every check that reading the loose files makes
    (missing partner, corrupt file, 8-bit depth, mismatched aspect ratio...) refuses the sample at pack time.

    Raises:
        DataError: the sample cannot be read (the one-line reason names the file).
    """
    if ref.array_path is not None:
        rgb_t, depth_t = read_rgbd_array(ref.array_path, pixel_limit)
        fmt = ref.array_path.suffix.lower()[1:]
        rgb = np.ascontiguousarray(rgb_t.permute(1, 2, 0).numpy())  # float32 [0, 1], as the reader returns it
        depth = depth_t[0].numpy()  # float32 metres, invalid already 0 (the reader's cleaning)
        meta = {"rgb_format": fmt, "depth_format": fmt, "rgb_path": str(ref.array_path),
                "depth_path": str(ref.array_path)}
    else:
        rgb_path, depth_path = partner_paths(ref)
        rgb_t, rgb_fmt = load_rgb(rgb_path, pixel_limit)
        rgb = _rgb_codes(rgb_t, rgb_fmt)
        depth = np.ascontiguousarray(read_depth_raw(depth_path, pixel_limit))
        depth_fmt = "png16" if depth_path.suffix.lower() == ".png" else depth_path.suffix.lower()[1:]
        meta = {"rgb_format": rgb_fmt, "depth_format": depth_fmt, "rgb_path": str(rgb_path),
                "depth_path": str(depth_path)}
    meta.update(
        depth_scale=float(depth_scale),
        rgb_size=[int(rgb.shape[0]), int(rgb.shape[1])],
        depth_size=[int(depth.shape[0]), int(depth.shape[1])],
    )
    item = {"key": ref.key, "source": ref.source, "meta": json.dumps(meta, sort_keys=True), "rgb": rgb, "depth": depth}
    decode_item(item)  # the same validation as reading the loose files (alignment, sizes)
    return item


def decode_item(item: dict[str, Any]) -> RGBDSample:
    """A packed item -> :class:`RGBDSample`, identical to :func:`~volo_adapt.data.sources.read_sample` of the files.

    Returns:
        rgb ``(3, H, W)`` float32 in ``[0, 1]``, depth ``(1, H, W)`` float32 metres (0 = invalid), aligned to
        the smaller of the two stored sizes; ``meta`` as ``read_sample`` gives it (``key``, ``source``, paths,
        stored sizes, formats, ``depth_scale``).

    Raises:
        DataError: an item that is not a volo pack item, or whose colour and depth cannot be aligned.
    """
    try:
        meta = json.loads(item["meta"])
        rgb, depth, key, source = item["rgb"], item["depth"], item["key"], item["source"]
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"not a volo-adapt packed item ({type(e).__name__}: {e})") from e
    rgb = np.asarray(rgb)
    depth = np.asarray(depth)
    if rgb.dtype in _CODE_MAX:
        # the same expression as load_rgb: float32 codes / 255 or 65535 (bit-identical result)
        rgb_f = rgb.astype(np.float32) / _CODE_MAX[rgb.dtype]
    else:
        rgb_f = rgb.astype(np.float32, copy=False)
    if depth.dtype == np.uint16:
        depth_m = depth.astype(np.float32) / np.float32(meta["depth_scale"])  # load_depth's single division
    else:
        depth_m = depth
    rgb_t = torch.from_numpy(np.ascontiguousarray(rgb_f)).permute(2, 0, 1).contiguous()
    depth_t = torch.from_numpy(clean_depth(depth_m))[None]
    if rgb_t.shape[1:] != depth_t.shape[1:]:
        rgb_t, depth_t = align_rgb_depth(rgb_t, depth_t, name=f"{source}: {key}")
    full = {
        "key": key,
        "source": source,
        "rgb_path": meta.get("rgb_path", ""),
        "depth_path": meta.get("depth_path", ""),
        "rgb_size": tuple(meta["rgb_size"]),
        "depth_size": tuple(meta["depth_size"]),
        "rgb_format": meta["rgb_format"],
        "depth_format": meta["depth_format"],
        "depth_scale": float(meta["depth_scale"]),
    }
    return RGBDSample.from_depth(rgb_t, depth_t, full)
