"""What every zoo family shares: its inputs, its registry entry and small image helpers.

A family turns the renderer's exact buffers into one target sensor's ``(rgb, depth)``. Its parameters are drawn
once per data set (from the seed); its per-image randomness comes from one generator per sample for the depth path
and one for the colour path, so sample ``i`` depends only on ``(seed, stream, i)`` and the drawn parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F

from volo_adapt.synth.camera import PinholeCamera
from volo_adapt.synth.render import RenderBuffers
from volo_adapt.synth.sensor_b import luminance  # noqa: F401  (the families import it from here)


@dataclass
class SensorInputs:
    """Exact inputs of a target sensor model.

    Attributes:
        buf: renderer buffers (``depth``, ``range``, ``normal``, ``albedo``, ``mask``; ``(B, C, S, S)``).
        rgb_clean: ``(B, 3, S, S)`` float32 in ``[0, 1]``: the clean shaded colour (sensor A's image).
        camera: the pinhole camera of the images (``fx`` in output pixels).
        gen_depth: one ``torch.Generator`` per sample for the depth path.
        gen_rgb: one ``torch.Generator`` per sample for the colour path.
    """

    buf: RenderBuffers
    rgb_clean: torch.Tensor
    camera: PinholeCamera
    gen_depth: list[torch.Generator]
    gen_rgb: list[torch.Generator]


ApplyFn = Callable[[SensorInputs, Any], tuple[torch.Tensor, torch.Tensor]]
"""``apply(inputs, params) -> (rgb (B, 3, S, S) float32 in [0, 1], depth (B, 1, S, S) float32 metres, 0 = none)``."""


@dataclass(frozen=True)
class Family:
    """A registry entry: a family of target sensors.

    Attributes:
        name: registry key (``--sensor NAME``).
        kind: short sensor class, e.g. ``"time-of-flight"``.
        description: one line.
        params: the parameter dataclass (fields declared with :func:`~.params.param`).
        apply: the sensor model.
        randomised: ``False`` for a fixed model (its instance is the defaults, whatever the seed).
    """

    name: str
    kind: str
    description: str
    params: type
    apply: ApplyFn
    randomised: bool = True


@dataclass(frozen=True)
class DrawnSensor:
    """One data set's target sensor: a family and its drawn (and pinned) parameter values."""

    family: Family
    params: Any
    seed: int
    pinned: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.family.name

    def apply(self, inputs: SensorInputs) -> tuple[torch.Tensor, torch.Tensor]:
        return self.family.apply(inputs, self.params)

    def to_dict(self) -> dict:
        """The manifest's ``sensor`` entry: name, kind, parameter seed, pinned keys and every parameter value."""
        return {"name": self.name, "kind": self.family.kind, "param_seed": self.seed,
                "pinned": list(self.pinned), "params": asdict(self.params)}


def box_mean(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over a ``(2r+1)^2`` window (replicate padding); ``(B, C, H, W)`` -> same shape."""
    if radius <= 0:
        return x
    k = 2 * radius + 1
    return F.avg_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), k, stride=1)


def neighbour_min_max(depth: torch.Tensor, radius: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Min and max of the valid (``> 0``) depths in a ``(2r+1)^2`` window; ``0`` where the window has none."""
    k = 2 * radius + 1
    big = torch.where(depth > 0, depth, torch.full_like(depth, float("inf")))
    mn = -F.max_pool2d(-big, k, stride=1, padding=radius)
    mx = F.max_pool2d(depth, k, stride=1, padding=radius)
    return torch.where(torch.isinf(mn), torch.zeros_like(mn), mn), mx


def per_sample(gens: list[torch.Generator], shape: tuple[int, ...], kind: str = "randn") -> torch.Tensor:
    """``(B, *shape)`` draws, row ``i`` from ``gens[i]`` (``kind``: ``"randn"`` or ``"rand"``)."""
    fn = torch.randn if kind == "randn" else torch.rand
    return torch.stack([fn(shape, generator=g) for g in gens])


def quantise(depth: torch.Tensor, step_m: float) -> torch.Tensor:
    """Round to multiples of ``step_m`` metres (``0`` stays ``0``); ``step_m <= 0`` returns ``depth``."""
    return torch.round(depth / step_m) * step_m if step_m > 0 else depth
