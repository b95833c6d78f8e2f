"""``builtin_lidar``: today's sensor B (phone RGB + LiDAR, :mod:`volo_adapt.synth.sensor_b`), the default target.

Not randomised: its instance is :class:`~volo_adapt.synth.sensor_b.SensorBConfig`'s defaults whatever the seed, so
``volo data synth`` without ``--sensor`` (and with ``--sensor builtin_lidar``) writes the same images as before the
zoo existed. ``--sensor-param`` pins any :class:`SensorBConfig` field.
"""

from __future__ import annotations

import torch

from volo_adapt.synth.sensor_b import SensorBConfig, lidar_depth, phone_rgb
from volo_adapt.synth.zoo.base import Family, SensorInputs

UNITS = {"lidar_res": "fraction", "max_range_m": "m", "noise_a_m": "m", "noise_b_per_m": "1/m",
         "grazing_cos_min": "fraction", "dark_albedo": "fraction", "dark_dropout_prob": "fraction",
         "quantisation_m": "m", "blur_sigma_px": "px", "vignetting": "fraction", "exposure_std": "fraction",
         "wb_std": "fraction", "shot_noise_gain": "fraction", "read_noise_std": "fraction",
         "gamma_min": "fraction", "gamma_max": "fraction", "jpeg_quality": "dimensionless"}
"""Unit of each :class:`SensorBConfig` field (for listings; the dataclass docstrings say the same)."""


def apply(inputs: SensorInputs, cfg: SensorBConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Exactly the pipeline's sensor-B path: :func:`lidar_depth` then :func:`phone_rgb`."""
    buf = inputs.buf
    lid = lidar_depth(buf.depth, buf.view_cosine(), buf.albedo, inputs.gen_depth, cfg, buf.range)
    return phone_rgb(inputs.rgb_clean, buf.mask, inputs.gen_rgb, cfg), lid.depth


FAMILY = Family(
    name="builtin_lidar",
    kind="phone LiDAR (fixed)",
    description="Today's sensor B: 0.4x grid, bilinear with tails, holes, noisy JPEG colour (the default).",
    params=SensorBConfig,
    apply=apply,
    randomised=False,
)
