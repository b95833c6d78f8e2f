"""RGB-D data sources: turn a source spec into sample references, and a reference into an aligned sample.

A *source spec* is one string, one of:

``folder``
    A directory with ``rgb/`` and ``depth/`` subfolders; files are paired by their relative stem, with
    nested subfolders mirrored (``rgb/a/x.jpg`` pairs ``depth/a/x.png``). Colour suffixes
    ``.png .jpg .jpeg``, depth suffixes ``.png .exr .npy``; other files are ignored.
``index-json``
    The original VoloGAN index ``training_paths.json`` addressed as ``FILE.json#KEY``: ``KEY`` holds a list of
    ``{"color_path": ..., "depth_path": ...}``. Relative paths are relative to the JSON file. ``#KEY`` may be
    left out when the file holds a single list (or is itself a list).
``index-csv``
    The same as a CSV file with the header ``color_path,depth_path``.
``arrays``
    A directory (possibly nested) of ``.npy``/``.npz`` files, each ``(H, W, 4)``: RGB in ``[0, 1]`` + depth in m.

Hidden files and folders (name starting with ``.``) and temporary ``*.partial.*`` files are skipped.
A file whose partner is missing is *not* dropped: its :class:`SampleRef` has the partner ``None`` and
:func:`read_sample` raises a :class:`~volo_adapt.errors.DataError`, so that ``volo data check`` lists it.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from volo_adapt.data.align import align_rgb_depth
from volo_adapt.data.formats import (
    ARRAY_SUFFIXES,
    DEFAULT_PIXEL_LIMIT,
    DEPTH_SUFFIXES,
    RGB_SUFFIXES,
    load_depth,
    load_rgb,
    read_rgbd_array,
)
from volo_adapt.data.sample import RGBDSample
from volo_adapt.errors import DataError

__all__ = ["SOURCE_KINDS", "SampleRef", "open_source", "read_sample", "source_kind"]

SOURCE_KINDS = ("folder", "index-json", "index-csv", "arrays")


@dataclass(frozen=True)
class SampleRef:
    """Where one RGB-D sample lives on disk (nothing is read yet).

    Attributes:
        key: relative stem, ``/``-separated (``"sub/0001"``), unique within its source; mirrored on output.
        source: the source spec it came from.
        rgb_path: colour file, or None when the partner is missing (or for array sources).
        depth_path: depth file, or None when the partner is missing (or for array sources).
        array_path: the ``(H, W, 4)`` ``.npy``/``.npz`` file for array sources, else None.
    """

    key: str
    source: str
    rgb_path: Path | None = None
    depth_path: Path | None = None
    array_path: Path | None = None


# ------------------------------------------------------------------------------------------ spec parsing


def _split_spec(spec: str) -> tuple[Path, str | None]:
    """``"FILE.json#KEY"`` -> ``(FILE.json, KEY)``; anything else -> ``(Path(spec), None)``."""
    path = Path(spec)
    if path.exists() or "#" not in spec:
        return path, None
    base, key = spec.rsplit("#", 1)
    return Path(base), key


def _skipped(name: str) -> bool:
    return name.startswith(".") or ".partial." in name or name.endswith(".partial")


def _walk(root: Path) -> Iterator[Path]:
    """Every regular file below ``root`` (sorted, hidden and temporary names skipped)."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _skipped(d))
        for name in sorted(filenames):
            if not _skipped(name):
                yield Path(dirpath) / name


def _stem_key(path: Path, root: Path) -> str:
    rel = path.relative_to(root)
    return rel.with_suffix("").as_posix()


