"""The performance runner (``make bench``): training step, memory, FLOPs and translate speed, side by side.

For each preset (``vologan``, ``cyclegan``, the sensor-aware quality preset), image size and batch size, in one
process, with the variants of a group **alternating** step by step (so a change of machine load hits them alike):

* **training step**: the preset's own ``VoloGANModule.training_step`` run by a Lightning ``Trainer`` (manual
  optimisation, both optimisers, the precision plugin; ``step_harness.py``), random RGB-D batches shaped like the
  DataModule's. Variants: ``eager_fp32`` (fp32, one-parameter-at-a-time optimisers, spectral norm recomputed per
  call, NCHW: the plain step), ``tuned`` (the defaults of ``train.*``/``optim.*`` with ``train.precision=auto``:
  bf16-mixed only where the hardware computes bf16, fused optimisers, spectral-norm weights once per step, one
  batched call per network for a critic's real and fake images, the generator loss back-propagated in three
  independent parts, ``train.split_backward``), ``one_backward`` (``tuned`` with one backward of the whole
  generator loss and batched generator calls: what ``split_backward`` saves),
  ``tuned_ckpt`` (``tuned`` plus activation checkpointing), optionally ``channels_last``, ``bf16`` and
  ``compiled``; for ``cyclegan`` also ``classic``, the CycleGAN training step written from the paper
  (``classic_cyclegan.py``) with the same networks.
* **per step**: median wall seconds over the timed steps (after one untimed warm-up step that also counts the
  FLOPs with ``torch.utils.flop_counter.FlopCounterMode``: forward, backward and recomputation); the step's
  achieved FLOP/s and its fraction of the machine's peak for the step's dtype, measured in this process by a
  3x3-conv and a matmul probe (``benchkit.probe_calls``; the larger of the two is the peak), run before the first
  group and again after every group: the peak is the best reading of the run.
* **peak memory** (``benchkit.PeakMemory``): ``peak GiB`` = the process's memory before any network (CPU: its
  RSS; CUDA: 0) + the variant's persistent tensors (weights, EMA copies, image pools, optimiser states) + the
  largest growth over one timed step (CPU: resident-set high-water mark; CUDA: ``max_memory_allocated``).
  An estimate of what a process training only that variant would peak at.
* **translate**: images/s of the preset's generator (random weights) through ``volo translate``'s engine in the
  modes of ``translate_harness.py``, and the encoded-depth difference of each mode to eager fp32 in millimetres
  (99.9th percentile and maximum over the pixels valid in both; ``bf16`` rows give the bf16-vs-fp32 figure; on a
  device without native bf16 they are untimed and computed at the run's smallest size only).
  For a ``tuned`` training variant in bf16 the table gives the same figure for its ``gen_a2b``.

Groups whose predicted peak (scaled from a smaller run of the same variant) exceeds 90 % of the available memory
are skipped and listed as such. Results: ``OUT/perf.json`` (every record, the machine, the probe) and
``OUT/perf.md`` (the tables).

    .venv/bin/python benchmarks/bench_perf.py                 # full: 128 and 512 px, batch 1 and 2 (GPU: 8)
    .venv/bin/python benchmarks/bench_perf.py --quick         # minutes on 2 cores: 64 px, 2 timed steps
    .venv/bin/python benchmarks/bench_perf.py --device cuda --variants eager_fp32 tuned compiled
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchkit import (  # noqa: E402
    GIB,
    PeakMemory,
    baseline_bytes,
    compute_dtype,
    fmt,
    machine,
    markdown_table,
    mem_available_gib,
    probe_calls,
    run_probe,
    timed,
)

ROOT = Path(__file__).resolve().parents[1]

TRAIN_VARIANTS: dict[str, list[str]] = {
    "default": [],  # the preset as shipped: every `auto` switch resolved as `volo train` resolves it
    "eager_fp32": ["train.precision=32-true", "optim.implementation=for_loop", "train.cache_weights=false",
                   "train.batch_calls=false", "train.split_backward=false", "train.memory_format=contiguous",
                   "train.activation_checkpointing=false", "train.compile=false"],
    "tuned": ["train.precision=auto", "optim.implementation=auto", "train.cache_weights=true",
              "train.memory_format=auto", "train.activation_checkpointing=false", "train.compile=false",
              "train.split_backward=true", "train.batch_calls=true"],
    "one_backward": ["train.precision=auto", "optim.implementation=auto", "train.cache_weights=true",
                     "train.memory_format=auto", "train.activation_checkpointing=false", "train.compile=false",
                     "train.split_backward=false", "train.batch_calls=true"],
    "one_backward_unbatched": ["train.precision=auto", "optim.implementation=auto", "train.cache_weights=true",
                               "train.memory_format=auto", "train.activation_checkpointing=false",
                               "train.compile=false", "train.split_backward=false", "train.batch_calls=false"],
    "tuned_ckpt": ["train.precision=auto", "optim.implementation=auto", "train.cache_weights=true",
                   "train.memory_format=auto", "train.activation_checkpointing=true", "train.compile=false",
                   "train.split_backward=true", "train.batch_calls=true"],
    "channels_last": ["train.precision=auto", "optim.implementation=auto", "train.cache_weights=true",
                      "train.memory_format=channels_last", "train.activation_checkpointing=false",
                      "train.compile=false",
                      "train.split_backward=true", "train.batch_calls=true"],
    "bf16": ["train.precision=bf16-mixed", "optim.implementation=auto", "train.cache_weights=true",
             "train.memory_format=auto", "train.activation_checkpointing=false", "train.compile=false",
             "train.split_backward=true", "train.batch_calls=true"],
    "compiled": ["train.precision=auto", "optim.implementation=auto", "train.cache_weights=true",
                 "train.memory_format=auto", "train.activation_checkpointing=false", "train.compile=true",
                 "train.split_backward=true", "train.batch_calls=true"],
}
"""Training variants: ``--set`` overrides on top of the preset (the preset's own losses, networks, optimisers)."""

DEFAULT_PRESETS = ["vologan", "cyclegan", "sensor"]
QUICK_PRESETS = ["vologan", "cyclegan", "demo"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="64 px, batch 1 and 2, 2 timed steps, the demo-size sensor "
                   "preset, small probe: a few minutes on 2 cores")
    p.add_argument("--presets", nargs="+", help=f"presets (default {' '.join(DEFAULT_PRESETS)}; "
                   f"--quick: {' '.join(QUICK_PRESETS)})")
    p.add_argument("--sizes", nargs="+", type=int, help="image sides in px (default 128 512; --quick: 64)")
    p.add_argument("--batches", nargs="+", type=int, help="batch sizes (default 1 2 on CPU, 1 8 on CUDA)")
    p.add_argument("--steps", type=int, help="timed steps per variant (default 3; --quick: 2)")
    p.add_argument("--variants", nargs="+", choices=list(TRAIN_VARIANTS),
                   help="training variants (default eager_fp32 default tuned one_backward tuned_ckpt; --quick: "
                   "eager_fp32 "
                   "tuned)")
    p.add_argument("--no-classic", action="store_true", help="leave out the classic CycleGAN step")
    p.add_argument("--no-train", action="store_true", help="translate only")
    p.add_argument("--no-translate", action="store_true", help="training step only")
    p.add_argument("--compile", action="store_true", help="also time a torch.compile'd translate (minutes on CPU)")
    p.add_argument("--profile", action="store_true", help="after the timed steps, one more step of each training "
                   "variant under torch.profiler: OUT/profile/PRESET_SIZE_bBATCH_VARIANT.txt (top ops by self time)")
    p.add_argument("--precision", help="train.precision of every variant but eager_fp32 and bf16 (e.g. 32-true: the "
                   "fp32 table on a machine whose auto precision is bf16-mixed; default: each variant's own)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "perf")
    a = p.parse_args(argv)
    cuda = a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available())
    a.device = "cuda" if cuda else "cpu"
    a.presets = a.presets or (QUICK_PRESETS if a.quick else DEFAULT_PRESETS)
    a.sizes = a.sizes or ([64] if a.quick else [128, 512])
    a.batches = a.batches or ([1, 2] if a.quick or not cuda else [1, 8])
    a.steps = a.steps or (2 if a.quick else 3)
    full = ["eager_fp32", "default", "tuned", "one_backward", "tuned_ckpt"]
    a.variants = a.variants or (["eager_fp32", "tuned"] if a.quick else full)
    return a


# ---------------------------------------------------------------------------------------------- training steps

def make_variant(preset: str, name: str, size: int, batch: int, device: str, precision: str | None = None):
    from step_harness import ClassicVariant, ModuleVariant

    if name == "classic":
        return ClassicVariant(size, batch, device)
    return ModuleVariant(preset, TRAIN_VARIANTS[name] + precision_sets(name, precision), size, batch, device)


def precision_sets(variant: str, precision: str | None) -> list[str]:
    """``--precision``'s override for ``variant``: every variant but ``eager_fp32`` (the fp32 reference) and
    ``bf16`` (bf16 by definition) runs at ``precision`` when one is given."""
    return [f"train.precision={precision}"] if precision and variant not in ("eager_fp32", "bf16") else []


def predicted_peak(history: dict, key: tuple[str, str], size: int, batch: int) -> float | None:
    """Bytes a variant should need at ``size``/``batch``: its persistent bytes plus a step's growth predicted from
    its measured runs (``(size, batch, persistent, growth)`` tuples in ``history[key]``).

    With runs at two or more pixel counts (pixels x batch), the growth is the straight line through the two largest
    (a fixed part, e.g. buffers at a fixed resolution, plus a part per pixel; neither below 0); with one run, it
    scales in proportion to the pixel count (an over-estimate when part of the growth is fixed). ``None`` without
    a run."""
    runs = sorted(history.get(key, []), key=lambda r: r[0] ** 2 * r[1])
    if not runs:
        return None
    n = size * size * batch
    s, b, persistent, growth = runs[-1]
    n1 = s * s * b
    smaller = [r for r in runs if r[0] ** 2 * r[1] < n1]
    if not smaller:
        return persistent * 1.0 + growth * n / n1
    n0, growth0 = smaller[-1][0] ** 2 * smaller[-1][1], smaller[-1][3]
    per_pixel = max(0.0, (growth - growth0) / (n1 - n0))
    fixed = max(0.0, growth - per_pixel * n1)
    return persistent * 1.0 + fixed + per_pixel * n


def depth_error_bf16(variant, x: torch.Tensor) -> dict[str, float] | None:
    """For a bf16 training variant: its ``gen_a2b``'s encoded-depth difference, bf16 autocast against fp32, mm."""
    from translate_harness import loaded_from_module

    if getattr(variant, "dtype", "fp32") != "bf16":
        return None
    from volo_adapt.inference.engine import depth_difference, translate_tensors

    gen = variant.module.gen_a2b
    was_training = gen.training
    loaded = loaded_from_module(gen.eval(), variant.cfg)
    seeds = list(range(x.shape[0]))
    ref = translate_tensors(loaded, x, precision="32", seeds=seeds)
    out = translate_tensors(loaded, x, precision="bf16", seeds=seeds)
    gen.train(was_training)
    return depth_difference(out, ref, loaded.codec)


def train_group(preset: str, size: int, batch: int, args, peak_probe: dict, base_bytes: int, history: dict,
                log) -> list[dict[str, Any]]:
    """All variants of one (preset, size, batch), alternating step by step; one record per variant."""
    from step_harness import random_batches

    from volo_adapt.config import load_config

    names = sorted(args.variants, key=lambda n: n == "compiled")  # after tuned, whose FLOP count it reuses
    if preset == "cyclegan" and not args.no_classic:
        names.append("classic")
    avail = mem_available_gib() * GIB
    rows, variants = [], {}
    kept = 0.0  # persistent bytes of the variants already made: they stay in memory while the others step
    for name in names:
        pred = predicted_peak(history, (preset, name), size, batch)
        if pred is not None and base_bytes + kept + pred > 0.9 * avail:
            rows.append({"preset": preset, "variant": name, "size": size, "batch": batch,
                         "skipped": f"predicted {pred / GIB:.1f} GiB (+ {kept / GIB:.1f} GiB of the other variants) "
                                    f"> 90 % of {avail / GIB:.1f} GiB available"})
            continue
        variants[name] = make_variant(preset, name, size, batch, args.device, args.precision)
        kept += max((r[2] for r in history.get((preset, name), [])), default=0.0)
    if not variants:
        return rows
    gap = load_config(preset).data.depth_gap
    batches = random_batches(args.steps + 1, batch, size, gap, args.device, seed=size * 100 + batch)
    records: dict[str, list[dict]] = {n: [] for n in variants}
    flops: dict[str, float] = {}
    for n, v in variants.items():  # warm-up step: allocates the optimiser state, counts the FLOPs
        if n == "compiled":  # compiles here; the counter cannot see into compiled kernels: tuned's count (same work)
            v.run(batches[:1])
            flops[n] = flops.get("tuned", float("nan"))
        else:
            flops[n] = v.run(batches[:1], count_flops=True)[0].get("flops", float("nan"))
    order = list(variants)
    for i in range(args.steps):
        # rotate who goes first, so that whatever slows the start of a round (the previous variant's memory given
        # back, another process waking up) does not always hit the same variant
        for n in order[i % len(order):] + order[:i % len(order)]:
            records[n] += variants[n].run(batches[1 + i: 2 + i])
    for n, v in variants.items():
        s = statistics.median(r["wall_s"] for r in records[n])
        growth = max(r["growth_bytes"] for r in records[n])
        persistent = v.persistent_bytes()
        history.setdefault((preset, n), []).append((size, batch, persistent, growth))
        dtype = compute_dtype(v.precision, torch.device(args.device))
        peak_flops = dtype_peak(peak_probe, dtype)  # provisional: refresh_fractions() uses the run's final probe
        achieved = flops[n] / s
        derr = depth_error_bf16(v, batches[0]["A"])
        rows.append({
            "preset": preset, "variant": n, "size": size, "batch": batch, "precision": v.precision,
            "dtype": dtype, "s_per_step": s, "s_per_step_all": [r["wall_s"] for r in records[n]],
            "cpu_s_per_step": statistics.median(r["cpu_s"] for r in records[n]),
            "flops_per_step": flops[n], "achieved_flops": achieved, "peak_flops": peak_flops,
            "peak_fraction": achieved / peak_flops, "persistent_bytes": persistent, "growth_bytes": growth,
            "peak_bytes": base_bytes + persistent + growth, "depth_bf16_mm": derr,
        })
        log(f"  train {preset:9s} {size:4d}px b{batch} {n:11s} {s:8.3f} s/step  peak "
            f"{rows[-1]['peak_bytes'] / GIB:6.2f} GiB  {achieved / 1e9:8.2f} GFLOP/s "
            f"({100 * achieved / peak_flops:.0f} % of the {dtype} peak probed so far)")
    if args.profile:
        for n, v in variants.items():
            profile_step(v, batches[-1:], args.out / "profile" / f"{preset}_{size}_b{batch}_{n}.txt", log)
    del variants, batches
    gc.collect()
    if args.device == "cuda":
        torch.cuda.empty_cache()
    return rows


def dtype_peak(probe: dict[str, float], dtype: str) -> float:
    """The machine's peak FLOP/s for ``dtype``: the larger of its conv and matmul probes (NaN without either)."""
    return max((f for k, f in probe.items() if k.endswith("_" + dtype)), default=float("nan"))


def refresh_fractions(result: dict[str, Any]) -> None:
    """Recompute every training row's ``peak_flops``/``peak_fraction`` from ``result["probe"]`` (the best of all
    probes of the run so far)."""
    for r in result["train"]:
        if "skipped" not in r:
            r["peak_flops"] = dtype_peak(result["probe"], r["dtype"])
            r["peak_fraction"] = r["achieved_flops"] / r["peak_flops"]


def profile_step(variant, batches: list[dict], path: Path, log) -> None:
    """One untimed step of ``variant`` under ``torch.profiler`` (CPU, and CUDA kernels on a GPU): the operators
    sorted by their own time, where a step's time goes that the FLOP count does not show."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if torch.cuda.is_available() else [])
    with profile(activities=activities, record_shapes=False) as prof:
        variant.run(batches)
    key = "self_cuda_time_total" if torch.cuda.is_available() else "self_cpu_time_total"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(prof.key_averages().table(sort_by=key, row_limit=30) + "\n")
    log(f"  profile -> {path}")


# ---------------------------------------------------------------------------------------------- translate

def translate_group(preset: str, size: int, batch: int, args, log) -> list[dict[str, Any]]:
    """The translate modes of one (preset, size, batch), alternating; one record per mode."""
    from step_harness import random_batches
    from translate_harness import translate_calls

    from volo_adapt.config import load_config
    from volo_adapt.hardware import fast_bf16
    from volo_adapt.inference.engine import depth_difference

    gap = load_config(preset).data.depth_gap
    x = random_batches(1, batch, size, gap, args.device, seed=7)[0]["A"]
    # emulated bf16 (a CPU without AVX-512 BF16/AMX) is never timed; its depth figure is computed at the run's
    # smallest size only (one emulated call of a 512 px generator takes minutes and says nothing new)
    emulated = not fast_bf16(torch.device(args.device))
    modes = ["auto"] + (["bf16"] if not emulated or size == min(args.sizes) else [])
    modes += ["compiled"] if args.compile else []
    calls, loaded = translate_calls(preset, size, batch, args.device, modes, x)
    device = torch.device(args.device)
    outputs = {n: c() for n, c in calls.items()}  # warm-up (and compile) call; also the outputs compared
    # emulated bf16 is 10-50x slower than fp32 and never chosen by auto: depth figure only
    untimed = {n for n in calls if n == "bf16" and emulated}
    times: dict[str, list[float]] = {n: [] if n not in untimed else [float("nan")] for n in calls}
    growth: dict[str, float] = {n: 0.0 if n not in untimed else float("nan") for n in calls}
    pm = PeakMemory(device)
    for _ in range(args.steps):
        for n, c in calls.items():
            if n in untimed:
                continue
            pm.start()
            times[n].append(timed(c, device)[0])
            growth[n] = max(growth[n], pm.stop())
    ref = outputs["eager_fp32"]
    base = statistics.median(times["eager_fp32"])
    rows = []
    for n in calls:
        s = statistics.median(times[n])
        d = depth_difference(outputs[n], ref, loaded.codec)
        rows.append({"preset": preset, "mode": n, "size": size, "batch": batch, "s_per_batch": s,
                     "images_per_s": batch / s, "vs_eager": base / s, "growth_bytes": growth[n],
                     "depth_p999_mm": d["p999_mm"], "depth_max_mm": d["max_mm"], "flipped": d["flipped"]})
        log(f"  translate {preset:9s} {size:4d}px b{batch} {n:19s} {fmt(batch / s):>8s} img/s  {fmt(base / s):>5s}x"
            f"  depth p99.9 {d['p999_mm']:.2f} mm, max {d['max_mm']:.2f} mm")
    del calls, outputs, loaded
    gc.collect()
    return rows


# ---------------------------------------------------------------------------------------------- report

def gib(b: float | None) -> str:
    return "-" if b is None or b != b else f"{b / GIB:.2f}"


def tables(result: dict[str, Any]) -> str:
    m = result["machine"]
    out = [f"# Performance: {m['device']}", "",
           f"{m['time']}, torch {m['torch']}, {m['threads']} threads, load average at start "
           f"{', '.join(f'{x:.1f}' for x in m['load_average'] or [])}, native bf16: {m['fast_bf16']}. "
           f"Command: `{result['command']}`", "",
           f"Peak FLOP/s probe (best of {len(result.get('probes', [1]))} probes, one before the run and one after "
           "each group; `of peak` uses it): " + ", ".join(f"{k} {v / 1e9:.1f} G" for k, v in result["probe"].items()),
           ""]
    train = result["train"]
    if train:
        out += ["## Training step (the module's own training_step, both optimisers)", "",
                "`peak GiB`: process baseline + persistent tensors + largest growth in one step (see "
                "benchmarks/bench_perf.py). `vs eager`: eager_fp32's s/step over this row's; `vs classic` "
                "(cyclegan): the classic CycleGAN step's s/step over this row's (above 1.00x: faster than "
                "classic). `depth mm`: bf16 variants only, gen_a2b's encoded depth against fp32, p99.9 / max.", ""]
        rows = []
        for r in train:
            if "skipped" in r:
                rows.append([r["preset"], r["size"], r["batch"], r["variant"], "skipped: " + r["skipped"],
                             "", "", "", "", "", "", ""])
                continue
            eager = next((e for e in train if e.get("variant") == "eager_fp32" and "skipped" not in e
                          and (e["preset"], e["size"], e["batch"]) == (r["preset"], r["size"], r["batch"])), None)
            classic = next((e for e in train if e.get("variant") == "classic" and "skipped" not in e
                            and (e["preset"], e["size"], e["batch"]) == (r["preset"], r["size"], r["batch"])), None)
            d = r["depth_bf16_mm"]
            rows.append([r["preset"], r["size"], r["batch"], r["variant"], r["precision"], fmt(r["s_per_step"]),
                         f"{eager['s_per_step'] / r['s_per_step']:.2f}x" if eager else "-",
                         f"{classic['s_per_step'] / r['s_per_step']:.2f}x" if classic else "-", gib(r["peak_bytes"]),
                         fmt(r["flops_per_step"] / 1e9), f"{100 * r['peak_fraction']:.1f}%",
                         "-" if d is None else f"{d['p999_mm']:.2f} / {d['max_mm']:.2f}"])
        out += [markdown_table(["preset", "px", "batch", "variant", "precision", "s / step", "vs eager",
                                "vs classic", "peak GiB", "GFLOP / step", "of peak", "depth mm"], rows), ""]
    tr = result["translate"]
    if tr:
        out += ["## Translate (random-weight generators, volo translate's engine)", "",
                "`depth mm`: encoded depth against eager fp32, p99.9 / max over pixels valid in both. Untimed (`-`): "
                "bf16 on a device without native bf16 (emulated, many times slower than fp32, never chosen by auto).",
                ""]
        rows = [[r["preset"], r["size"], r["batch"], r["mode"], fmt(r["s_per_batch"]), fmt(r["images_per_s"]),
                 "-" if r["vs_eager"] != r["vs_eager"] else f"{r['vs_eager']:.2f}x", gib(r["growth_bytes"]),
                 f"{r['depth_p999_mm']:.2f} / {r['depth_max_mm']:.2f}"]
                for r in tr]
        out += [markdown_table(["preset", "px", "batch", "mode", "s / batch", "img / s", "vs eager", "growth GiB",
                                "depth mm"], rows), ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", flush=True)

    result: dict[str, Any] = {"command": " ".join(["benchmarks/bench_perf.py", *(argv or sys.argv[1:])]),
                              "machine": machine(device), "args": {k: str(v) for k, v in vars(args).items()},
                              "train": [], "translate": []}
    base = baseline_bytes(device)
    log(f"{result['machine']['device']}: probing peak FLOP/s")
    probes = probe_calls(device, args.quick)
    result["probe"] = run_probe(probes, device)
    result["probes"] = [result["probe"]]

    def reprobe() -> None:
        # the probe is repeated after every group and the peak is the best reading of the run: on a shared
        # (virtual) machine a single probe read anywhere between 80 and 150 GFLOP/s for the same conv
        now = run_probe(probes, device)
        result["probes"].append(now)
        result["probe"] = {k: max(v, now[k]) for k, v in result["probe"].items()}
        refresh_fractions(result)
        log("probe: " + ", ".join(f"{k} {v / 1e9:.1f}" for k, v in now.items()) + " GFLOP/s (best so far: "
            + ", ".join(f"{v / 1e9:.1f}" for v in result["probe"].values()) + ")")

    log("probe: " + ", ".join(f"{k} {v / 1e9:.1f} GFLOP/s" for k, v in result["probe"].items()))
    history: dict = {}
    args.out.mkdir(parents=True, exist_ok=True)
    for size in sorted(args.sizes):
        for batch in sorted(args.batches):
            for preset in args.presets:
                if not args.no_train:
                    result["train"] += train_group(preset, size, batch, args, result["probe"], base, history, log)
                if not args.no_translate:
                    result["translate"] += translate_group(preset, size, batch, args, log)
                reprobe()
                # after every group, so that a stopped run keeps the tables of the groups it finished
                (args.out / "perf.json").write_text(json.dumps(result, indent=1, default=str))
                (args.out / "perf.md").write_text(tables(result) + "\n")
    result["wall_s"] = time.perf_counter() - t0
    (args.out / "perf.json").write_text(json.dumps(result, indent=1, default=str))
    (args.out / "perf.md").write_text(tables(result) + "\n")
    log(f"wrote {args.out / 'perf.md'} and perf.json")
    print(tables(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
