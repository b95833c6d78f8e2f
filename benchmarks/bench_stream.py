"""Throughput of one domain's training loader: packed litdata shards against the loose PNG files they came from.

Writes ``--count`` synthetic RGB-D samples (8-bit PNG colour, 16-bit PNG depth in mm, smooth surfaces with
noise and holes, so that PNG and zstd compress them as they would real renders), packs them with
``volo data pack``'s library function, then times full passes of each domain-A training loader (shuffled, random
square crops, encoded for the network) as ``samples/s``, with the loader reading in this process
(``--workers 0``, one process) and in 2 worker processes. Variants alternate and each figure is the median of
``--repeats`` passes (this machine is shared: see ECOSYSTEM.md).

    .venv/bin/python benchmarks/bench_stream.py --size 512 --count 48 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from volo_adapt.data.datamodule import UnpairedRGBDDataModule
from volo_adapt.data.formats import write_depth, write_rgb
from volo_adapt.data.pack_writer import pack_sources
from volo_adapt.data.sample import DepthCodec


def write_samples(root: Path, count: int, size: int) -> None:
    """``count`` render-like samples: smooth colour and depth (0.5-4.5 m) with sensor noise and a hole."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for i in range(count):
        phase = rng.uniform(0, 6.28, 3).astype(np.float32)
        rgb = np.stack([0.5 + 0.4 * np.sin(6 * xx + 3 * yy + p) for p in phase]) + rng.normal(0, 0.02, (3, size, size))
        depth = 0.5 + 4 * (0.5 + 0.5 * np.sin(3 * xx + phase[0]) * np.cos(2 * yy)) + rng.normal(0, 0.003, (size, size))
        depth[size // 3: size // 2, size // 4: size // 3] = 0.0
        write_rgb(root / "rgb" / f"{i:05d}.png", torch.from_numpy(np.clip(rgb, 0, 1).astype(np.float32)))
        write_depth(root / "depth" / f"{i:05d}.png", torch.from_numpy(depth.astype(np.float32))[None])


def folder_bytes(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def one_pass(kind: str, spec: str, size: int, workers: int) -> float:
    """Samples per second of one full pass of domain A's training loader (setup and worker start excluded)."""
    from volo_adapt.data.stream_datamodule import StreamingRGBDDataModule

    cls = StreamingRGBDDataModule if kind == "packed" else UnpairedRGBDDataModule
    dm = cls([spec], [spec], codec=DepthCodec(), image_size=size, batch_size=4, num_workers=workers,
             val_fraction=0.0, validate=False)
    dm.setup("fit")
    loader = dm.train_dataloader()
    loader = loader.loaders["A"] if hasattr(loader, "loaders") else loader.iterables["A"]
    it = iter(loader)
    first = next(it)  # workers started, first chunk read
    n = 0
    t0 = time.perf_counter()
    for batch in it:
        n += int(batch["image"].shape[0])
    dt = time.perf_counter() - t0
    del first
    return n / dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512, help="image side in pixels (and the training crop)")
    ap.add_argument("--count", type=int, default=48, help="samples in the domain")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="loader worker processes to compare")
    ap.add_argument("--shard-size", default="8MB", help="pack shard size (several shards, so 2 workers can share)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="volo_bench_stream_") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        write_samples(root / "loose", args.count, args.size)
        print(f"wrote {args.count} samples {args.size}x{args.size} in {time.perf_counter() - t0:.1f} s")
        report = pack_sources([str(root / "loose")], root / "packed", shard_size=args.shard_size)
        print(f"pack: {report.samples} samples in {report.seconds:.1f} s ({report.samples / report.seconds:.1f}/s), "
              f"{report.chunks} shards; loose {folder_bytes(root / 'loose') / 1e6:.1f} MB, "
              f"packed {report.bytes / 1e6:.1f} MB")
        variants = [(kind, w) for w in args.workers for kind in ("loose", "packed")]
        rates: dict[tuple[str, int], list[float]] = {v: [] for v in variants}
        for _ in range(args.repeats):
            for kind, w in variants:  # alternate the variants inside each repeat
                rates[(kind, w)].append(one_pass(kind, str(root / kind), args.size, w))
        print(f"\n| source | loader processes | samples/s (median of {args.repeats}) |")
        print("| --- | --- | --- |")
        for (kind, w), r in rates.items():
            print(f"| {kind} | {max(w, 1)}{' (in-process)' if w == 0 else ' workers'} | {statistics.median(r):.1f} |")


if __name__ == "__main__":
    main()
