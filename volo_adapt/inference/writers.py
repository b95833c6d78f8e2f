"""Where translated samples go, and how they are written: the output mirrors the input's layout.

Every input file's path relative to the *source root* (the folder of a folder/arrays source, the folder of the
index file for ``index.json#KEY`` and CSV sources) is reproduced under the output folder, with the same name and
format, except that colour is written as PNG unless asked otherwise (``rgb_format``: ``png`` | ``jpg`` | ``same``).
Input files outside the source root (``../`` or absolute paths in an index) go to ``_external/<key>/<name>``.
Depth keeps its format and units (16-bit PNG in the run's ``depth_scale`` units, EXR and ``.npy`` in metres),
4-channel arrays stay arrays. Index sources get a matching index file in the output folder, listing the
translated files by their paths relative to it, so downstream tools can use the output as a drop-in replacement.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.errors import VoloError

if TYPE_CHECKING:
    from volo_adapt.data.sample import DepthCodec
    from volo_adapt.inference.batching import PendingSample

RGB_FORMATS = ("png", "jpg", "same")
"""Output colour formats: ``png`` (default: lossless; 16-bit PNG stays 16-bit), ``jpg`` (quality 95), ``same``."""


@dataclass
class OutputPlan:
    """The files one input sample becomes.

    Attributes:
        key: the sample's key in its source.
        inputs: the input files (colour + depth, or the one array file).
        rgb: output colour file (None for array sources).
        depth: output depth file (None for array sources).
        array: output 4-channel array file (array sources only).
        rgb_bits: bits per channel of the output colour (8, or 16 for a 16-bit PNG kept as PNG).
        problem: why the sample cannot be translated at all (e.g. a missing partner file), empty if none.
    """

    key: str
    inputs: list[Path]
    rgb: Path | None = None
    depth: Path | None = None
    array: Path | None = None
    rgb_bits: int = 8
    problem: str = ""

    @property
    def files(self) -> list[Path]:
        """Every output file of the sample."""
        return [p for p in (self.rgb, self.depth, self.array) if p is not None]

    def exists(self) -> bool:
        """True only when *all* output files exist (a sample interrupted half-way counts as missing)."""
        return bool(self.files) and all(p.is_file() for p in self.files)


def index_file(spec: str) -> tuple[Path, str | None]:
    """``"FILE.json#KEY"`` -> ``(FILE.json, KEY)``; a spec naming an existing file -> ``(file, None)``."""
    path = Path(spec)
    if path.exists() or "#" not in spec:
        return path, None
    base, key = spec.rsplit("#", 1)
    return Path(base), key


def source_root(spec: str, kind: str) -> Path:
    """The folder whose relative layout the output mirrors (resolved): the folder itself, or the index's folder."""
    path = index_file(spec)[0].expanduser().resolve()
    return path.parent if kind in ("index-json", "index-csv") else path


