"""Translate throughput (images/s) and peak memory of the generators: plain eager fp32 against the tuned path.

Variants, all on the same random-weight generator (speed does not depend on the weights; **random weights, not a
trained model**), on a random ``(batch, 4, size, size)`` input in [0, 1]:

* ``eager_fp32``: what a plain PyTorch loop does: ``module(x)`` under ``torch.no_grad()``, NCHW, PyTorch's default
  flags (on CUDA that means TF32 convolutions);
* ``exact_fp32``: :func:`volo_adapt.inference.translate_tensors` with ``--precision 32``: ``inference_mode``, TF32 off;
* ``tf32`` (CUDA only): ``translate_tensors`` with ``--precision tf32``;
* ``bf16``: ``translate_tensors`` under bf16 autocast (``--precision bf16``), NCHW;
* ``bf16_cl``: the same with the module and input in channels-last memory format;
* ``compiled_bf16`` (``--compile``): ``torch.compile`` of the module, then as ``bf16`` (``volo translate --compile``).

Timing: every variant is warmed up, then the variants run **alternating** in one process (``r1: A B C, r2: A B C,
...``) so that changing load on a shared machine hits them alike; the median per variant is reported.
Memory: CUDA: ``torch.cuda.max_memory_allocated`` around one call (in process). CPU: each (model, variant) runs
once more in its own spawned child process (first call: no warm-up), reporting its peak resident set growth over
the call (the kernel's high-water mark ``VmHWM``, reset just before the call, minus the RSS before), so model
weights and the input are excluded.
The output difference of each variant against ``eager_fp32`` is reported too (max |delta| of the depth channel in
encoded units; multiply by ``(far - near) / (1 - gap)`` for metres: 5.0 m range -> x 5.0).

Usage::

    .venv/bin/python benchmarks/bench_translate.py --size 512 --repeats 5 --batch-size 1 --device cpu
    python3 benchmarks/bench_translate.py --size 512 --repeats 20 --batch-size 8 --device cuda --compile
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))



def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak_rss() -> bool:
    """Reset the kernel's resident-set high-water mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _loaded(name: str, base: int, device: str, channels_last: bool):
    """A LoadedGenerator around a random-weight registry generator (default config otherwise)."""
    import torch

    from volo_adapt.build import build_codec, build_generator
    from volo_adapt.config import load_config
    from volo_adapt.inference.loading import LoadedGenerator

    cfg = load_config(None, [f"model.generator={name}", f"model.gen_base={base}"])
    torch.manual_seed(0)
    module = build_generator(cfg.model, cfg.data).eval().requires_grad_(False).to(device)
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return LoadedGenerator(
        module=module,
        codec=build_codec(cfg.data),
        config=cfg,
        direction="a2b",
        size_multiple=int(module.size_multiple),
        source=Path("<random weights>"),
    )


def _hw(size: str) -> tuple[int, int]:
    """``"512"`` -> (512, 512); ``"1440x1920"`` -> (1440, 1920) (H x W)."""
    h, _, w = str(size).lower().partition("x")
    return int(h), int(w or h)


def _callers(name: str, args: argparse.Namespace) -> dict:
    """variant -> zero-argument function running one batch and returning its output (synchronised)."""
    import torch
    import torch.nn.functional as F

    from volo_adapt.inference.engine import padded_size, translate_tensors

    dev = torch.device(args.device)
    plain = _loaded(name, args.base, args.device, channels_last=False)
    tuned = _loaded(name, args.base, args.device, channels_last=True)  # same weights, channels-last
    tuned.module.load_state_dict(plain.module.state_dict())
    h, w = _hw(args.size)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(args.batch_size, 4, h, w, generator=g).to(dev)
    hp, wp = padded_size(h, w, plain.size_multiple, plain.requires_square, plain.min_size)

    def sync(y):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return y

    def eager():  # the same zero padding as translate_tensors, by hand (none for square multiples like 512)
        with torch.no_grad():
            xp = F.pad(x, (0, wp - w, 0, hp - h)) if (hp, wp) != (h, w) else x
            return sync(plain.module(xp)[..., :h, :w])

    def tb(loaded, precision, cl):
        return lambda: sync(translate_tensors(loaded, x, precision=precision, channels_last=cl))

    calls = {"eager_fp32": eager, "exact_fp32": tb(plain, "32", False)}
    if dev.type == "cuda":
        calls["tf32"] = tb(plain, "tf32", False)
    calls["bf16"] = tb(plain, "bf16", False)
    calls["bf16_cl"] = tb(tuned, "bf16", True)
    if args.compile:
        compiled = _loaded(name, args.base, args.device, channels_last=False)
        compiled.module.load_state_dict(plain.module.state_dict())
        compiled.module = torch.compile(compiled.module)
        calls["compiled_bf16"] = tb(compiled, "bf16", False)
    return calls


