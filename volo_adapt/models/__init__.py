"""Networks (plain ``nn.Module``s, no Lightning): VoloGAN generator/critic, ResNet generator, PatchGAN critic.

Build them through the registry: :func:`create_generator`, :func:`create_critic`.
"""

from __future__ import annotations

from volo_adapt.models.layers import bake_spectral_norm, hard_sigmoid_tf
from volo_adapt.models.registry import (
    count_parameters,
    create_critic,
    create_generator,
    list_critics,
    list_generators,
)

__all__ = [
    "bake_spectral_norm",
    "count_parameters",
    "create_critic",
    "create_generator",
    "hard_sigmoid_tf",
    "list_critics",
    "list_generators",
]
