"""The same scenes measured again by the same zoo sensor: an independent draw of the sensor's randomness.

A paired scene's target rendering (``paired/B``) is one draw of the sensor's noise, dropouts, flying pixels and
colour noise. A perfect translator can reproduce the sensor's *distribution* but not that draw, so its paired errors
against the truth stay above zero, and where a sensor's dropouts are random a mask metric such as IoU can stay
below the untouched input's (random dropouts cannot coincide with the truth's own). Measuring the scenes again with
another draw gives those figures: what a translation that is the sensor itself would score
(``benchmarks/probe_sensor_redraw.py``).

Written by hand: it re-runs this project's own synthetic pipeline (:func:`volo_adapt.synth.pipeline.synthesize`
with ``sensor_draw``); no library knows it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from volo_adapt.atomic import atomic_write_bytes
from volo_adapt.errors import DataError
from volo_adapt.synth.dataset_writer import (
    FORMAT_VERSION,
    MANIFEST,
    default_batch_size,
    manifest,
    torch_threads,
    write_images,
)
from volo_adapt.synth.pipeline import SynthConfig, synthesize
from volo_adapt.synth.zoo import make_sensor
from volo_adapt.synth.zoo.base import DrawnSensor

REDRAW_SPLITS = {"test": "A/test", "paired": "paired"}
"""Output folder -> the data set's scene stream it re-measures: ``test/`` holds the scenes of ``A/test`` (the
source test images) through the target sensor, ``paired/`` those of ``paired/A``, with the same file names."""


def drawn_sensor_of(data_dir: str | os.PathLike) -> tuple[dict, DrawnSensor]:
    """The manifest of the ``volo data synth`` folder ``data_dir`` and its target sensor, rebuilt from it.

    Raises:
        DataError: no readable ``synth.json``, no zoo sensor in it (a set made without ``--sensor``), another
            format version, or a manifest the default scene configuration does not reproduce.
    """
    path = Path(data_dir) / MANIFEST
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{path}: not a readable volo data synth manifest ({e.__class__.__name__})") from None
    if m.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path}: format version {m.get('format_version')}, this build writes {FORMAT_VERSION}")
    if "sensor" not in m:
        raise DataError(f"{path}: no zoo sensor recorded (made without --sensor); re-make it with --sensor NAME")
    entry = m["sensor"]
    pins = [f"{k}={entry['params'][k]}" for k in entry.get("pinned", [])]
    sensor = make_sensor(entry["name"], int(entry["param_seed"]), pins)
    counts = m["counts"]
    again = manifest(m["seed"], m["size"], counts["A/train"], counts["A/test"], SynthConfig(), sensor)
    if json.loads(json.dumps(again)) != m:
        raise DataError(f"{path}: its scene or sensor settings differ from what this build rebuilds from it")
    return m, sensor


def write_sensor_redraw(
    data_dir: str | os.PathLike, out: str | os.PathLike, draw: int, threads: int | None = 1,
) -> dict:
    """Write draw ``draw`` (>= 1) of the data set's target sensor on its test and paired scenes into ``out``.

    Args:
        data_dir: a folder written by ``volo data synth --sensor NAME``.
        out: new or empty folder; gets ``test/{rgb,depth}`` and ``paired/{rgb,depth}`` (see :data:`REDRAW_SPLITS`),
            files as the data set's (8-bit sRGB, uint16 mm depth, 0 = invalid), same names.
        draw: which independent draw; 0 would repeat the data set's own (``paired/B``), so it is refused.
        threads: torch intra-op threads while generating (``None``: unchanged).

    Returns:
        ``{"sensor": ..., "draw": draw, "folders": {...}}`` (also written to ``out/redraw.json``).

    Raises:
        DataError: see :func:`drawn_sensor_of`, ``draw < 1``, or a non-empty ``out``.
    """
    if draw < 1:
        raise DataError(f"draw must be >= 1 (0 is the data set's own paired/B), got {draw}")
    m, sensor = drawn_sensor_of(data_dir)
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out}: folder is not empty; choose a new or empty output folder")
    size, n_test = int(m["size"]), int(m["counts"]["A/test"])
    bs = default_batch_size(size)
    with torch.inference_mode(), torch_threads(threads):
        for folder, stream in REDRAW_SPLITS.items():
            for sub in ("rgb", "depth"):
                (out / folder / sub).mkdir(parents=True, exist_ok=True)
            for start in range(0, n_test, bs):
                idx = list(range(start, min(n_test, start + bs)))
                batch = synthesize(int(m["seed"]), stream, idx, size, "B", SynthConfig(), sensor, sensor_draw=draw)
                write_images(out / folder, idx, batch.rgb_b, batch.depth_b)
    info = {"data": str(data_dir), "sensor": sensor.to_dict(), "draw": draw,
            "folders": {k: f"scenes of {v}" for k, v in REDRAW_SPLITS.items()}}
    atomic_write_bytes(out / "redraw.json", (json.dumps(info, indent=2) + "\n").encode("utf-8"))
    return info