def _by_key(spec: str, files: Iterable[Path], root: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.suffix.lower() not in suffixes:
            continue
        key = _stem_key(f, root)
        if key in out:
            raise DataError(f"{spec}: two files share the key {key!r}: {out[key]} and {f}; keep one")
        out[key] = f
    return out


def source_kind(spec: str) -> str:
    """Classify a source spec: ``"folder"``, ``"index-json"``, ``"index-csv"`` or ``"arrays"``.

    Raises:
        DataError: the spec does not exist or has an unknown layout.
    """
    path, _ = _split_spec(spec)
    if not path.exists():
        raise DataError(f"{spec}: no such file or folder")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".json":
            return "index-json"
        if suffix == ".csv":
            return "index-csv"
        raise DataError(f"{spec}: unknown source file type {suffix!r} (expected an index .json or .csv, or a folder)")
    if (path / "rgb").is_dir() or (path / "depth").is_dir():
        return "folder"
    if any(f.suffix.lower() in ARRAY_SUFFIXES for f in _walk(path)):
        return "arrays"
    raise DataError(
        f"{spec}: unknown layout (expected rgb/ and depth/ subfolders, or .npy/.npz (H,W,4) arrays, "
        "or an index .json/.csv)"
    )


# ------------------------------------------------------------------------------------------------ readers


def _open_folder(spec: str, root: Path) -> list[SampleRef]:
    rgb_dir, depth_dir = root / "rgb", root / "depth"
    for d in (rgb_dir, depth_dir):
        if not d.is_dir():
            raise DataError(f"{spec}: folder source needs both rgb/ and depth/ subfolders; {d.name}/ is missing")
    rgb = _by_key(spec, _walk(rgb_dir), rgb_dir, RGB_SUFFIXES)
    depth = _by_key(spec, _walk(depth_dir), depth_dir, DEPTH_SUFFIXES)
    return [SampleRef(key=k, source=spec, rgb_path=rgb.get(k), depth_path=depth.get(k)) for k in rgb.keys() | depth]


def _open_arrays(spec: str, root: Path) -> list[SampleRef]:
    arrays = _by_key(spec, _walk(root), root, ARRAY_SUFFIXES)
    return [SampleRef(key=k, source=spec, array_path=p) for k, p in arrays.items()]


def _entry_path(spec: str, base: Path, value: object, where: str) -> Path | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise DataError(f"{spec}: {where} must be a path string, got {type(value).__name__}")
    p = Path(value)
    if p.name in ("", ".", ".."):  # "/", ".", "a/..": a folder (and no file name to key the sample by)
        raise DataError(f"{spec}: {where} {value!r} names a folder, not a file")
    return p if p.is_absolute() else base / p


def _common_dir(paths: list[Path]) -> Path | None:
    if not paths:
        return None
    return Path(os.path.commonpath([os.path.normpath(os.path.abspath(p.parent)) for p in paths]))


def _refs_from_pairs(spec: str, pairs: list[tuple[Path | None, Path | None]]) -> list[SampleRef]:
    """Key each (colour, depth) pair by the colour path relative to the common folder of all colour files
    (the depth path, relative to the depth files' common folder, when the colour path is missing)."""
    rgb_root = _common_dir([c for c, _ in pairs if c is not None])
    depth_root = _common_dir([d for _, d in pairs if d is not None])
    refs: dict[str, SampleRef] = {}
    for c, d in pairs:
        p, root = (c, rgb_root) if c is not None else (d, depth_root)
        assert p is not None and root is not None
        key = Path(os.path.relpath(os.path.normpath(os.path.abspath(p)), root)).with_suffix("").as_posix()
        if key in refs:
            raise DataError(f"{spec}: two entries share the key {key!r} ({p}); remove the duplicate")
        refs[key] = SampleRef(key=key, source=spec, rgb_path=c, depth_path=d)
    return list(refs.values())


def _open_json(spec: str, path: Path, key: str | None) -> list[SampleRef]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    except (ValueError, RecursionError) as e:
        # ValueError: JSONDecodeError, UnicodeDecodeError, and an integer of more than 4300 digits (Python's
        # int_max_str_digits); RecursionError: arrays nested thousands deep
        raise DataError(f"{path}: not valid JSON ({e})") from e
    if isinstance(data, list):
        if key is not None:
            raise DataError(f"{spec}: {path.name} holds a plain list, it has no key {key!r}")
        entries = data
    elif isinstance(data, dict):
        list_keys = [k for k, v in data.items() if isinstance(v, list)]
        if key is None:
            if len(list_keys) != 1:
                raise DataError(f"{spec}: choose a list with FILE.json#KEY; keys: {', '.join(list_keys) or 'none'}")
            key = list_keys[0]
        if key not in list_keys:
            raise DataError(f"{spec}: no list under key {key!r}; keys: {', '.join(list_keys) or 'none'}")
        entries = data[key]
    else:
        raise DataError(f"{path}: expected a JSON object of lists or a list, got {type(data).__name__}")
    pairs = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise DataError(f"{spec}: entry {i} is not an object with color_path/depth_path")
        pairs.append(
            (
                _entry_path(spec, path.parent, e.get("color_path"), f"entry {i} color_path"),
                _entry_path(spec, path.parent, e.get("depth_path"), f"entry {i} depth_path"),
            )
        )
    return _refs_from_pairs(spec, [p for p in pairs if p != (None, None)])


def _open_csv(spec: str, path: Path) -> list[SampleRef]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if "color_path" not in fields or "depth_path" not in fields:
                raise DataError(f"{path}: CSV header must have color_path,depth_path; found {','.join(fields)}")
            pairs = [
                (
                    _entry_path(spec, path.parent, (row.get("color_path") or "").strip(), f"row {i + 2} color_path"),
                    _entry_path(spec, path.parent, (row.get("depth_path") or "").strip(), f"row {i + 2} depth_path"),
                )
                for i, row in enumerate(reader)
            ]
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from e
    except (csv.Error, UnicodeDecodeError) as e:
        raise DataError(f"{path}: not a valid CSV file ({e})") from e
    return _refs_from_pairs(spec, [p for p in pairs if p != (None, None)])


def open_source(spec: str) -> list[SampleRef]:
    """List the samples of a source, sorted by key (deterministic).

    Args:
        spec: a folder with ``rgb/`` and ``depth/``, ``FILE.json[#KEY]``, ``FILE.csv`` or a folder of arrays.

    Returns:
        One :class:`SampleRef` per key; refs whose partner file is missing are included (partner None).

    Raises:
        DataError: nonexistent spec, unknown layout, unreadable index, duplicate keys, or no samples.
    """
    spec = str(spec)
    kind = source_kind(spec)
    path, key = _split_spec(spec)
    if kind == "folder":
        refs = _open_folder(spec, path)
    elif kind == "arrays":
        refs = _open_arrays(spec, path)
    elif kind == "index-json":
        refs = _open_json(spec, path, key)
    else:
        refs = _open_csv(spec, path)
    if not refs:
        raise DataError(f"{spec}: no samples found ({kind} source)")
    return sorted(refs, key=lambda r: r.key)


def partner_paths(ref: SampleRef) -> tuple[Path, Path]:
    """``(rgb_path, depth_path)`` of a two-file sample; DataError naming the present file if its partner is missing."""
    if ref.depth_path is None:
        raise DataError(f"{ref.source}: missing depth partner for {ref.key} (rgb: {ref.rgb_path})")
    if ref.rgb_path is None:
        raise DataError(f"{ref.source}: missing rgb partner for {ref.key} (depth: {ref.depth_path})")
    return ref.rgb_path, ref.depth_path


def read_sample(ref: SampleRef, depth_scale: float = 1000.0, pixel_limit: int = DEFAULT_PIXEL_LIMIT) -> RGBDSample:
    """Read one sample fully and align RGB and depth to one size (see :mod:`volo_adapt.data.align`).

    Args:
        ref: from :func:`open_source`.
        depth_scale: 16-bit PNG depth units per metre (1000 = mm, TUM = 5000).
        pixel_limit: largest accepted ``H * W`` per file.

    Returns:
        :class:`RGBDSample` with rgb ``(3, H, W)`` in ``[0, 1]``, depth ``(1, H, W)`` metres (0 = invalid) and
        ``meta`` = ``key, source, rgb_path, depth_path, rgb_size, depth_size`` (``(H, W)`` as stored),
        ``rgb_format, depth_format, depth_scale``.

    Raises:
        DataError: a missing partner, or any file error (see :mod:`volo_adapt.data.formats`).
    """
    if ref.array_path is not None:
        rgb, depth = read_rgbd_array(ref.array_path, pixel_limit)
        fmt = ref.array_path.suffix.lower()[1:]
        rgb_path = depth_path = ref.array_path
        rgb_fmt = depth_fmt = fmt
        rgb_size = depth_size = tuple(rgb.shape[1:])
    else:
        rgb_path, depth_path = partner_paths(ref)
        rgb, rgb_fmt = load_rgb(rgb_path, pixel_limit)
        depth, depth_fmt = load_depth(depth_path, depth_scale, pixel_limit)
        rgb_size, depth_size = tuple(rgb.shape[1:]), tuple(depth.shape[1:])
        rgb, depth = align_rgb_depth(rgb, depth, name=f"{ref.source}: {ref.key}")
    meta = {
        "key": ref.key,
        "source": ref.source,
        "rgb_path": str(rgb_path),
        "depth_path": str(depth_path),
        "rgb_size": (int(rgb_size[0]), int(rgb_size[1])),
        "depth_size": (int(depth_size[0]), int(depth_size[1])),
        "rgb_format": rgb_fmt,
        "depth_format": depth_fmt,
        "depth_scale": float(depth_scale),
    }
    return RGBDSample.from_depth(rgb, depth, meta)
