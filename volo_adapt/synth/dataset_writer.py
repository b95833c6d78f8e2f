"""Write the synthetic two-sensor benchmark to disk (``volo data synth``).

Layout under ``OUT``::

    A/train, A/test          sensor A (source: photogrammetry render) on scenes of streams "A/train", "A/test"
    B/train, B/test          sensor B (target: phone RGB + LiDAR) on scenes of streams "B/train", "B/test"
    paired/A, paired/B       the SAME scenes (stream "paired") through sensors A and B, for evaluation
    synth.json               manifest: seed, size, counts, camera intrinsics, every sensor parameter; with
                             ``--sensor NAME`` also ``sensor``: the zoo sensor of B and its drawn parameters
    README.txt               the same in words

Each image folder holds ``rgb/NAME.png`` (8-bit colour) and ``depth/NAME.png`` (16-bit, millimetres, 0 = invalid)
with ``NAME = 000000, 000001, ...``. A and B come from different scenes (unpaired). Sample ``i`` of a stream
depends only on ``(seed, stream, i)``, so the same seed gives byte-identical files whatever the batch size.

The manifest's and README's descriptions of the domains still call the sensors "S" and "T" (their names when
format version 1 was defined): the text is part of the on-disk format (byte-identical output for a seed, the demo
cache key), so it only changes together with :data:`FORMAT_VERSION`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple

import torch

from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.data.formats import write_depth, write_rgb
from volo_adapt.errors import VoloError
from volo_adapt.synth.camera import PinholeCamera
from volo_adapt.synth.pipeline import SynthConfig, synthesize
from volo_adapt.synth.preview import preview_grid, write_preview_png
from volo_adapt.synth.sensor_b import SensorBConfig
from volo_adapt.synth.zoo.base import DrawnSensor

FORMAT_VERSION = 1
"""Bumped whenever the generator's output for a given seed changes (the demo cache key includes it)."""
MANIFEST = "synth.json"
PREVIEW_SAMPLES = 4

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: samples written so far and in total."""


DOMAIN_TEXT = {"A": "sensor S: photogrammetry render (exact depth, clean Lambert + ambient shading)",
               "B": "sensor T: phone RGB camera + LiDAR model (low-res noisy depth with tails and holes, "
                    "noisy JPEG colour)"}
"""The manifest's ``domains`` text: frozen with :data:`FORMAT_VERSION` 1 (sensor S = sensor A, T = B)."""


class Split(NamedTuple):
    """One random stream written to disk: ``folders`` (relative to the output) parallel to ``sensors``."""

    stream: str
    sensors: str
    count: int
    folders: list[str]


def plan(n_train: int, n_test: int) -> list[Split]:
    """Every split of the benchmark, in the order it is written (the order does not change the files)."""
    return [
        Split("A/train", "A", n_train, ["A/train"]),
        Split("A/test", "A", n_test, ["A/test"]),
        Split("B/train", "B", n_train, ["B/train"]),
        Split("B/test", "B", n_test, ["B/test"]),
        Split("paired", "AB", n_test, ["paired/A", "paired/B"]),
    ]


