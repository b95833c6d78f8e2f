"""Forward + backward time and peak memory of every registered generator (optionally critics), one training step.

Each network runs in its own spawned child process so that its peak resident memory (``ru_maxrss``) is its own.
The child builds the network, runs one warm-up step, then ``--repeats`` timed steps (forward, ``sum`` loss,
backward, ``zero_grad``) on a random ``(batch, channels, size, size)`` input in [0, 1] and reports the median.

Usage::

    .venv/bin/python benchmarks/bench_models.py --size 256 --base 64 --repeats 3
    .venv/bin/python benchmarks/bench_models.py --size 128 --bf16 --channels-last --critics --json out.json

Timings on shared machines vary 2x with other load: compare variants from one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import sys
import time
from pathlib import Path


def _child(kind: str, name: str, args: dict, queue) -> None:  # runs in a fresh process
    import torch

    from volo_adapt.models import count_parameters, create_critic, create_generator

    torch.manual_seed(0)
    if args["threads"]:
        torch.set_num_threads(args["threads"])
    if kind == "generator":
        net = create_generator(name, args["channels"], args["channels"], base=args["base"])
    else:
        net = create_critic(name, args["channels"], base=args["base"])
    fmt = torch.channels_last if args["channels_last"] else torch.contiguous_format
    net = net.to(memory_format=fmt).train()
    x = torch.rand(args["batch"], args["channels"], args["size"], args["size"]).to(memory_format=fmt)

    def step() -> float:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args["bf16"]):
            out = net(x)
            outs = out if isinstance(out, list) else [out]
            loss = sum(o.float().mean() for o in outs)
        loss.backward()
        net.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    try:
        step()  # warm-up (allocator, oneDNN kernels)
        times = [step() for _ in range(args["repeats"])]
    except (ValueError, RuntimeError) as e:  # e.g. a size the network refuses, or out of memory
        queue.put({"kind": kind, "name": name, "error": str(e).splitlines()[0]})
        return
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    queue.put(
        {
            "kind": kind,
            "name": name,
            "params": count_parameters(net),
            "median_s": statistics.median(times),
            "times_s": times,
            "peak_rss_gib": rss_kib / 2**20,
        }
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="square input side in pixels (default 256)")
    p.add_argument("--base", type=int, default=64, help="base width of every network (default 64)")
    p.add_argument("--repeats", type=int, default=3, help="timed steps per network; the median is reported")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--channels", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    p.add_argument("--bf16", action="store_true", help="run under torch.autocast(cpu, bfloat16)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    p.add_argument("--critics", action="store_true", help="also benchmark the critics")
    p.add_argument("--only", nargs="*", default=None, help="restrict to these registry names")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    a = p.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from volo_adapt.models import list_critics, list_generators

    jobs = [("generator", n) for n in list_generators()]
    if a.critics:
        jobs += [("critic", n) for n in list_critics()]
    if a.only:
        jobs = [j for j in jobs if j[1] in a.only]
    cfg = {k: getattr(a, k) for k in ("size", "base", "repeats", "batch", "channels", "threads", "bf16")}
    cfg["channels_last"] = a.channels_last
    ctx = mp.get_context("spawn")
    results = []
    print(
        f"# {platform.processor() or platform.machine()}, size {a.size}, batch {a.batch}, base {a.base}, "
        f"bf16 {a.bf16}, channels_last {a.channels_last}, median of {a.repeats}"
    )
    print(f"{'network':<20} {'params':>12} {'fwd+bwd s':>10} {'peak RSS GiB':>13}")
    for kind, name in jobs:
        q = ctx.Queue()
        proc = ctx.Process(target=_child, args=(kind, name, cfg, q))
        proc.start()
        proc.join()
        if proc.exitcode != 0 or q.empty():
            print(f"{kind}:{name:<12} failed (exit code {proc.exitcode})")
            continue
        r = q.get()
        if "error" in r:
            print(f"{kind[0].upper()}:{name:<18} skipped: {r['error']}")
            continue
        results.append(r)
        print(f"{kind[0].upper()}:{name:<18} {r['params']:>12,} {r['median_s']:>10.3f} {r['peak_rss_gib']:>13.2f}")
    if a.json:
        from volo_adapt.atomic import atomic_write_bytes

        atomic_write_bytes(a.json, json.dumps({"config": cfg, "results": results}, indent=2).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