def _memory_child(name: str, variant: str, args: dict, queue) -> None:  # runs in a fresh process
    import torch

    if args["threads"]:
        torch.set_num_threads(args["threads"])
    ns = argparse.Namespace(**args)
    calls = _callers(name, ns)
    reset = _reset_peak_rss()  # else ru_maxrss may be the peak of building the model, not of the call
    before = _status_kib("VmRSS")
    try:
        calls[variant]()
    except RuntimeError as e:
        queue.put({"error": str(e).splitlines()[0]})
        return
    peak = _status_kib("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"peak_growth_gib": max(0, peak - before) / 2**20})


def _cuda_peak_gib(call) -> float:
    import torch

    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    call()
    return (torch.cuda.max_memory_allocated() - base) / 2**30


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="512", help="input side, or HxW such as 1440x1920 (default 512)")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds; medians are reported (default 5)")
    p.add_argument("--batch-size", type=int, default=1, help="images per call (default 1)")
    p.add_argument("--device", default="cpu", help="cpu | cuda (default cpu)")
    p.add_argument("--models", nargs="*", default=["vologan", "resnet9"], help="registry generators to run")
    p.add_argument("--base", type=int, default=64, help="generator base width (default 64, the real size)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (compile time excluded)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    p.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    print(
        f"# {where}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, size {args.size}, "
        f"batch {args.batch_size}, median of {args.repeats} alternating rounds, random weights"
    )
    results = []
    for name in args.models:
        calls = _callers(name, args)
        t0 = time.perf_counter()
        outputs = {v: c().float().cpu() for v, c in calls.items()}  # warm-up (and compile), reference outputs
        warm_s = time.perf_counter() - t0
        times: dict[str, list[float]] = {v: [] for v in calls}
        for _ in range(args.repeats):
            for v, c in calls.items():
                t = time.perf_counter()
                c()
                times[v].append(time.perf_counter() - t)
        mem: dict[str, float | str] = {}
        if not args.no_memory:
            if dev.type == "cuda":
                mem = {v: _cuda_peak_gib(c) for v, c in calls.items()}
            else:
                ctx = mp.get_context("spawn")
                for v in calls:
                    q = ctx.Queue()
                    proc = ctx.Process(target=_memory_child, args=(name, v, vars(args), q))
                    proc.start()
                    proc.join()
                    r = q.get() if not q.empty() else {"error": f"exit code {proc.exitcode}"}
                    mem[v] = r.get("peak_growth_gib", r.get("error", "?"))
        del calls
        base_med = statistics.median(times["eager_fp32"])
        print(f"\n{name} (warm-up incl. compile {warm_s:.1f} s)")
        print(f"{'variant':<15} {'median s':>9} {'img/s':>8} {'speed-up':>9} {'peak mem GiB':>13} {'max|dD| enc':>12}")
        for v, ts in times.items():
            med = statistics.median(ts)
            diff = float((outputs[v][:, 3] - outputs["eager_fp32"][:, 3]).abs().max())
            m = mem.get(v, float("nan"))
            m_txt = f"{m:>13.2f}" if isinstance(m, float) else f"{str(m)[:13]:>13}"
            print(f"{v:<15} {med:>9.3f} {args.batch_size / med:>8.2f} {base_med / med:>8.2f}x {m_txt} {diff:>12.2e}")
            results.append({"model": name, "variant": v, "median_s": med, "times_s": ts,
                            "images_per_s": args.batch_size / med, "speedup": base_med / med,
                            "peak_mem_gib": m, "max_abs_depth_diff_encoded": diff})
    if args.json:
        from volo_adapt.atomic import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps({"args": vars(args) | {"json": str(args.json)},
                                                  "results": results}, indent=2).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
