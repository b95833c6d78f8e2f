"""Translate a whole RGB-D source into an output folder with the same layout, names and formats.

``translate_source`` is the library entry behind ``volo translate``:

1. open the source (any kind :mod:`volo_adapt.data.sources` reads) and plan one output per sample
   (:mod:`volo_adapt.inference.writers`: same relative paths, same depth format and units, colour as PNG unless
   asked otherwise);
2. refuse unsafe destinations before touching anything: the output folder equal to or inside the source root
   (symlinks resolved), or any output file that would land on an input file or inside the source root;
3. read each sample (RGB and depth of different sizes are aligned by the data layer's policy), encode it with the
   run's codec, group samples of equal size into batches (at most ``batch_size`` images and ``max_batch_pixels``
   pixels each), translate (:func:`~volo_adapt.inference.engine.translate_tensors`: padding, ``inference_mode``,
   autocast), decode, restore the original colour/depth sizes and write every file atomically;
4. a sample that cannot be read or written is recorded as failed with its reason and the rest go on;
5. write the index file (index sources) and ``translate_report.json``.

Depth the codec cannot represent (valid on disk but outside the run's ``[near, far]``) enters the network as
invalid; those pixels are counted per sample and in the summary. Invalid output depth is written as 0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.data.sample import from_network, to_network
from volo_adapt.errors import VoloError
from volo_adapt.inference.engine import (
    DEFAULT_DEPTH_TOLERANCE_MM,
    auto_candidates,
    depth_difference,
    normalise_precision,
    padded_size,
    prepare,
    resolve_device,
    resolve_precision,
    translate_tensors,
    within_tolerance,
)
from volo_adapt.inference.loading import LoadedGenerator
from volo_adapt.inference.writers import (
    RGB_FORMATS,
    OutputPlan,
    find_collisions,
    plan_outputs,
    source_root,
    write_index,
    write_sample,
)

REPORT_NAME = "translate_report.json"
"""Name of the report file written into the output folder."""
DEFAULT_MAX_BATCH_PIXELS = 4 * 512 * 512
"""Largest ``B * H' * W'`` (padded network pixels) per batch: big images are translated fewer at a time."""


@dataclass
class ItemResult:
    """What happened to one sample.

    Attributes:
        key: the sample's key in its source.
        status: ``"translated"``, ``"skipped"`` (all outputs existed, ``--skip-existing``) or ``"failed"``.
        inputs: input file paths.
        outputs: output file paths (planned ones for failed samples).
        reason: why it failed (one line), empty otherwise.
        size: ``[H, W]`` the network ran at (after RGB/depth alignment), None unless translated.
        out_of_range_px: pixels with valid depth outside ``[near, far]`` that entered the network as invalid.
    """

    key: str
    status: str
    inputs: list[str]
    outputs: list[str]
    reason: str = ""
    size: list[int] | None = None
    out_of_range_px: int = 0


@dataclass
class TranslateReport:
    """Summary of one :func:`translate_source` run (also written as ``translate_report.json``)."""

    source: str
    out_dir: str
    checkpoint: str
    direction: str
    weights: str
    device: str
    precision: str
    batch_size: int
    depth_scale: float
    items: list[ItemResult] = field(default_factory=list)
    elapsed_s: float = 0.0
    compute_s: float = 0.0
    index_file: str | None = None
    report_file: str | None = None
    precision_requested: str = ""
    depth_check: dict[str, Any] | None = None
    """With ``--precision auto`` on a device with a faster mode than exact fp32: ``tolerance_mm``, ``tried`` (one
    entry per fast mode tried on the first batch, fastest first: its ``mode``, its depth difference to exact fp32
    ``p999_mm``, ``max_mm`` in millimetres and ``flipped`` validity fraction, and ``within`` the tolerance) and
    ``used``, the mode the run used (``32`` when none was within)."""

    def _with(self, status: str) -> list[ItemResult]:
        return [i for i in self.items if i.status == status]

    @property
    def translated(self) -> list[ItemResult]:
        return self._with("translated")

    @property
    def skipped(self) -> list[ItemResult]:
        return self._with("skipped")

    @property
    def failed(self) -> list[ItemResult]:
        return self._with("failed")

    @property
    def images_per_s(self) -> float:
        """Translated images per second of wall time (reading, network and writing together)."""
        return len(self.translated) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def out_of_range_images(self) -> int:
        """Translated samples that had depth outside the trained ``[near, far]`` range."""
        return sum(1 for i in self.translated if i.out_of_range_px > 0)

    @property
    def out_of_range_px(self) -> int:
        return sum(i.out_of_range_px for i in self.translated)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("items")
        d["counts"] = {
            "total": len(self.items),
            "translated": len(self.translated),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
        }
        d["images_per_s"] = round(self.images_per_s, 4)
        d["out_of_range"] = {"images": self.out_of_range_images, "pixels": self.out_of_range_px}
        for status in ("translated", "skipped", "failed"):
            d[status] = [asdict(i) for i in self._with(status)]
        return d


ProgressCallback = Callable[[int, int, "ItemResult | None"], None]
"""``progress(done, total, item)``: called once with ``(0, total, None)`` before work starts, then after every
sample (translated, skipped or failed). An exception raised by it stops the run (already written files stay)."""


def check_destination(root: Path, out_dir: Path, plans: list[OutputPlan]) -> None:
    """Refuse an output folder equal to/inside the source root, or outputs landing on inputs (symlinks resolved).

    Raises:
        VoloError: naming both paths.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise VoloError(f"{out_dir}: output exists and is not a folder")
    if out_dir == root:
        raise VoloError(f"{out_dir}: the output folder is the input folder; choose a new folder (inputs are never "
                        "overwritten)")
    if out_dir.is_relative_to(root):
        raise VoloError(f"{out_dir}: the output folder is inside the input folder {root}; choose a folder outside it")
    inputs = {p.expanduser().resolve() for plan in plans for p in plan.inputs}
    for plan in plans:
        for f in plan.files:
            rf = f.resolve()
            if rf in inputs:
                raise VoloError(f"{f}: output would overwrite input file {rf}")
            if rf.is_relative_to(root):
                raise VoloError(f"{f}: output would be written inside the input folder {root}")