def default_batch_size(size: int) -> int:
    """Samples rendered together: about 16 at 128 px, 1 at 512 px (bounded memory; output does not depend on it)."""
    return max(1, min(32, (16 * 128 * 128) // (size * size)))


def manifest(seed: int, size: int, n_train: int, n_test: int, cfg: SynthConfig,
             sensor: DrawnSensor | None = None) -> dict:
    """The JSON-ready description of a data set (no timestamps, so it is reproducible too).

    With a zoo ``sensor`` (domain B), the new key ``sensor`` holds its name, kind, parameter seed, pinned keys and
    drawn parameters; without one there is no ``sensor`` key (B = ``config.sensor_b``, as before the zoo).
    """
    if sensor is not None and isinstance(sensor.params, SensorBConfig):
        cfg = replace(cfg, sensor_b=sensor.params)  # builtin_lidar: config.sensor_b keeps meaning "B's parameters"
    cam = PinholeCamera.from_fov(size, size, cfg.hfov_deg)
    m = {
        "kind": "volo-adapt synthetic two-sensor RGB-D benchmark",
        "format_version": FORMAT_VERSION,
        "seed": seed,
        "size": size,
        "counts": {"A/train": n_train, "A/test": n_test, "B/train": n_train, "B/test": n_test,
                   "paired/A": n_test, "paired/B": n_test},
        "domains": dict(DOMAIN_TEXT),
        "files": {"rgb": "rgb/NAME.png, 8-bit sRGB, background 0",
                  "depth": "depth/NAME.png, uint16 millimetres (depth = z along the optical axis), 0 = invalid"},
        "camera": cam.to_dict(),
        "config": asdict(cfg),
    }
    if sensor is not None:
        m["sensor"] = sensor.to_dict()
    return m


def _readme(m: dict) -> str:
    """README.txt text (frozen wording of format version 1: sensor S = sensor A, sensor T = sensor B)."""
    cam = m["camera"]
    lines = [
        "volo-adapt synthetic two-sensor RGB-D benchmark (generated by `volo data synth`)",
        "",
        f"seed {m['seed']}, size {m['size']}x{m['size']}, format version {m['format_version']}",
        "A/train, A/test: sensor S (photogrammetry render: exact depth, clean shaded colour)",
        "B/train, B/test: sensor T (phone RGB + LiDAR model), different scenes from A (unpaired)",
        "paired/A, paired/B: the same scenes through S and T (for evaluation)",
        "Each folder: rgb/NAME.png (8-bit colour, background 0), depth/NAME.png (16-bit millimetres, 0 = invalid).",
        "Counts: " + ", ".join(f"{k} {v}" for k, v in m["counts"].items()),
        f"Camera (pinhole, OpenCV frame, depth = z): fx = fy = {cam['fx']:.3f} px, cx = {cam['cx']:.1f}, "
        f"cy = {cam['cy']:.1f}, horizontal FoV {cam['hfov_deg']:.1f} deg.",
        f"All scene and sensor parameters: {MANIFEST}.",
        "",
    ]
    if "sensor" in m:
        lines.insert(-2, f"Sensor T of B/ and paired/B: zoo sensor {m['sensor']['name']} ({m['sensor']['kind']}), "
                         f"parameters in {MANIFEST} under 'sensor'.")
    return "\n".join(lines)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch intra-op threads (``None``: unchanged), restoring the old count after."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def check_synth_args(out: Path, n_train: int, n_test: int, size: int, seed: int) -> None:
    """Raise :class:`VoloError` (naming the option or path) for arguments :func:`write_synth_dataset` refuses."""
    if size < 16:
        raise VoloError(f"--size must be >= 16 pixels, got {size}")
    if n_train < 0 or n_test < 0:
        raise VoloError(f"--n-train and --n-test must be >= 0, got {n_train} and {n_test}")
    if seed < 0:
        raise VoloError(f"--seed must be >= 0, got {seed}")
    if out.exists() and not out.is_dir():
        raise VoloError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        raise VoloError(f"{out}: folder is not empty; choose a new or empty output folder")


def write_synth_dataset(
    out: str | os.PathLike,
    n_train: int = 400,
    n_test: int = 64,
    size: int = 96,
    seed: int = 0,
    cfg: SynthConfig | None = None,
    preview: str | os.PathLike | None = None,
    batch_size: int | None = None,
    progress: ProgressFn | None = None,
    threads: int | None = 1,
    sensor: DrawnSensor | None = None,
) -> dict:
    """Generate the benchmark into ``out`` (which must be absent or empty).

    Args:
        out: output folder.
        n_train: training samples per domain (A and B).
        n_test: test samples per domain, and number of paired scenes.
        size: image side in pixels (square).
        seed: global seed (``>= 0``).
        cfg: scene/sensor parameters (default :class:`SynthConfig`).
        preview: optional PNG path for a preview grid of the first paired scenes (A and B side by side).
        batch_size: samples rendered at once (default :func:`default_batch_size`); does not change the output.
        progress: optional ``progress(done, total)`` callback, called after each batch.
        threads: torch intra-op threads while generating (restored afterwards); ``None`` keeps torch's setting.
            Default 1: the work is many small element-wise ops, and on a loaded 2-core machine two OpenMP threads
            were measured 5-15x slower than one (spinning on a descheduled peer); see benchmarks/bench_synth.py.
            Does not change the output.
        sensor: zoo sensor of domain B (:func:`~volo_adapt.synth.zoo.make_sensor`); ``None``: ``cfg.sensor_b``.

    Returns:
        The manifest (also written to ``out/synth.json``).

    Raises:
        VoloError: bad arguments, non-empty ``out``, or a write failure (naming the path).
    """
    cfg = cfg or SynthConfig()
    out = Path(out)
    check_synth_args(out, n_train, n_test, size, seed)
    bs = batch_size or default_batch_size(size)
    splits = plan(n_train, n_test)
    total = sum(split.count for split in splits)
    done = 0
    if progress:
        progress(0, total)
    with torch.inference_mode(), torch_threads(threads):
        for split in splits:
            for n in _write_split(out, split, seed, size, cfg, bs, sensor):
                done += n
                if progress:
                    progress(done, total)
        if preview is not None:
            write_preview(preview, seed, size, cfg, sensor=sensor)
    m = manifest(seed, size, n_train, n_test, cfg, sensor)
    atomic_write_bytes(out / "README.txt", _readme(m).encode("utf-8"))
    atomic_write_bytes(out / MANIFEST, (json.dumps(m, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    return m


def _write_split(out: Path, split: Split, seed: int, size: int, cfg: SynthConfig, bs: int,
                 sensor: DrawnSensor | None = None) -> Iterator[int]:
    """Render and write one split in batches of ``bs`` samples; yields the number of samples of each batch."""
    for d in split.folders:
        (out / d / "rgb").mkdir(parents=True, exist_ok=True)
        (out / d / "depth").mkdir(parents=True, exist_ok=True)
    for start in range(0, split.count, bs):
        idx = list(range(start, min(split.count, start + bs)))
        batch = synthesize(seed, split.stream, idx, size, split.sensors, cfg, sensor)
        images = {"A": (batch.rgb_a, batch.depth_a), "B": (batch.rgb_b, batch.depth_b)}
        for domain, folder in zip(split.sensors, split.folders, strict=True):
            write_images(out / folder, idx, *images[domain])
        yield len(idx)


def write_images(folder: Path, indices: list[int], rgb: torch.Tensor, depth: torch.Tensor) -> None:
    """``rgb/NAME.png`` (8-bit) and ``depth/NAME.png`` (16-bit mm) of samples ``indices``, ``NAME = %06d``.

    ``rgb (B, 3, S, S)`` in ``[0, 1]`` and ``depth (B, 1, S, S)`` metres, row ``k`` = sample ``indices[k]``.
    """
    for k, i in enumerate(indices):
        write_rgb(folder / "rgb" / f"{i:06d}.png", rgb[k])
        write_depth(folder / "depth" / f"{i:06d}.png", depth[k])


def write_preview(
    path: str | os.PathLike, seed: int, size: int, cfg: SynthConfig | None = None, n: int = PREVIEW_SAMPLES,
    sensor: DrawnSensor | None = None,
) -> None:
    """Write a PNG grid of paired scenes ``0..n-1`` (the ones in ``paired/``): A rgb | A depth | B rgb | B depth."""
    with torch.inference_mode():
        b = synthesize(seed, "paired", list(range(n)), size, "AB", cfg or SynthConfig(), sensor)
    write_preview_png(path, preview_grid(b.rgb_a, b.depth_a, b.rgb_b, b.depth_b))
