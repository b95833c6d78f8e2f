"""Built-in synthetic benchmark: procedural people rendered through two RGB-D sensor models.

* :mod:`~.camera`: pinhole intrinsics (65 degree horizontal FoV by default).
* :mod:`~.scene`: random articulated bodies (capsules and ellipsoids) with clothing textures, optional floor.
* :mod:`~.render`: analytic, vectorised ray casting into depth/normal/albedo buffers.
* :mod:`~.sensor_s`: sensor S, photogrammetry render (exact depth, Lambert + ambient colour).
* :mod:`~.sensor_t`: sensor T, phone RGB + LiDAR model (low-res noisy depth with tails and holes, noisy JPEG).
* :mod:`~.pipeline`: scenes -> render -> sensors for sample indices of a random stream.
* :mod:`~.dataset`: the on-disk benchmark (``volo data synth``); :mod:`~.demo`: the cached demo set.
"""

from __future__ import annotations

from volo_adapt.sensors.camera import PinholeCamera
from volo_adapt.sensors.demo import ensure_demo_dataset
from volo_adapt.sensors.pipeline import SynthConfig, synthesize
from volo_adapt.sensors.sensor_s import SensorSConfig
from volo_adapt.sensors.sensor_t import SensorTConfig

__all__ = ["PinholeCamera", "SensorSConfig", "SensorTConfig", "SynthConfig", "ensure_demo_dataset", "synthesize"]
