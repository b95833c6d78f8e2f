"""Full-size parameter counts (construction only; no 512x512 forward pass)."""

from __future__ import annotations

import pytest

from volo_adapt.models import count_parameters, create_critic, create_generator


def test_vologan_generator_full_size_count():
    n = count_parameters(create_generator("vologan", 4, 4, base=64))
    assert n == 39_376_641  # the original's estimated ~39 M


def test_vologan_critic_full_size_count():
    n = count_parameters(create_critic("vologan", 4, base=64))
    assert n == 5_436_962  # the original's estimated ~5.4 M


@pytest.mark.parametrize(("channels", "expected"), [(4, 11_384_452), (3, 11_378_179)])
def test_resnet9_full_size_count(channels, expected):
    # At 3 channels: the reference CycleGAN prints 11.378 M for its resnet_9blocks generator.
    assert count_parameters(create_generator("resnet9", channels, channels, base=64)) == expected


@pytest.mark.parametrize(("channels", "expected"), [(4, 2_765_761), (3, 2_764_737)])
def test_patchgan_full_size_count(channels, expected):
    # At 3 channels: the reference CycleGAN prints 2.765 M for its basic (n_layers=3) PatchGAN.
    assert count_parameters(create_critic("patchgan", channels, base=64)) == expected
