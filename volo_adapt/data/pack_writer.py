"""``volo data pack``: write one domain's sources into compressed, chunked litdata shards with an index.

The shards are written by litdata's own ``BinaryWriter`` (zstd-compressed chunks of about ``shard_size``
bytes, uncompressed size) and read by its ``StreamingDataset``. The item layout is in
:mod:`volo_adapt.data.pack_format`.

Resumable packing. The samples are written in *parts* of ``part_size`` consecutive samples; each part is one
litdata writer run whose chunk list is recorded atomically in ``OUT/.volo-pack/part-NNNNN.json`` when the
part is complete. A killed pack leaves at most one unfinished part: rerunning the same command keeps the
recorded parts, deletes the chunk files no record names (the unfinished part's) and writes the rest, so the
finished pack has every sample exactly once. litdata's own ``optimize(use_checkpoint=True)`` was tried first:
in litdata 0.2.76 its resume point counts *written* samples, not inputs, so after a skipped bad file it
re-processed one input and the resumed pack held a duplicate; hence these parts, built on the writer only.

The final ``index.json`` is the concatenation of the parts' chunk lists (what litdata's ``merge_datasets``
writes, without copying every chunk to a new folder), followed by ``volo_pack.json``; the folder counts as a
finished pack only once both exist.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import volo_adapt
from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.data.check import BadSample, _fault_path
from volo_adapt.data.formats import DEFAULT_PIXEL_LIMIT
from volo_adapt.data.pack_format import (
    INDEX_FILE,
    MANIFEST_FILE,
    PACK_FORMAT,
    encode_ref,
    is_packed_folder,
    is_remote,
    require_litdata,
)
from volo_adapt.data.sources import SampleRef, open_source
from volo_adapt.errors import DataError

__all__ = ["DEFAULT_PART_SIZE", "DEFAULT_SHARD_SIZE", "PackReport", "pack_sources", "read_manifest"]

DEFAULT_SHARD_SIZE = "64MB"
"""Chunk size (before compression); litdata's guidance for streaming from object storage."""
DEFAULT_PART_SIZE = 1024
"""Samples per resumable part: a killed pack redoes at most this many."""
STATE_DIR = ".volo-pack"
_CHUNK_RE = re.compile(r"^chunk-\d+-(\d+)\.(?:[a-z0-9]+\.)?bin$")

Progress = Callable[[int, int], None]


@dataclass
class PackReport:
    """What :func:`pack_sources` did.

    Attributes:
        out: the packed folder.
        sources: the source specs, in packing order.
        samples: samples written.
        bad: unreadable samples, skipped and listed (as ``volo data check`` lists them).
        chunks: chunk files in the pack.
        bytes: total size of the chunk files.
        parts_reused: parts found complete from an earlier, interrupted run (0 on a fresh pack).
        already_packed: OUT already held this finished pack; nothing was done.
        seconds: wall time of this call.
    """

    out: Path
    sources: list[str]
    samples: int = 0
    bad: list[BadSample] = field(default_factory=list)
    chunks: int = 0
    bytes: int = 0
    parts_reused: int = 0
    already_packed: bool = False
    seconds: float = 0.0


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """``volo_pack.json`` of a finished pack.

    Raises:
        DataError: no readable manifest, or one of another format version.
    """
    path = Path(folder) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable volo-adapt pack manifest ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise DataError(f"{path}: pack format {manifest.get('format') if isinstance(manifest, dict) else '?'} "
                        f"is not supported (this volo-adapt reads {PACK_FORMAT}); pack the sources again")
    return manifest


def _encode_or_bad(ref: SampleRef, depth_scale: float, pixel_limit: int) -> dict[str, Any] | BadSample:
    """One sample's item, or the BadSample that ``volo data check`` would report for it (runs in workers)."""
    try:
        return encode_ref(ref, depth_scale, pixel_limit)
    except DataError as e:
        return BadSample(ref.source, ref.key, _fault_path(ref, str(e)), str(e))
    except OSError as e:
        path = _fault_path(ref, "")
        return BadSample(ref.source, ref.key, path, f"{path}: cannot read ({e.strerror or e})")


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)  # small per-sample ops: threads cost more than they save (see check._single_thread)


@contextlib.contextmanager
def _mapper(workers: int) -> Iterator[Callable[..., Iterator[Any]]]:
    """An ordered ``imap``: in this process (``workers <= 1``) or in a pool of spawned processes.

    Spawned, not forked: the parent has torch loaded, and forking a process that may have started OpenMP
    threads can deadlock the children.
    """
    if workers <= 1:
        yield map
        return
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init)
    try:
        yield lambda fn, items: pool.imap(fn, items, chunksize=2)
    finally:
        pool.terminate()
        pool.join()


def _job(specs: list[str], refs: list[SampleRef], depth_scale: float, shard_size: str, part_size: int) -> dict:
    """What identifies one packing job: a rerun continues only a job with the same identity."""
    return {
        "sources": specs,
        "samples_listed": len(refs),
        "first_last": [f"{refs[0].source}:{refs[0].key}", f"{refs[-1].source}:{refs[-1].key}"],
        "depth_scale": depth_scale,
        "shard_size": shard_size,
        "part_size": part_size,
    }


