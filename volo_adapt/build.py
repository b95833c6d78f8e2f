"""Build networks and the depth codec from a :class:`~volo_adapt.config.RunConfig`.

One place that maps config sections onto constructors, shared by training, translate, export and eval,
so a checkpoint's stored config always rebuilds the same networks.
"""

from __future__ import annotations

from torch import nn

from volo_adapt.config import DataConfig, ModelConfig
from volo_adapt.data.sample import DepthCodec


def build_generator(model: ModelConfig) -> nn.Module:
    """The generator described by ``model`` (same architecture for both directions)."""
    from volo_adapt.models import create_generator

    return create_generator(
        model.generator,
        in_channels=model.channels,
        out_channels=model.channels,
        base=model.gen_base,
        **model.gen_kwargs,
    )


def build_critic(model: ModelConfig) -> nn.Module:
    """The critic described by ``model`` (one per domain)."""
    from volo_adapt.models import create_critic

    return create_critic(model.critic, in_channels=model.channels, base=model.critic_base, **model.critic_kwargs)


def build_codec(data: DataConfig) -> DepthCodec:
    """The depth codec (metres <-> network channel) of a run."""
    return DepthCodec(near=data.near, far=data.far, gap=data.depth_gap)
