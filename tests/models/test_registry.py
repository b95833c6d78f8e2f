"""Tests for volo_adapt/models/registry.py: every registered network, tiny sizes (shapes, ranges, gradients)."""

from __future__ import annotations

import doctest

import pytest
import torch

import volo_adapt.models.attention
import volo_adapt.models.layers
import volo_adapt.models.patchgan
import volo_adapt.models.resnet_generator
import volo_adapt.models.vologan_critic
import volo_adapt.models.vologan_generator
from volo_adapt.errors import ConfigError
from volo_adapt.models import count_parameters, create_critic, create_generator, list_critics, list_generators

# Tiny settings for every registered network; a newly registered one fails here until it is added.
TINY_G = {"vologan": {"base": 4, "levels": 3}, "resnet9": {"base": 4, "n_blocks": 2}}
TINY_D = {"vologan": {"base": 4}, "patchgan": {"base": 4, "n_layers": 2}}


def test_registry_lists():
    assert list_generators() == ["resnet9", "vologan"]
    assert list_critics() == ["patchgan", "vologan"]


@pytest.mark.parametrize("name", list_generators())
@pytest.mark.parametrize(("cin", "cout"), [(4, 4), (3, 1)])
def test_generator_smoke_shapes_range_gradients(name, cin, cout):
    torch.manual_seed(0)
    g = create_generator(name, in_channels=cin, out_channels=cout, **TINY_G[name])
    assert g.size_multiple >= 1 and g.min_size >= 1
    side = max(32, g.min_size)
    x = torch.rand(2, cin, side, side)
    y = g(x)
    assert y.shape == (2, cout, side, side)
    assert y.dtype == torch.float32
    assert torch.isfinite(y).all() and y.min() >= 0.0 and y.max() <= 1.0
    (y * torch.randn_like(y)).sum().backward()
    for pname, p in g.named_parameters():
        assert p.grad is not None, f"{name}: no gradient for {pname}"
        assert torch.isfinite(p.grad).all(), f"{name}: non-finite gradient for {pname}"


@pytest.mark.parametrize("name", list_critics())
def test_critic_smoke_list_of_raw_scores(name):
    torch.manual_seed(0)
    d = create_critic(name, in_channels=4, **TINY_D[name])
    side = max(32, d.min_size)
    outs = d(torch.rand(2, 4, side, side))
    assert isinstance(outs, list) and len(outs) == d.n_outputs == {"vologan": 3, "patchgan": 1}[name]
    assert all(o.shape[0] == 2 and torch.isfinite(o).all() for o in outs)
    sum(o.mean() for o in outs).backward()
    for pname, p in d.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), f"{name}: bad gradient for {pname}"


@pytest.mark.parametrize("name", list_generators())
def test_generator_rejects_bad_sizes(name):
    g = create_generator(name, **TINY_G[name])
    with pytest.raises(ValueError, match=r"multiples of \d+"):
        g(torch.rand(1, 4, g.min_size + 1, g.min_size + 1))
    with pytest.raises(ValueError, match=r"\(B, 4, H, W\)"):
        g(torch.rand(1, 3, 32, 32))


@pytest.mark.parametrize("name", list_critics())
def test_critic_rejects_bad_sizes(name):
    d = create_critic(name, **TINY_D[name])
    with pytest.raises(ValueError, match=r"multiples of \d+"):
        d(torch.rand(1, 4, d.min_size + 1, d.min_size + 1))


@pytest.mark.parametrize("name", list_generators())
def test_generator_channels_last_and_bf16_autocast(name):
    torch.manual_seed(0)
    g = create_generator(name, **TINY_G[name]).eval()
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        ref = g(x)
        g_cl = g.to(memory_format=torch.channels_last)
        y_cl = g_cl(x.to(memory_format=torch.channels_last))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y_bf = g_cl(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(y_cl, ref, atol=1e-4, rtol=0)
    assert torch.isfinite(y_bf).all() and y_bf.min() >= 0 and y_bf.max() <= 1
    assert (y_bf.float() - ref).abs().mean() < 0.05


@pytest.mark.parametrize("name", list_critics())
def test_critic_bf16_autocast_backward(name):
    d = create_critic(name, **TINY_D[name]).to(memory_format=torch.channels_last)
    x = torch.rand(2, 4, 32, 32).to(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = sum(o.float().square().mean() for o in d(x))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in d.parameters() if p.grad is not None)


def test_unknown_names_and_kwargs_raise_config_error():
    with pytest.raises(ConfigError, match=r"unknown generator 'unet'.*resnet9, vologan"):
        create_generator("unet")
    with pytest.raises(ConfigError, match=r"unknown critic 'x'.*patchgan, vologan"):
        create_critic("x")
    with pytest.raises(ConfigError, match=r"unknown keyword argument\(s\) depth.*levels"):
        create_generator("vologan", depth=3)
    with pytest.raises(ConfigError, match="levels must be >= 1"):
        create_generator("vologan", levels=0)


def test_none_kwargs_are_dropped():
    g = create_generator("vologan", base=4, levels=3, attention_level=None, dropout=None)
    assert g.attention_level == 2  # the default, not "disabled"
    d = create_critic("patchgan", base=4, n_layers=None)
    assert d.size_multiple == 8  # default n_layers = 3


def test_resnet9_default_blocks_and_count_parameters():
    g = create_generator("resnet9", base=4)
    assert sum(type(m).__name__ == "ResnetBlock" for m in g.modules()) == 9
    frozen = create_generator("resnet9", base=4, n_blocks=1)
    n = count_parameters(frozen)
    frozen.model[1].weight.requires_grad_(False)
    assert count_parameters(frozen) == n - frozen.model[1].weight.numel()


@pytest.mark.parametrize(
    "module",
    [
        volo_adapt.models.attention,
        volo_adapt.models.layers,
        volo_adapt.models.patchgan,
        volo_adapt.models.resnet_generator,
        volo_adapt.models.vologan_critic,
        volo_adapt.models.vologan_generator,
    ],
)
def test_docstring_examples(module):
    result = doctest.testmod(module, extraglobs={"torch": torch})
    assert result.failed == 0