def _write_part(out: Path, items: Iterator[Any], shard_size: str, chunk_index: int,
                tick: Callable[[], None]) -> tuple[list[dict], dict | None, list[BadSample]]:
    """Write one part's items with a litdata BinaryWriter; return its chunk list, config and bad samples."""
    from litdata.streaming.writer import BinaryWriter

    # zstd per sample: a reader then inflates one sample at a time (framed batches would hold up to 256 samples)
    writer = BinaryWriter(str(out), chunk_bytes=shard_size, compression="zstd", compression_level="sample",
                          chunk_index=chunk_index)
    bad: list[BadSample] = []
    n = 0
    for result in items:
        if isinstance(result, BadSample):
            bad.append(result)
        else:
            writer.add_item(n, result)
            n += 1
        tick()
    if n == 0:
        return [], None, bad
    writer.done()
    worker_index = out / f"{writer.rank}.{INDEX_FILE}"
    index = json.loads(worker_index.read_text())
    worker_index.unlink()
    return list(index["chunks"]), index["config"], bad


def _check_out(out: Path, specs: list[str]) -> None:
    for spec in specs:
        if not is_remote(spec) and Path(spec).resolve() == out.resolve():
            raise DataError(f"{out}: the output folder is also a source; choose another folder")
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if out.is_dir() and not (out / STATE_DIR).is_dir() and not is_packed_folder(str(out)):
        foreign = [p.name for p in out.iterdir()]
        if foreign:
            raise DataError(f"{out}: folder is not empty ({', '.join(sorted(foreign)[:3])}...); choose a new folder")


def pack_sources(
    specs: list[str],
    out: str | os.PathLike,
    *,
    shard_size: str = DEFAULT_SHARD_SIZE,
    workers: int = 0,
    part_size: int = DEFAULT_PART_SIZE,
    depth_scale: float = 1000.0,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    progress: Progress | None = None,
) -> PackReport:
    """Pack the samples of ``specs`` (one domain) into ``out``; resumable (see the module docstring).

    Args:
        specs: loose-file source specs (folders, index files, arrays), packed in this order, each by key.
        out: a new or empty local folder, or the folder of an interrupted run of the same command.
        shard_size: chunk size before compression, litdata syntax (``"64MB"``).
        workers: reader processes (0 or 1: read in this process).
        part_size: samples per resumable part.
        depth_scale: 16-bit PNG depth units per metre of the sources (stored with every sample).
        pixel_limit: largest accepted ``H * W`` per file.
        progress: ``progress(done, total)`` after each sample.

    Returns:
        A :class:`PackReport`; unreadable samples are skipped and listed in ``bad``.

    Raises:
        DataError: a source cannot be listed, ``out`` is not usable, or no sample at all could be read.
    """
    t0 = time.perf_counter()
    specs, out = _checked_args(specs, out, depth_scale, part_size)
    if is_packed_folder(str(out)):
        return _existing_pack(out, specs, t0)
    refs = _list_loose_sources(specs)
    _start_or_resume_job(out, _job(specs, refs, float(depth_scale), str(shard_size), int(part_size)))
    parts = [refs[i: i + part_size] for i in range(0, len(refs), part_size)]
    records = _read_part_records(out, len(parts))
    report = PackReport(out, specs, parts_reused=sum(r is not None for r in records))
    next_chunk = _drop_unrecorded_chunks(out, records)
    count = _Count(len(refs), progress)
    for p, r in enumerate(records):
        if r is not None:
            count.add(len(parts[p]))
    encode = partial(_encode_or_bad, depth_scale=float(depth_scale), pixel_limit=int(pixel_limit))
    _write_missing_parts(out, parts, records, encode, workers, str(shard_size), next_chunk, count)
    _finish_pack(report, records, float(depth_scale), str(shard_size), len(refs))
    report.seconds = time.perf_counter() - t0
    return report


def _checked_args(
    specs: list[str], out: str | os.PathLike, depth_scale: float, part_size: int
) -> tuple[list[str], Path]:
    """``(specs as str, out as Path)`` after refusing unusable arguments and output folders (DataError)."""
    require_litdata()
    specs = [str(s) for s in specs]
    if not specs:
        raise DataError("volo data pack: no sources given")
    if not depth_scale > 0:
        raise DataError(f"--depth-scale: must be > 0 units per metre, got {depth_scale}")
    if part_size < 1:
        raise DataError(f"--part-size: must be >= 1, got {part_size}")
    if is_remote(str(out)):
        raise DataError(f"{out}: pack to a local folder, then upload it (e.g. aws s3 sync OUT s3://bucket/prefix)")
    out = Path(out)
    _check_out(out, specs)
    return specs, out


