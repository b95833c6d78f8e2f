"""Throughput of the synthetic benchmark generator (samples/s) at 128 and 512 px.

Issue targets (on 2 CPU cores): at least 20 samples/s at 128x128 and 2 samples/s at 512x512.

What one "sample" is, per variant:

* ``render+A``: draw a scene, ray-cast it, shade it (sensor A): one A-domain sample in memory;
* ``render+B``: the same through sensor B (LiDAR depth + phone colour with JPEG): one B-domain sample in memory;
* ``write``: :func:`volo_adapt.synth.dataset_writer.write_synth_dataset` end to end (render, sensors, 8-bit colour and
  16-bit depth PNGs written atomically with fsync, manifest), per scene written.

Timing: each variant is warmed up, then the variants run alternating in one process (r1: A B C, r2: A B C, ...) so
that changing load on a shared machine hits them alike; the median wall time per sample is reported, together
with the median CPU time per sample of this process (``time.process_time``, all threads) and the load average
(a busy shared machine inflates wall time; CPU time is the intrinsic cost).

Usage::

    .venv/bin/python benchmarks/bench_synth.py --threads 1 2 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {128: 20.0, 512: 2.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op thread counts to compare")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--samples", type=int, default=0, help="samples per timed call (default: 32 at 128, 4 at 512)")
    ap.add_argument("--json", type=Path, default=None, help="append one JSON line per (size, variant) here")
    args = ap.parse_args()

    import torch

    from volo_adapt.synth.dataset_writer import default_batch_size, write_synth_dataset
    from volo_adapt.synth.pipeline import synthesize

    rows = []
    counter = {"k": 0}  # a fresh seed per call: no caching effects
    for size, threads in [(s, t) for s in args.sizes for t in args.threads]:
        torch.set_num_threads(threads)
        n = args.samples or (32 if size <= 128 else 4)
        bs = default_batch_size(size)

        def run_sensor(sensors: str, size: int = size, n: int = n, bs: int = bs, counter: dict = counter) -> None:
            counter["k"] += 1
            with torch.inference_mode():
                for start in range(0, n, bs):
                    synthesize(counter["k"], "bench", list(range(start, min(n, start + bs))), size, sensors)

        def run_write(size: int = size, n: int = n, counter: dict = counter, threads: int = threads) -> None:
            counter["k"] += 1
            tmp = Path(tempfile.mkdtemp(prefix="bench_synth_"))
            try:  # n scenes: split over A/train, B/train (n_test = 0)
                write_synth_dataset(tmp / "set", n_train=n // 2, n_test=0, size=size, seed=counter["k"],
                                    threads=threads)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)

        variants = {"render+A": lambda: run_sensor("A"), "render+B": lambda: run_sensor("B"), "write": run_write}
        for fn in variants.values():  # warm-up
            fn()
        wall = {k: [] for k in variants}
        cpu = {k: [] for k in variants}
        load0 = os.getloadavg()[0]
        for _ in range(args.repeats):
            for name, fn in variants.items():
                t0, c0 = time.perf_counter(), time.process_time()
                fn()
                per = n // 2 * 2 if name == "write" else n
                wall[name].append((time.perf_counter() - t0) / per)
                cpu[name].append((time.process_time() - c0) / per)
        load1 = os.getloadavg()[0]
        for name in variants:
            w, c = statistics.median(wall[name]), statistics.median(cpu[name])
            row = {"size": size, "variant": name, "samples_per_s": 1.0 / w, "wall_ms_per_sample": 1000 * w,
                   "cpu_ms_per_sample": 1000 * c, "threads": threads, "repeats": args.repeats,
                   "samples_per_call": n, "batch_size": bs, "target_samples_per_s": TARGETS.get(size),
                   "loadavg_1min": [round(load0, 2), round(load1, 2)], "cpu_count": os.cpu_count(),
                   "machine": platform.processor() or platform.machine(), "torch": torch.__version__}
            rows.append(row)
    head = ("size", "thr", "variant", "samples/s", "wall ms", "cpu ms", "target")
    print("{:>5} {:>3} {:>9} {:>10} {:>9} {:>8} {:>7}  load(1m)".format(*head))
    for r in rows:
        tgt = r["target_samples_per_s"]
        print(f"{r['size']:>5} {r['threads']:>3} {r['variant']:>9} {r['samples_per_s']:>10.1f} "
              f"{r['wall_ms_per_sample']:>9.1f} {r['cpu_ms_per_sample']:>8.1f} "
              f"{tgt if tgt else '-':>7}  {r['loadavg_1min']}")
    if args.json:
        with open(args.json, "a") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
