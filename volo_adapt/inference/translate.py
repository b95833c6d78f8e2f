"""Translate a whole RGB-D source into an output folder with the same layout, names and formats.

``translate_source`` is the library entry behind ``volo translate``; it runs these stages, each in its module, with
one :class:`~volo_adapt.inference.options.TranslateOptions`:

1. plan (:mod:`~volo_adapt.inference.translate_plan`): open the source (any kind :mod:`volo_adapt.data.sources`
   reads), plan one output per sample (:mod:`~volo_adapt.inference.writers`: same relative paths, same depth
   format and units, colour as PNG unless asked otherwise), refuse unsafe destinations before touching anything
   (the output folder equal to or inside the source root, symlinks resolved, or any output file that would land
   on an input file or inside the source root), settle skipped samples, read the others (RGB and depth of
   different sizes are aligned by the data layer's policy) and encode them with the run's codec;
2. batch (:mod:`~volo_adapt.inference.batching`): group samples of equal size, at most ``batch_size`` images and
   ``max_batch_pixels`` padded pixels each;
3. run (:mod:`~volo_adapt.inference.runner`): :func:`~volo_adapt.inference.engine.translate_tensors` (padding,
   ``inference_mode``, autocast) with the chosen precision (``auto``: checked on the first batch) and one noise
   seed per sample;
4. write (:func:`~volo_adapt.inference.writers.write_batch`): decode, restore the original colour/depth sizes and
   write every file atomically; then the index file (index sources) and ``translate_report.json``.

A sample that cannot be read, translated or written is recorded as failed with its reason and the rest go on.
Depth the codec cannot represent (valid on disk but outside the run's ``[near, far]``) enters the network as
invalid; those pixels are counted per sample and in the summary. Invalid output depth is written as 0.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.errors import VoloError, first_line
from volo_adapt.inference.batching import Batcher, PendingSample
from volo_adapt.inference.engine import resolve_device
from volo_adapt.inference.loading import LoadedGenerator
from volo_adapt.inference.options import DEFAULT_MAX_BATCH_PIXELS, TranslateOptions
from volo_adapt.inference.runner import Runner, sample_seed
from volo_adapt.inference.translate_plan import (
    SourcePlan,
    check_destination,
    make_output_dir,
    plan_source,
    read_pending,
    settled_without_reading,
)
from volo_adapt.inference.writers import OutputPlan, write_batch, write_index

__all__ = [
    "DEFAULT_MAX_BATCH_PIXELS",
    "REPORT_NAME",
    "ItemResult",
    "ProgressCallback",
    "TranslateOptions",
    "TranslateReport",
    "check_destination",
    "sample_seed",
    "translate_source",
]

REPORT_NAME = "translate_report.json"
"""Name of the report file written into the output folder."""


@dataclass
class ItemResult:
    """What happened to one sample.

    Attributes:
        key: the sample's key in its source.
        status: ``"translated"``, ``"skipped"`` (all outputs existed, ``skip_existing``) or ``"failed"``.
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
    """With precision ``auto`` on a device with a faster mode than exact fp32: ``tolerance_mm``, ``tried`` (one
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


class _Results:
    """Per-sample outcomes, kept by source position and passed to ``progress`` as they come."""

    def __init__(self, plans: list[OutputPlan], progress: ProgressCallback | None) -> None:
        self.plans, self.progress = plans, progress
        self.items: dict[int, ItemResult] = {}
        if progress is not None:
            progress(0, len(plans), None)

    def record(self, index: int, status: str, reason: str = "", **kw: Any) -> None:
        plan = self.plans[index]
        item = ItemResult(key=plan.key, status=status, inputs=[str(p) for p in plan.inputs],
                          outputs=[str(p) for p in plan.files], reason=reason, **kw)
        self.items[index] = item
        if self.progress is not None:
            self.progress(len(self.items), len(self.plans), item)

    def in_order(self) -> list[ItemResult]:
        return [self.items[i] for i in range(len(self.plans))]


def translate_source(
    spec: str | Path,
    out_dir: str | Path,
    loaded: LoadedGenerator,
    options: TranslateOptions | None = None,
    progress: ProgressCallback | None = None,
    **option_overrides: Any,
) -> TranslateReport:
    """Translate every sample of ``spec`` into ``out_dir`` (same layout, names and formats).

    Args:
        spec: a source spec (folder with ``rgb/`` + ``depth/``, ``index.json#KEY``, a CSV index, or a folder of
            ``(H, W, 4)`` arrays).
        out_dir: output folder (created); must not be the source folder or inside it.
        loaded: the generator (:func:`~volo_adapt.inference.loading.load_generator`); moved to the device.
        options: batch size, device, precision, ... (:class:`~volo_adapt.inference.options.TranslateOptions`;
            default: its defaults).
        progress: see :data:`ProgressCallback`.
        **option_overrides: fields of ``options`` by name (``batch_size=2, device="cpu"``), applied on top.

    Returns:
        The report (also written to ``out_dir/translate_report.json``).

    Raises:
        OptionError: a bad option, named as in :class:`TranslateOptions` (``batch_size 0: must be >= 1``).
        VoloError: unreadable source, unsafe destination. Per-sample read/write/network failures do not raise;
            they are reported in the result.
        TypeError: an option name that :class:`TranslateOptions` does not have.
    """
    t0 = time.perf_counter()
    opts = (options or TranslateOptions()).with_overrides(option_overrides)
    scale = opts.resolved_depth_scale(loaded.config.data.depth_scale)
    device = resolve_device(opts.device)
    job = plan_source(str(spec), out_dir, opts.rgb_format)
    make_output_dir(job.out)
    runner = Runner(loaded, device, opts)
    results = _Results(job.plans, progress)
    batcher = Batcher(opts.batch_size, opts.max_batch_pixels, runner.padded_pixels)
    for index, ref in enumerate(job.refs):
        pending = _admit(index, ref, job, opts.skip_existing, runner.loaded.codec, scale, results)
        for batch in batcher.add(pending) if pending is not None else []:
            _translate_batch(batch, runner, scale, results)
    for batch in batcher.drain():
        _translate_batch(batch, runner, scale, results)
    report = TranslateReport(
        source=job.spec, out_dir=str(job.out), checkpoint=str(loaded.source), direction=loaded.direction,
        weights=loaded.weights, device=str(device), precision=runner.precision, batch_size=opts.batch_size,
        depth_scale=scale, items=results.in_order(), compute_s=runner.compute_s,
        precision_requested=opts.requested_precision, depth_check=runner.depth_check,
    )
    _write_index_and_report(report, job, t0)
    return report


def _admit(
    index: int, ref: Any, job: SourcePlan, skip_existing: bool, codec: Any, scale: float, results: _Results
) -> PendingSample | None:
    """Settle a sample that needs no network (failed plan, skipped) or read it; None when settled or unreadable."""
    plan = job.plans[index]
    settled = settled_without_reading(plan, job.collisions, skip_existing)
    if settled is not None:
        results.record(index, *settled)
        return None
    try:
        return read_pending(index, ref, plan, codec, scale)
    except VoloError as e:
        results.record(index, "failed", str(e))
        return None


def _translate_batch(batch: list[PendingSample], runner: Runner, scale: float, results: _Results) -> None:
    """Translate one batch and write its samples; a network failure (e.g. out of memory) fails the batch only."""
    try:
        y = runner(torch.stack([p.x for p in batch]), [p.plan.key for p in batch])
    except (RuntimeError, ValueError) as e:
        h, w = batch[0].size
        reason = f"network failed on a {len(batch)}x4x{h}x{w} batch: {first_line(e)}"
        for p in batch:
            results.record(p.index, "failed", reason)
        return
    for p, reason in zip(batch, write_batch(batch, y, runner.loaded.codec, scale), strict=True):
        if reason:
            results.record(p.index, "failed", reason)
        else:
            results.record(p.index, "translated", size=list(p.size), out_of_range_px=p.out_of_range_px)


def _write_index_and_report(report: TranslateReport, job: SourcePlan, t0: float) -> None:
    """Write the output index (index sources) and ``translate_report.json``; fill their paths and the wall time."""
    done = [plan for plan, item in zip(job.plans, report.items, strict=True)
            if item.status in ("translated", "skipped")]
    index = write_index(job.kind, job.spec, job.out, done)
    report.index_file = str(index) if index is not None else None
    report.elapsed_s = time.perf_counter() - t0
    report_path = job.out / REPORT_NAME
    report.report_file = str(report_path)
    atomic_write_bytes(report_path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