def _existing_pack(out: Path, specs: list[str], t0: float) -> PackReport:
    """The report of the finished pack in ``out``, if it packs ``specs`` (else DataError); nothing is written."""
    manifest = read_manifest(out)
    if manifest.get("sources") != specs:
        raise DataError(f"{out}: already holds a pack of {', '.join(manifest.get('sources', []))}; "
                        "choose another folder")
    bad = [BadSample(**b) for b in manifest.get("bad", [])]
    return PackReport(out, specs, manifest["samples"], bad, manifest["chunks"], manifest["bytes"],
                      already_packed=True, seconds=time.perf_counter() - t0)


def _list_loose_sources(specs: list[str]) -> list[SampleRef]:
    """Every sample of ``specs``, in order; packed or remote sources are refused (DataError)."""
    refs: list[SampleRef] = []
    for spec in specs:
        if is_remote(spec) or is_packed_folder(spec):
            raise DataError(f"{spec}: already packed; pack loose-file sources (folders, index files, arrays)")
        refs.extend(open_source(spec))
    return refs


def _start_or_resume_job(out: Path, job: dict) -> None:
    """Record ``job`` in ``OUT/.volo-pack/job.json``, or check that an interrupted run there was the same job."""
    job_file = out / STATE_DIR / "job.json"
    if job_file.is_file():
        if json.loads(job_file.read_text()) != job:
            raise DataError(f"{out}: holds an unfinished pack of other sources or settings; delete the folder or "
                            "choose another one")
    else:
        atomic_write_bytes(job_file, json.dumps(job, indent=1).encode())


def _read_part_records(out: Path, n_parts: int) -> list[dict | None]:
    """The record of each part completed by an earlier run (``chunks``, ``config``, ``bad``), else None."""
    records: list[dict | None] = []
    for p in range(n_parts):
        f = out / STATE_DIR / f"part-{p:05d}.json"
        records.append(json.loads(f.read_text()) if f.is_file() else None)
    return records


def _drop_unrecorded_chunks(out: Path, records: list[dict | None]) -> int:
    """Delete the chunk files no complete part names (an interrupted part's); return the next free chunk index."""
    kept = {c["filename"] for r in records if r is not None for c in r["chunks"]}
    for f in out.iterdir():
        if f.is_file() and _CHUNK_RE.match(f.name) and f.name not in kept:
            f.unlink()
    return 1 + max((int(_CHUNK_RE.match(name).group(1)) for name in kept), default=-1)


@dataclass
class _Count:
    """Samples done so far out of ``total``, reported to ``progress(done, total)`` after every step."""

    total: int
    progress: Progress | None
    done: int = 0

    def add(self, n: int = 1) -> None:
        self.done += n
        if self.progress is not None:
            self.progress(self.done, self.total)


def _write_missing_parts(out: Path, parts: list[list[SampleRef]], records: list[dict | None],
                         encode: Callable[[SampleRef], Any], workers: int, shard_size: str, next_chunk: int,
                         count: _Count) -> None:
    """Write every part without a record, in order; each part's record is written atomically once it is complete
    (and stored in ``records``), so a killed run loses at most the part it was writing."""
    todo = [p for p, r in enumerate(records) if r is None]
    with _mapper(workers if todo else 0) as imap:
        for p in todo:
            chunks, config, bad = _write_part(out, imap(encode, parts[p]), shard_size, next_chunk, count.add)
            next_chunk += len(chunks)
            record = {"chunks": chunks, "config": config, "bad": [b.__dict__ for b in bad]}
            atomic_write_bytes(out / STATE_DIR / f"part-{p:05d}.json", json.dumps(record).encode())
            records[p] = record


def _finish_pack(report: PackReport, records: list[dict | None], depth_scale: float, shard_size: str,
                 total: int) -> None:
    """Join the parts into ``index.json``, then write ``volo_pack.json`` (the pack is finished once both exist),
    fill ``report`` and remove the resume state."""
    out, specs = report.out, report.sources
    chunks = [c for r in records if r is not None for c in r["chunks"]]
    configs = [r["config"] for r in records if r is not None and r["config"] is not None]
    report.bad = [BadSample(**b) for r in records if r is not None for b in r["bad"]]
    if not chunks:
        raise DataError(f"volo data pack: none of the {total} samples of {', '.join(specs)} could be read "
                        f"(first: {report.bad[0].reason if report.bad else 'none listed'})")
    formats = {json.dumps(c.get("data_format")) for c in configs}
    assert len(formats) == 1, f"parts disagree on the item format: {formats}"
    report.samples = sum(int(c["chunk_size"]) for c in chunks)
    report.chunks = len(chunks)
    report.bytes = sum((out / c["filename"]).stat().st_size for c in chunks)
    atomic_write_bytes(out / INDEX_FILE, json.dumps({"chunks": chunks, "config": configs[0]}, sort_keys=True).encode())
    manifest = {
        "format": PACK_FORMAT,
        "volo_version": volo_adapt.__version__,
        "sources": specs,
        "samples": report.samples,
        "chunks": report.chunks,
        "bytes": report.bytes,
        "depth_scale": depth_scale,
        "shard_size": shard_size,
        "bad": [b.__dict__ for b in report.bad],
    }
    atomic_write_bytes(out / MANIFEST_FILE, json.dumps(manifest, indent=1).encode())
    shutil.rmtree(out / STATE_DIR, ignore_errors=True)
