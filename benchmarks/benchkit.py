"""Shared measuring tools of the benchmark runner: memory high-water marks, the machine's peak FLOP/s probe, the
machine's state, markdown tables.

Memory, CPU: the kernel's resident-set high-water mark (``VmHWM``) is reset to the current RSS through
``/proc/self/clear_refs`` just before a measured call and read just after it, so ``growth = VmHWM - RSS before`` is
that call's own peak (the process, other variants' weights included, is the baseline). CUDA: growth of
``torch.cuda.max_memory_allocated`` over the call (the caching allocator's reserve is not counted).
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import torch

GIB = 2**30


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` field in KiB (0 where there is none)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_available_gib() -> float:
    """``MemAvailable`` of ``/proc/meminfo`` in GiB (inf where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return float("inf")


def release_freed_heap() -> None:
    """Hand memory that freed tensors left in the C heap back to the kernel (glibc ``malloc_trim``; no-op elsewhere).

    glibc keeps freed blocks below its mmap threshold (which grows to 32 MB after large frees) in the process, so a
    call that follows another call (variants alternate in one process) reuses them without raising the resident
    set: measured growth was 0.00 GiB for a 512 px training step before this ran first.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim`` (looked up once: ``find_library`` runs ``ldconfig``), or None where there is none."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim
    except (OSError, AttributeError, TypeError):
        return None


class PeakMemory:
    """Measure one call's peak memory growth in bytes (see the module docstring). Usage::

        pm = PeakMemory(device); pm.start(); call(); growth = pm.stop()
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.before = 0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.before = torch.cuda.memory_allocated(self.device)
            return
        release_freed_heap()  # else a call reuses memory an earlier call freed and the growth reads as 0
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # VmHWM := VmRSS
        except OSError:
            pass
        self.before = status_kib("VmRSS") * 1024

    def stop(self) -> int:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return max(0, torch.cuda.max_memory_allocated(self.device) - self.before)
        return max(0, status_kib("VmHWM") * 1024 - self.before)


def baseline_bytes(device: torch.device) -> int:
    """What a process holds before any network: its RSS on CPU (torch runtime, data), 0 on CUDA."""
    return 0 if device.type == "cuda" else status_kib("VmRSS") * 1024


def tensor_bytes(tensors) -> int:
    """Bytes of distinct tensors (storage shared between views counted once)."""
    seen, total = set(), 0
    for t in tensors:
        if not isinstance(t, torch.Tensor):
            continue
        key = (t.untyped_storage().data_ptr(), t.device)
        if key in seen:
            continue
        seen.add(key)
        total += t.untyped_storage().nbytes()
    return total


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """``(wall s, process CPU s)`` of one call of ``fn`` (CUDA synchronised)."""
    sync(device)
    t, c = time.perf_counter(), time.process_time()
    fn()
    sync(device)
    return time.perf_counter() - t, time.process_time() - c


# ---------------------------------------------------------------------------------------------- peak FLOP/s probe

@contextlib.contextmanager
def tf32(enabled: bool):
    """CUDA's TF32 switches for convolutions and matmuls set to ``enabled`` inside, restored after."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def probe_calls(device: torch.device, quick: bool) -> dict[str, tuple[Callable[[], Any], float, str]]:
    """``name -> (call, flops per call, dtype)``: a 3x3 conv (256 channels, channels-last) and a square matmul, in
    fp32 (TF32 off), bf16 and, on CUDA, tf32 (fp32 tensors on TF32 tensor cores). The conv is the kind of work
    these networks do; the matmul is the usual peak reference. PyTorch's global TF32 flags are left as they were.

    On a CPU without native bf16 the bf16 probes are small (emulated bf16 is ~20x slower) and only show that.
    """
    from volo_adapt.hardware import fast_bf16

    gpu = device.type == "cuda"
    side, n, batch = (128, 8192, 8) if gpu else ((32, 512, 1) if quick else (64, 1024, 1))
    calls: dict[str, tuple[Callable[[], Any], float, str]] = {}
    kinds = [(torch.float32, "fp32"), (torch.bfloat16, "bf16")] + ([(torch.float32, "tf32")] if gpu else [])
    for dtype, tag in kinds:
        small = tag == "bf16" and not fast_bf16(device)
        s, m = (16, 256) if small else (side, n)
        conv = torch.nn.Conv2d(256, 256, 3, padding=1, bias=False).to(device, dtype, memory_format=torch.channels_last)
        x = torch.randn(batch, 256, s, s, device=device, dtype=dtype).contiguous(memory_format=torch.channels_last)
        a = torch.randn(m, m, device=device, dtype=dtype)
        b = torch.randn(m, m, device=device, dtype=dtype)
        allow = tag == "tf32"

        def conv_call(conv=conv, x=x, allow=allow):
            with torch.no_grad(), tf32(allow):
                return conv(x)

        def matmul_call(a=a, b=b, allow=allow):
            with tf32(allow):
                return a @ b

        calls[f"conv3x3_{tag}"] = (conv_call, 2.0 * 256 * 256 * 9 * s * s * batch, tag)
        calls[f"matmul_{tag}"] = (matmul_call, 2.0 * m**3, tag)
    return calls


def compute_dtype(precision: str, device: torch.device) -> str:
    """The probe dtype a training precision computes its convolutions in: ``bf16``/``fp16`` under mixed precision;
    for fp32 on CUDA ``tf32`` when cuDNN may use TF32 (PyTorch's default), else ``fp32``."""
    if precision.startswith("bf16"):
        return "bf16"
    if precision.startswith("16"):
        return "fp16"
    return "tf32" if device.type == "cuda" and torch.backends.cudnn.allow_tf32 else "fp32"


def run_probe(calls: dict, device: torch.device, repeats: int = 3, min_seconds: float = 1.0) -> dict[str, float]:
    """``name -> FLOP/s``: the fastest of at least ``repeats`` calls, repeated for at least ``min_seconds``, after
    one warm-up call.

    The fastest call, not the median: this is a peak, and a 2-core machine's slow calls are other processes or the
    first touch of memory. A few calls of a few milliseconds were not enough: two runs on the same quiet machine
    read 135 and 80 GFLOP/s for the same conv, and a training step then ran at "113 % of peak"."""
    out = {}
    for name, (call, flops, _) in calls.items():
        call()
        times: list[float] = []
        while len(times) < repeats or sum(times) < min_seconds:
            times.append(timed(call, device)[0])
        out[name] = flops / min(times)
    return out


# ---------------------------------------------------------------------------------------------- machine, tables

def machine(device: torch.device) -> dict[str, Any]:
    """Device name, CPU flags that matter, threads, torch version, load average, available memory."""
    from volo_adapt.hardware import fast_bf16

    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu_model)
    except OSError:
        pass
    return {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model,
        "cpu": cpu_model,
        "cpu_cores": os.cpu_count(),
        "cpu_flags": sorted(f for f in flags if f.startswith(("avx512", "amx", "avx2", "avx_vnni"))),
        "fast_bf16": fast_bf16(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "mem_available_gib": round(mem_available_gib(), 1),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def markdown_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub markdown table; columns after the first few that hold numbers are right-aligned."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|")

    numeric = [all(isinstance(r[i], int | float) or str(r[i]).replace(".", "").replace("x", "").replace("-", "")
                   .replace("e", "").replace("%", "").strip().isdigit() or r[i] in ("", "-") for r in rows)
               for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |",
           "| " + " | ".join("---:" if n and rows else "---" for n in numeric) + " |"]
    out += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def fmt(value: float | None, digits: int = 3) -> str:
    """A number with ``digits`` significant digits, ``-`` for None/NaN."""
    if value is None or value != value:
        return "-"
    return f"{value:.{digits}g}"


def probe_each_set(sets: list, required: tuple[str, ...], probe_one: Callable[[Any], dict[str, float]]
                   ) -> dict[str, dict[str, float]]:
    """``{folder name: probe_one(folder)}`` over ``volo data synth`` folders (``pathlib.Path``), each printed as one
    line as it is done; SystemExit naming the first folder that lacks one of the ``required`` subfolders."""
    rows = {}
    for data in sets:
        if not all((data / sub).is_dir() for sub in required):
            raise SystemExit(f"{data}: not a volo data synth folder (no {' or '.join(s + '/' for s in required)})")
        rows[data.name] = probe_one(data)
        print(data.name, " ".join(f"{k}={v:.3f}" for k, v in rows[data.name].items()), flush=True)
    return rows


def write_probe_rows(out, stem: str, rows: dict[str, dict[str, float]], markdown: Callable[[dict], str]) -> None:
    """``OUT/STEM.json`` and ``OUT/STEM.md`` (``markdown(rows)``), written atomically; ``out`` a ``pathlib.Path``."""
    import json

    from volo_adapt.atomic import atomic_write_bytes

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / f"{stem}.json", (json.dumps(rows, indent=2) + "\n").encode())
    atomic_write_bytes(out / f"{stem}.md", markdown(rows).encode())
