"""Built-in synthetic benchmark: procedural people rendered through two RGB-D sensor models.

* :mod:`~.camera`: pinhole intrinsics (65 degree horizontal FoV by default).
* :mod:`~.scene`: random articulated bodies (capsules and ellipsoids) with clothing textures, optional floor.
* :mod:`~.render`: analytic, vectorised ray casting into depth/normal/albedo buffers.
* :mod:`~.sensor_a`: sensor A (source: photogrammetry render): exact depth, Lambert + ambient colour.
* :mod:`~.sensor_b`: sensor B (target: phone RGB + LiDAR): low-res noisy depth with tails and holes, noisy JPEG.
* :mod:`~.zoo`: the sensor zoo: target-sensor families for domain B (``--sensor``; ``docs/sensor-zoo.md``).
* :mod:`~.pipeline`: scenes -> render -> sensors for sample indices of a random stream.
* :mod:`~.dataset_writer`: the on-disk benchmark (``volo data synth``); :mod:`~.demo_set`: the cached demo set and
  its splits.
"""

from __future__ import annotations

from volo_adapt.synth.camera import PinholeCamera
from volo_adapt.synth.demo_set import DemoSplits, demo_splits, ensure_demo_dataset
from volo_adapt.synth.pipeline import SynthConfig, synthesize
from volo_adapt.synth.sensor_a import SensorAConfig
from volo_adapt.synth.sensor_b import SensorBConfig

__all__ = [
    "DemoSplits",
    "PinholeCamera",
    "SensorAConfig",
    "SensorBConfig",
    "SynthConfig",
    "demo_splits",
    "ensure_demo_dataset",
    "synthesize",
]