def _safe_name(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") or "sample"


def _mirror(path: Path, root: Path, out_dir: Path, key: str) -> Path:
    """``out_dir / relpath(path, root)``, or ``out_dir/_external/<key>/<name>`` for a file outside ``root``."""
    resolved = path.expanduser().resolve()
    try:
        rel = resolved.relative_to(root)
    except ValueError:
        return out_dir / "_external" / _safe_name(key) / path.name
    return out_dir / rel


def _rgb_suffix(path: Path, rgb_format: str) -> str:
    if rgb_format == "same":
        return path.suffix
    return ".png" if rgb_format == "png" else ".jpg"


def plan_outputs(refs: list, root: Path, out_dir: Path, rgb_format: str, rgb_formats: dict[str, str] | None = None
                 ) -> list[OutputPlan]:
    """One :class:`OutputPlan` per source sample.

    Args:
        refs: :class:`volo_adapt.data.sources.SampleRef` objects (``key``, ``rgb_path``, ``depth_path``,
            ``array_path``).
        root: the source root (see :func:`source_root`).
        out_dir: the output folder (resolved).
        rgb_format: ``png`` | ``jpg`` | ``same``.
        rgb_formats: optional ``key -> stored colour format`` (``png16`` keeps 16 bits in a PNG output); when
            unknown at planning time the bit depth is decided when the sample is read.
    """
    if rgb_format not in RGB_FORMATS:
        raise VoloError(f"--rgb-format {rgb_format!r}: must be one of {', '.join(RGB_FORMATS)}")
    plans = []
    for ref in refs:
        key = str(ref.key)
        if ref.array_path is not None:
            src = Path(ref.array_path)
            plans.append(OutputPlan(key=key, inputs=[src], array=_mirror(src, root, out_dir, key)))
            continue
        if ref.rgb_path is None or ref.depth_path is None:
            missing, present = ("rgb", ref.depth_path) if ref.rgb_path is None else ("depth", ref.rgb_path)
            plans.append(OutputPlan(key=key, inputs=[Path(present)], problem=f"missing {missing} partner of {present}"))
            continue
        rgb_in, depth_in = Path(ref.rgb_path), Path(ref.depth_path)
        rgb_out = _mirror(rgb_in, root, out_dir, key)
        rgb_out = rgb_out.with_suffix(_rgb_suffix(rgb_in, rgb_format))
        plan = OutputPlan(key=key, inputs=[rgb_in, depth_in], rgb=rgb_out, depth=_mirror(depth_in, root, out_dir, key))
        if rgb_formats and rgb_formats.get(key) == "png16" and rgb_out.suffix.lower() == ".png":
            plan.rgb_bits = 16
        plans.append(plan)
    return plans


def find_collisions(plans: list[OutputPlan]) -> dict[str, str]:
    """``key -> reason`` for samples whose output file another sample already claims (e.g. ``a.jpg`` and ``a.png``
    both becoming ``a.png``); the first claimant keeps the name."""
    owner: dict[Path, str] = {}
    bad: dict[str, str] = {}
    for plan in plans:
        for f in plan.files:
            if f in owner and owner[f] != plan.key:
                bad[plan.key] = f"output {f} is also the output of sample {owner[f]!r}"
            else:
                owner.setdefault(f, plan.key)
    return bad


def write_sample(plan: OutputPlan, rgb: torch.Tensor, depth_m: torch.Tensor, depth_scale: float) -> None:
    """Write one translated sample's files atomically (each file: temp name, fsync, rename).

    Args:
        plan: where to write.
        rgb: ``(3, H, W)`` float32 in ``[0, 1]`` at the colour file's original size.
        depth_m: ``(1, H, W)`` float32 metres, 0 = invalid, at the depth file's original size.
        depth_scale: units per metre of 16-bit PNG depth.
    """
    from volo_adapt.data.formats import write_depth, write_rgb, write_rgbd_array

    if plan.array is not None:
        write_rgbd_array(plan.array, rgb, depth_m)
        return
    assert plan.rgb is not None and plan.depth is not None
    # Depth first, colour last: if the run stops in between, the sample is incomplete and --skip-existing redoes it.
    write_depth(plan.depth, depth_m, depth_scale=depth_scale)
    write_rgb(plan.rgb, rgb, bits=plan.rgb_bits)


def write_batch(
    batch: Sequence[PendingSample], y: torch.Tensor, codec: DepthCodec, depth_scale: float
) -> Iterator[str]:
    """Decode a translated batch, restore each sample's colour/depth sizes and write its files, one sample per
    step of the iteration (a caller that stops iterating leaves the later samples unwritten).

    Args:
        batch: the samples that were translated, in batch order.
        y: ``(B, 4, H, W)`` float32 in ``[0, 1]``: their translation in network encoding.
        codec: the run's depth codec (invalid output depth is written as 0).
        depth_scale: units per metre of 16-bit PNG depth.

    Yields:
        One failure reason per sample (one line), empty where its files were written.
    """
    from volo_adapt.data.align import restore_sizes
    from volo_adapt.data.sample import from_network

    rgb_all, depth_all, _ = from_network(y, codec)
    for j, pending in enumerate(batch):
        rgb, depth = restore_sizes(rgb_all[j], depth_all[j], pending.rgb_size, pending.depth_size)
        try:
            write_sample(pending.plan, rgb, depth, depth_scale)
        except VoloError as e:
            yield str(e)
            continue
        yield ""


def _rel(path: Path, base: Path) -> str:
    return path.relative_to(base).as_posix()


def write_index(kind: str, spec: str, out_dir: Path, plans: list[OutputPlan]) -> Path | None:
    """Write the output's index file for index sources (None for folder/array sources).

    ``index.json#KEY`` -> ``OUT/<same name>.json`` holding ``{KEY: [{"color_path", "depth_path"}, ...]}``;
    CSV -> ``OUT/<same name>.csv`` with columns ``color_path,depth_path``. Paths are relative to ``OUT`` and list the
    samples in ``plans`` (pass only those whose outputs exist), in source order.
    """
    if kind == "index-json":
        path, key = index_file(spec)
        entries = [{"color_path": _rel(p.rgb, out_dir), "depth_path": _rel(p.depth, out_dir)} for p in plans
                   if p.rgb is not None and p.depth is not None]
        if key is None:  # the source named no key: it holds a plain list or exactly one list (see data.sources)
            data = json.loads(path.read_text(encoding="utf-8"))
            key = None if isinstance(data, list) else next(k for k, v in data.items() if isinstance(v, list))
        payload = entries if key is None else {key: entries}
        target = out_dir / path.name
        atomic_write_bytes(target, (json.dumps(payload, indent=2) + "\n").encode())
        return target
    if kind == "index-csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["color_path", "depth_path"])
        for p in plans:
            if p.rgb is not None and p.depth is not None:
                writer.writerow([_rel(p.rgb, out_dir), _rel(p.depth, out_dir)])
        target = out_dir / Path(spec).name
        atomic_write_bytes(target, buf.getvalue().encode())
        return target
    return None
