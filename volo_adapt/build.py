"""Build networks and the depth codec from a :class:`~volo_adapt.config.RunConfig`.

One place that maps config sections onto constructors, shared by training, translate, export and eval,
so a checkpoint's stored config always rebuilds the same networks.
"""

from __future__ import annotations

from torch import nn

from volo_adapt.config import DataConfig, ModelConfig
from volo_adapt.data.sample import DepthCodec


def build_generator(model: ModelConfig, data: DataConfig | None = None, direction: str = "a2b") -> nn.Module:
    """The generator described by ``model`` (same architecture for both directions).

    ``direction`` (``"a2b"`` or ``"b2a"``) only orders ``model.sensor.pinhole_rates`` as (source, target) and picks
    its own of ``model.sensor.birth_ring_counts``.

    With any ``model.sensor`` switch on, the registry's backbone is built with raw feature outputs and wrapped in
    :class:`~volo_adapt.models.sensor_head.SensorAwareGenerator` (which needs the codec's ``data.depth_gap`` and,
    for an estimated native grid, ``data.image_size``; ``data`` defaults to :class:`DataConfig`'s defaults).
    """
    from volo_adapt.models import create_generator

    sensor = model.sensor
    data = data or DataConfig()
    if not sensor.enabled:
        return create_generator(
            model.generator,
            in_channels=model.channels,
            out_channels=model.channels,
            base=model.gen_base,
            **model.gen_kwargs,
        )
    from volo_adapt.models.sensor_head import SensorAwareGenerator

    backbone = create_generator(
        model.generator,
        in_channels=model.channels + SensorAwareGenerator.extra_inputs(sensor.noise, sensor.coords),
        out_channels=sensor.features,
        base=model.gen_base,
        raw_output=True,
        **model.gen_kwargs,
    )
    return SensorAwareGenerator(
        backbone,
        channels=model.channels,
        features=sensor.features,
        depth_gap=data.depth_gap,
        residual=sensor.residual,
        validity=sensor.validity,
        noise=sensor.noise,
        coords=sensor.coords,
        validity_prior=sensor.validity_prior,
        reach=sensor.effective_reach(data.image_size),
        lowpass_scales=sensor.lowpass_scales,
        resample_factors=sensor.resample_factors,
        native_cell_px=sensor.native_cell_px,
        colour=sensor.colour,
        fill_radii=sensor.fill_radii,
        new_returns=sensor.new_returns,
        birth_prior=sensor.birth_prior,
        drops=sensor.drops,
        pinhole_rates=_source_and_target(sensor.pinhole_rates, direction),
        birth_rings=_of_direction(sensor.birth_ring_counts, direction),
        ring_powers=_powers_of_direction(sensor.birth_ring_powers, direction),
        ring_depth=sensor.ring_depth,
        keep_majority=sensor.keep_majority,
        pinhole_fill=sensor.pinhole_fill,
        pinhole_where=sensor.pinhole_where,
        mask_decides=sensor.mask_decides,
    )


def _of_direction(counts: list[int], direction: str) -> int:
    """``[A -> B, B -> A]`` -> the count of ``direction`` (0 when none are set)."""
    pair = _source_and_target(counts, direction)
    return 0 if pair is None else int(pair[0])


def _powers_of_direction(powers: list[list[float]], direction: str) -> tuple[float, float] | None:
    """``[[colour, depth] of A -> B, [colour, depth] of B -> A]`` -> the pair of ``direction``; None when unset."""
    pairs = _source_and_target(powers, direction, convert=lambda p: tuple(float(v) for v in p))
    return None if pairs is None else pairs[0]


def _source_and_target(rates: list, direction: str, convert=float) -> tuple | None:
    """``[of A, of B]`` (each ``convert``-ed, default ``float``) as ``(source, target)`` of ``direction``; None when
    none are set."""
    if not rates:
        return None
    if direction not in ("a2b", "b2a"):
        raise ValueError(f"direction must be a2b or b2a, got {direction!r}")
    a, b = (convert(r) for r in rates)
    return (a, b) if direction == "a2b" else (b, a)


def build_critic(model: ModelConfig) -> nn.Module:
    """The critic described by ``model`` (one per domain)."""
    from volo_adapt.models import create_critic

    highpass = model.critic_highpass > 0  # the critic then also reads one high-pass channel per image channel
    in_channels = model.channels * (2 if highpass else 1)
    critic = create_critic(model.critic, in_channels=in_channels, base=model.critic_base, **model.critic_kwargs)
    if not highpass:
        return critic
    from volo_adapt.models.critic_view import HighPassView

    return HighPassView(critic, model.critic_highpass)


def build_codec(data: DataConfig) -> DepthCodec:
    """The depth codec (metres <-> network channel) of a run."""
    return DepthCodec(near=data.near, far=data.far, gap=data.depth_gap)
