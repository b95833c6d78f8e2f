"""Validate RGB-D sources by reading every sample fully, once; the same validation training runs at start.

Packed folders and ``s3://`` packs (see :mod:`volo_adapt.data.pack_format`) are checked too: every item is streamed
and decoded once, in stored order, and counted in the same statistics (kind ``packed``).

:func:`validate_refs` splits references into readable ones and :class:`BadSample` records (what to do with
the bad ones, fail or skip, is the caller's choice); :func:`check_sources` also gathers per-source statistics
for ``volo data check``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch

from volo_adapt.data.formats import DEFAULT_PIXEL_LIMIT
from volo_adapt.data.pack_format import decode_item, is_remote, is_stream_spec, require_litdata
from volo_adapt.data.sample import RGBDSample
from volo_adapt.data.sources import SampleRef, open_source, read_sample, source_kind
from volo_adapt.errors import DataError, first_line

__all__ = ["BadSample", "CheckReport", "SourceStats", "check_sources", "format_size", "iter_validated", "validate_refs"]

Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` after each sample."""


@dataclass(frozen=True)
class BadSample:
    """A sample that cannot be used.

    Attributes:
        source: the source spec.
        key: the sample key within the source.
        path: the file at fault (the present file when its partner is missing).
        reason: one line naming the file and what is wrong.
    """

    source: str
    key: str
    path: str
    reason: str


@dataclass
class SourceStats:
    """Statistics of one source over its readable samples.

    Attributes:
        spec: the source spec; kind: ``source_kind(spec)``.
        ok, bad: number of readable and unreadable samples.
        resolutions: ``((rgb H, W), (depth H, W))`` as stored -> number of samples.
        rgb_formats, depth_formats: format name (``png8``, ``png16``, ``jpg``, ``exr``, ``npy``, ``npz``) -> count.
        depth_min, depth_max: smallest / largest valid depth in metres over all readable samples (None if no
            valid pixel was seen).
        valid_fraction_sum: sum over readable samples of the fraction of valid depth pixels.
    """

    spec: str
    kind: str
    ok: int = 0
    bad: int = 0
    resolutions: Counter = field(default_factory=Counter)
    rgb_formats: Counter = field(default_factory=Counter)
    depth_formats: Counter = field(default_factory=Counter)
    depth_min: float | None = None
    depth_max: float | None = None
    valid_fraction_sum: float = 0.0

    @property
    def samples(self) -> int:
        return self.ok + self.bad

    @property
    def mean_valid_fraction(self) -> float | None:
        """Mean fraction of valid depth pixels per readable sample, in ``[0, 1]`` (None if none readable)."""
        return self.valid_fraction_sum / self.ok if self.ok else None

    def add(self, sample: RGBDSample) -> None:
        """Account for one readable sample."""
        m = sample.meta
        self.ok += 1
        self.resolutions[(tuple(m["rgb_size"]), tuple(m["depth_size"]))] += 1
        self.rgb_formats[m["rgb_format"]] += 1
        self.depth_formats[m["depth_format"]] += 1
        n_valid = int(sample.valid.sum())
        self.valid_fraction_sum += n_valid / sample.valid.numel()
        if n_valid:
            d = sample.depth[sample.valid]
            lo, hi = float(d.min()), float(d.max())
            self.depth_min = lo if self.depth_min is None else min(self.depth_min, lo)
            self.depth_max = hi if self.depth_max is None else max(self.depth_max, hi)


@dataclass
class CheckReport:
    """Result of :func:`check_sources`: one :class:`SourceStats` per spec and every bad sample."""

    sources: list[SourceStats]
    bad: list[BadSample]

    @property
    def ok(self) -> bool:
        """True when no sample is bad."""
        return not self.bad


def _fault_path(ref: SampleRef, message: str) -> str:
    """The file a DataError is about: the ref's file its message starts with, else the first present file."""
    files = [p for p in (ref.array_path, ref.rgb_path, ref.depth_path) if p is not None]
    for p in files:
        if message.startswith(str(p)):
            return str(p)
    return str(files[0]) if files else ref.source