def sample_seed(seed: int, key: str) -> int:
    """A 63-bit seed for one sample from the run's ``seed`` and the sample's key (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


def translate_source(
    spec: str | Path,
    out_dir: str | Path,
    loaded: LoadedGenerator,
    *,
    batch_size: int = 4,
    device: str | torch.device | None = "auto",
    precision: str = "auto",
    skip_existing: bool = False,
    depth_scale: float | None = None,
    rgb_format: str = "png",
    progress: ProgressCallback | None = None,
    channels_last: bool = False,
    compile: bool = False,
    max_batch_pixels: int = DEFAULT_MAX_BATCH_PIXELS,
    seed: int = 0,
    depth_tolerance_mm: float = DEFAULT_DEPTH_TOLERANCE_MM,
) -> TranslateReport:
    """Translate every sample of ``spec`` into ``out_dir`` (same layout, names and formats).

    Args:
        spec: a source spec (folder with ``rgb/`` + ``depth/``, ``index.json#KEY``, a CSV index, or a folder of
            ``(H, W, 4)`` arrays).
        out_dir: output folder (created); must not be the source folder or inside it.
        loaded: the generator (:func:`~volo_adapt.inference.loading.load_generator`); moved to ``device``.
        batch_size: images per network call (equal-size images only).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
        precision: ``"auto"`` (default: the device's fastest mode whose depth difference to exact fp32 on the first
            batch is within ``depth_tolerance_mm``, see the report's ``depth_check``), ``"32"`` (exact
            fp32), ``"tf32"`` (CUDA), ``"bf16"`` or ``"16"`` (autocast); see
            :data:`~volo_adapt.inference.engine.PRECISIONS` for what the reduced ones cost in depth accuracy.
        skip_existing: leave samples whose output files all exist (resume an interrupted run).
        depth_scale: units per metre of 16-bit PNG depth, for reading and writing (default: the run's
            ``data.depth_scale``).
        rgb_format: output colour format: ``"png"`` (default), ``"jpg"`` or ``"same"`` as the input.
        progress: see :data:`ProgressCallback`.
        channels_last: channels-last memory format for the network (default off: it was slower for these
            generators on an H100, see ``benchmarks/README.md``).
        compile: run a ``torch.compile``-d copy of the generator (``loaded`` itself is left as is). On an H100 this
            made bf16 translation about 3x faster after a compile of 10-60 s; every new image size recompiles.
        max_batch_pixels: cap on padded pixels per batch (large images go fewer at a time).
        seed: for generators that sample sensor noise, each sample's noise is seeded by ``seed`` and the sample's
            key, so a translation is reproducible and an interrupted run resumed with ``skip_existing`` writes the
            same bytes as an uninterrupted one.
        depth_tolerance_mm: the ``auto`` check's bound on the 99.9th percentile of the depth difference, mm.

    Returns:
        The report (also written to ``out_dir/translate_report.json``).

    Raises:
        VoloError: unreadable source, unsafe destination, bad options. Per-sample read/write failures do not
            raise; they are reported in the result.
    """
    from volo_adapt.data.align import restore_sizes
    from volo_adapt.data.sources import open_source, read_sample, source_kind

    t0 = time.perf_counter()
    spec = str(spec)
    if batch_size < 1:
        raise VoloError(f"--batch-size {batch_size}: must be >= 1")
    if rgb_format not in RGB_FORMATS:
        raise VoloError(f"--rgb-format {rgb_format!r}: must be one of {', '.join(RGB_FORMATS)}")
    requested = normalise_precision(precision)
    if not depth_tolerance_mm >= 0:
        raise VoloError(f"--depth-tolerance-mm {depth_tolerance_mm}: must be >= 0 millimetres")
    scale = float(loaded.config.data.depth_scale if depth_scale is None else depth_scale)
    if not scale > 0:
        raise VoloError(f"--depth-scale {depth_scale}: must be > 0 units per metre")
    dev = resolve_device(device)

    kind = source_kind(spec)
    refs = open_source(spec)
    root = source_root(spec, kind)
    out = Path(out_dir).expanduser().resolve()
    plans = plan_outputs(refs, root, out, rgb_format)
    check_destination(root, out, plans)
    collisions = find_collisions(plans)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # e.g. a parent is a file, or the disk/permissions refuse it: one line, not a traceback
        raise VoloError(f"{out}: cannot create the output folder ({e.strerror or e})") from e
    candidates = auto_candidates(dev) if requested == "auto" else []
    precision = resolve_precision(requested, dev)
    check_pending = bool(candidates)
    prepare(loaded, dev, channels_last)
    if compile:
        loaded = dataclasses.replace(loaded, module=torch.compile(loaded.module))

    report = TranslateReport(
        source=spec,
        out_dir=str(out),
        checkpoint=str(loaded.source),
        direction=loaded.direction,
        weights=loaded.weights,
        device=str(dev),
        precision=precision,
        batch_size=batch_size,
        depth_scale=scale,
        precision_requested=requested,
    )
    results: dict[int, ItemResult] = {}
    total = len(plans)
    if progress is not None:
        progress(0, total, None)

    def finish(i: int, item: ItemResult) -> None:
        results[i] = item
        if progress is not None:
            progress(len(results), total, item)

    def item(plan: OutputPlan, status: str, reason: str = "", **kw: Any) -> ItemResult:
        return ItemResult(
            key=plan.key,
            status=status,
            inputs=[str(p) for p in plan.inputs],
            outputs=[str(p) for p in plan.files],
            reason=reason,
            **kw,
        )

    codec = loaded.codec
    # pending[(H, W)] = [(index, plan, x (4,H,W), rgb_size, depth_size, out_of_range_px), ...]
    pending: dict[tuple[int, int], list[tuple]] = {}

    def capacity(size: tuple[int, int]) -> int:
        hp, wp = padded_size(*size, loaded.size_multiple, loaded.requires_square, loaded.min_size)
        return max(1, min(batch_size, max_batch_pixels // (hp * wp)))

    def run_network(x: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        nonlocal precision, check_pending
        if not check_pending:
            return translate_tensors(loaded, x, precision=precision, channels_last=channels_last, seeds=seeds)
        # --precision auto, first batch: the fastest mode within the tolerance of exact fp32 on this very batch
        check_pending = False
        exact = translate_tensors(loaded, x, precision="32", channels_last=channels_last, seeds=seeds)
        tried, y = [], exact
        precision = "32"
        for mode in candidates:
            out = translate_tensors(loaded, x, precision=mode, channels_last=channels_last, seeds=seeds)
            diff = depth_difference(out, exact, codec)
            within = within_tolerance(diff, depth_tolerance_mm)
            tried.append({"mode": mode, **diff, "within": within})
            if within:
                precision, y = mode, out
                break
        report.precision = precision
        report.depth_check = {"tolerance_mm": depth_tolerance_mm, "tried": tried, "used": precision}
        return y

    def run_group(size: tuple[int, int]) -> None:
        group = pending.pop(size)
        tc = time.perf_counter()
        try:
            y = run_network(torch.stack([g[2] for g in group]), [sample_seed(seed, g[1].key) for g in group])
        except (RuntimeError, ValueError) as e:  # e.g. out of memory: report these samples, go on with the rest
            reason = f"network failed on a {len(group)}x4x{size[0]}x{size[1]} batch: {_first_line(e)}"
            for idx, plan, *_ in group:
                finish(idx, item(plan, "failed", reason))
            return
        report.compute_s += time.perf_counter() - tc
        rgb_all, depth_all, _ = from_network(y, codec)
        for j, (idx, plan, _, rgb_size, depth_size, oor) in enumerate(group):
            rgb, depth = restore_sizes(rgb_all[j], depth_all[j], rgb_size, depth_size)
            try:
                write_sample(plan, rgb, depth, scale)
            except VoloError as e:
                finish(idx, item(plan, "failed", str(e)))
                continue
            finish(idx, item(plan, "translated", size=list(size), out_of_range_px=oor))

    for i, (ref, plan) in enumerate(zip(refs, plans, strict=True)):
        if plan.problem or plan.key in collisions:
            finish(i, item(plan, "failed", plan.problem or collisions[plan.key]))
            continue
        if skip_existing and plan.exists():
            finish(i, item(plan, "skipped"))
            continue
        try:
            sample = read_sample(ref, depth_scale=scale)
        except VoloError as e:
            finish(i, item(plan, "failed", str(e)))
            continue
        except Exception as e:  # noqa: BLE001 - an undecodable file must not stop the other samples
            finish(i, item(plan, "failed", f"cannot read ({type(e).__name__}: {_first_line(e)})"))
            continue
        x, valid = to_network(sample, codec)
        oor = int((sample.valid & ~valid).sum())
        if plan.rgb is not None and plan.rgb.suffix.lower() == ".png" and sample.meta.get("rgb_format") == "png16":
            plan.rgb_bits = 16  # a 16-bit colour PNG stays 16-bit
        size = sample.size
        rgb_size = tuple(sample.meta.get("rgb_size") or size)
        depth_size = tuple(sample.meta.get("depth_size") or size)
        pending.setdefault(size, []).append((i, plan, x, rgb_size, depth_size, oor))
        if len(pending[size]) >= capacity(size):
            run_group(size)
        elif sum(len(g) for g in pending.values()) > 4 * batch_size:  # many sizes: bound the images held in memory
            run_group(max(pending, key=lambda s: len(pending[s])))
    while pending:
        run_group(next(iter(pending)))

    report.items = [results[i] for i in range(total)]
    done = [plans[i] for i in range(total) if results[i].status in ("translated", "skipped")]
    index = write_index(kind, spec, out, done)
    report.index_file = str(index) if index is not None else None
    report.elapsed_s = time.perf_counter() - t0
    report_path = out / REPORT_NAME
    report.report_file = str(report_path)
    atomic_write_bytes(report_path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    return report


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__
