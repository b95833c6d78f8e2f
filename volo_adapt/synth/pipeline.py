"""Scenes -> renderer -> sensor models, for a list of sample indices of one random stream."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from volo_adapt.synth.camera import DEFAULT_HFOV_DEG, PinholeCamera
from volo_adapt.synth.render import render
from volo_adapt.synth.scene import SceneConfig, sample_scene, stack_scenes
from volo_adapt.synth.seeding import numpy_rng, torch_generator
from volo_adapt.synth.sensor_a import SensorAConfig, sensor_a
from volo_adapt.synth.sensor_b import SensorBConfig, lidar_depth, phone_rgb
from volo_adapt.synth.zoo.base import DrawnSensor, SensorInputs


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines the benchmark besides seed, size and counts."""

    hfov_deg: float = DEFAULT_HFOV_DEG
    """Horizontal field of view of the (square) pinhole camera, degrees."""
    scene: SceneConfig = field(default_factory=SceneConfig)
    """Ranges of the random scene parameters."""
    sensor_a: SensorAConfig = field(default_factory=SensorAConfig)
    """Sensor A (source: photogrammetry render) parameters."""
    sensor_b: SensorBConfig = field(default_factory=SensorBConfig)
    """Sensor B (target: phone RGB + LiDAR) parameters."""


@dataclass
class SynthBatch:
    """Images of one batch; ``None`` for a sensor that was not asked for.

    Attributes:
        rgb_a: ``(B, 3, S, S)`` float32 in ``[0, 1]``; depth_a: ``(B, 1, S, S)`` float32 metres (0 = invalid), from
            sensor A (source: photogrammetry render).
        rgb_b: ``(B, 3, S, S)`` float32 in ``[0, 1]``; depth_b: ``(B, 1, S, S)`` float32 metres (0 = invalid), from
            sensor B (target: phone RGB + LiDAR).
    """

    rgb_a: torch.Tensor | None
    depth_a: torch.Tensor | None
    rgb_b: torch.Tensor | None
    depth_b: torch.Tensor | None


def synthesize(
    seed: int,
    stream: str,
    indices: list[int],
    size: int,
    sensors: str = "AB",
    cfg: SynthConfig = SynthConfig(),  # noqa: B008
    target: DrawnSensor | None = None,
    sensor_draw: int = 0,
) -> SynthBatch:
    """Render samples ``indices`` of ``stream`` and pass them through the requested sensors.

    Sample ``i`` depends only on ``(seed, stream, i)`` and ``cfg`` (not on the other indices in the batch).

    Args:
        seed: global seed (``>= 0``).
        stream: name of the random stream, e.g. ``"A/train"``; different streams give different scenes.
        indices: sample indices within the stream.
        size: output side in pixels (square images).
        sensors: ``"A"`` (sensor A), ``"B"`` (sensor B) or ``"AB"`` (both on the same scenes).
        cfg: benchmark parameters.
        target: the domain-B sensor from the zoo (:func:`volo_adapt.synth.zoo.make_sensor`); ``None`` = sensor B
            with ``cfg.sensor_b`` (the default, unchanged output). Uses the same per-sample generators.
        sensor_draw: which draw of sensor B's randomness (noise, dropout, colour noise) to take on the same scenes;
            0 (default) is the one every data set holds, ``k > 0`` an independent one (the same sensor measuring
            the same scene again: what a perfect translation could produce; see ``volo_adapt.synth.redraw``).
    """
    assert indices and sensors and set(sensors) <= {"A", "B"}, f"sensors must be 'A', 'B' or 'AB', got {sensors!r}"
    assert sensor_draw >= 0, f"sensor_draw must be >= 0, got {sensor_draw}"
    lidar, rgb = (("lidar", "rgb") if sensor_draw == 0 else (f"lidar/redraw{sensor_draw}", f"rgb/redraw{sensor_draw}"))
    camera = PinholeCamera.from_fov(size, size, cfg.hfov_deg)
    scenes = stack_scenes([sample_scene(numpy_rng(seed, stream, i, "scene"), cfg.scene) for i in indices])
    buf = render(scenes, camera)
    rgb_clean, depth_clean = sensor_a(buf.albedo, buf.normal, buf.depth, scenes.light_dir, scenes.light_intensity,
                                      cfg.sensor_a)
    out = SynthBatch(None, None, None, None)
    if "A" in sensors:
        out.rgb_a, out.depth_a = rgb_clean, depth_clean
    if "B" in sensors and target is not None:
        gens = [torch_generator(seed, stream, i, lidar) for i in indices]
        inputs = SensorInputs(buf, rgb_clean, camera, gens, [torch_generator(seed, stream, i, rgb) for i in indices])
        out.rgb_b, out.depth_b = target.apply(inputs)
    elif "B" in sensors:
        lid = lidar_depth(buf.depth, buf.view_cosine(), buf.albedo,
                          [torch_generator(seed, stream, i, lidar) for i in indices], cfg.sensor_b, buf.range)
        out.depth_b = lid.depth
        out.rgb_b = phone_rgb(rgb_clean, buf.mask, [torch_generator(seed, stream, i, rgb) for i in indices],
                              cfg.sensor_b)
    return out