@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Run torch ops on one intra-op thread, then restore the previous count.

    Validation does small elementwise ops per sample, where intra-op threads cost more than they save:
    on a loaded 2-core machine ``check`` took 0.11 s per 256x192 sample with 2 threads and 0.009 s with 1
    (phone-sized 1920x1440 RGB: about the same either way).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def iter_validated(
    refs: list[SampleRef],
    depth_scale: float = 1000.0,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    progress: Progress | None = None,
) -> Iterator[tuple[SampleRef, RGBDSample | BadSample]]:
    """Read every ref fully; yield ``(ref, sample)`` or ``(ref, BadSample)`` in order."""
    for i, ref in enumerate(refs):
        try:
            result: RGBDSample | BadSample = read_sample(ref, depth_scale=depth_scale, pixel_limit=pixel_limit)
        except DataError as e:
            result = BadSample(ref.source, ref.key, _fault_path(ref, str(e)), str(e))
        except OSError as e:  # e.g. permission denied while reading: still one line, never a traceback
            path = _fault_path(ref, "")
            result = BadSample(ref.source, ref.key, path, f"{path}: cannot read ({e.strerror or e})")
        yield ref, result
        if progress is not None:
            progress(i + 1, len(refs))


def validate_refs(
    refs: list[SampleRef],
    depth_scale: float = 1000.0,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    progress: Progress | None = None,
) -> tuple[list[SampleRef], list[BadSample]]:
    """Split refs into readable ones and bad samples by reading each fully once.

    Args:
        refs: from :func:`~volo_adapt.data.sources.open_source`.
        depth_scale: 16-bit PNG depth units per metre.
        pixel_limit: largest accepted ``H * W`` per file.
        progress: optional ``progress(done, total)`` callback.

    Returns:
        ``(good_refs, bad)`` in input order. Whether bad samples abort a run or are skipped is the caller's
        decision.
    """
    good: list[SampleRef] = []
    bad: list[BadSample] = []
    with _single_thread():
        for ref, result in iter_validated(refs, depth_scale, pixel_limit, progress):
            if isinstance(result, BadSample):
                bad.append(result)
            else:
                good.append(ref)
    return good, bad


def check_sources(
    specs: list[str],
    depth_scale: float = 1000.0,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    progress: Progress | None = None,
) -> CheckReport:
    """Read every sample of every source and report statistics and every bad sample.

    Args:
        specs: source specs (see :mod:`volo_adapt.data.sources`).
        depth_scale: 16-bit PNG depth units per metre (1000 = mm, TUM = 5000).
        pixel_limit: largest accepted ``H * W`` per file.
        progress: optional ``progress(done, total)`` callback over all sources together.

    Raises:
        DataError: a spec that cannot be opened at all (nonexistent, unknown layout, empty).
    """
    if not depth_scale > 0:
        raise DataError(f"depth scale must be > 0 PNG units per metre, got {depth_scale}")
    if pixel_limit < 1:
        raise DataError(f"pixel limit must be >= 1, got {pixel_limit}")
    opened = [_open_any(str(s)) for s in specs]
    total = sum(len(refs) for _, _, refs in opened)
    done = 0

    def _tick(_i: int, _n: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    stats: list[SourceStats] = []
    bad: list[BadSample] = []
    with _single_thread():
        for spec, kind, refs in opened:
            st = SourceStats(spec=spec, kind=kind)
            results = _iter_packed(spec, refs) if kind == "packed" else iter_validated(refs, depth_scale, pixel_limit)
            for _, result in results:
                _tick(0, 0)
                if isinstance(result, BadSample):
                    st.bad += 1
                    bad.append(result)
                else:
                    st.add(result)
            stats.append(st)
    return CheckReport(sources=stats, bad=bad)


def _open_any(spec: str) -> tuple[str, str, Any]:
    """``(spec, kind, items)``: loose sources as SampleRefs; packs as their litdata dataset (len = samples)."""
    if not is_stream_spec(spec):
        return spec, source_kind(spec), open_source(spec)
    require_litdata()
    from litdata import StreamingDataset

    try:
        return spec, "packed", StreamingDataset(spec)
    except Exception as e:  # litdata/botocore raise many types (no index, no credentials, no bucket)
        where = "object store" if is_remote(spec) else "folder"
        raise DataError(f"{spec}: cannot open the packed {where} ({first_line(e)})") from e


def _iter_packed(spec: str, dataset: Any) -> Iterator[tuple[int, RGBDSample | BadSample]]:
    """Stream and decode every packed item once, in stored order."""
    for i in range(len(dataset)):
        try:
            item = dataset[i]
            result: RGBDSample | BadSample = decode_item(item)
        except DataError as e:
            result = BadSample(spec, str(i), spec, f"{spec}: item {i}: {e}")
        except (OSError, ValueError, RuntimeError) as e:  # a damaged chunk: litdata/zstd raise these
            result = BadSample(spec, str(i), spec, f"{spec}: item {i} cannot be read ({type(e).__name__}: {e})")
        yield i, result


def format_size(size: tuple[int, int]) -> str:
    """``(H, W)`` -> ``"WxH"`` as image tools print it."""
    return f"{size[1]}x{size[0]}"
