"""models/birth_rings.py and the sensor head's ring births (model.sensor.birth_ring_counts)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from volo_adapt.build import build_generator
from volo_adapt.config import load_config
from volo_adapt.data.sample import DepthCodec
from volo_adapt.models.birth_rings import (
    excess_returns,
    ring_anchor,
    ring_distance,
    ring_sizes,
    rings_to_fill,
    valid_share,
)

GAP = 0.05
ANCHORED = ["model.generator=resnet9", "model.gen_kwargs={n_blocks: 1}", f"data.depth_gap={GAP}",
            "model.sensor.residual=true", "model.sensor.validity=depth", "model.sensor.noise=true",
            "model.sensor.reach=0.2", "model.sensor.new_returns=anchored"]


def square(size: int = 16, lo: int = 5, hi: int = 11, depth_m: float = 2.0) -> torch.Tensor:
    """``(1, 4, size, size)`` network tensor: a grey square of one depth on an empty background."""
    depth = torch.zeros(1, 1, size, size)
    depth[..., lo:hi, lo:hi] = depth_m
    rgb = torch.full((1, 3, size, size), 0.6) * (depth > 0)
    return torch.cat([rgb, DepthCodec(near=0.25, far=5.0, gap=GAP).encode(depth)], 1)


def test_ring_distance_is_the_city_block_distance_capped_past_the_last_ring() -> None:
    v = torch.zeros(1, 1, 7, 7, dtype=torch.bool)
    v[0, 0, 3, 3] = True
    d = ring_distance(v, 2)
    assert d[0, 0, 3, 3] == 0 and d[0, 0, 3, 4] == 1 and d[0, 0, 4, 4] == 2 and d[0, 0, 3, 5] == 2
    assert d[0, 0, 5, 4] == 3 and d[0, 0, 0, 0] == 3  # beyond the second ring
    assert torch.all(ring_distance(torch.zeros(1, 1, 4, 4, dtype=torch.bool), 3) == 4)  # no return at all


def test_ring_sizes_and_the_count_of_rings_that_the_excess_fills() -> None:
    v = square()[:, -1:] > 0  # a 6x6 square in 16x16: its first ring has 24 pixels, its second 28
    sizes = ring_sizes(v, 3)
    assert sizes[:2] == pytest.approx([24 / 256, 28 / 256])
    assert rings_to_fill(0.0, sizes) == 0
    assert rings_to_fill(13 / 256, sizes) == 1  # over half of the first ring
    assert rings_to_fill(11 / 256, sizes) == 0
    assert rings_to_fill((24 + 17) / 256, sizes) == 2
    assert rings_to_fill(1.0, [0.1, 0.0, 0.1]) == 1  # an empty ring ends the count


def test_excess_counts_only_the_bins_where_the_target_has_more() -> None:
    source = torch.tensor([[0.10, 0.20, 0.05]])
    target = torch.tensor([[0.13, 0.10, 0.06]])  # births in bins 0 and 2, drops in bin 1
    assert excess_returns(target, source) == pytest.approx(0.04)
    assert excess_returns(source, source) == 0.0


def _generator(counts: str, direction: str = "a2b"):
    cfg = load_config("smoke", [*ANCHORED, f"model.sensor.birth_ring_counts={counts}"])
    torch.manual_seed(0)
    return build_generator(cfg.model, cfg.data, direction)


def test_an_untrained_generator_fills_its_own_rings_with_the_surface_mixed_with_its_surroundings() -> None:
    x = square()
    g = _generator("[1, 0]")
    y = g(x, stochastic=False)
    born = (y[:, -1:] > 0) & (x[:, -1:] == 0)
    ring = ring_distance(x[:, -1:] > 0, 1) == 1
    assert torch.equal(born, ring)  # exactly the first ring: 24 new returns
    # the anchors: the surface's value times the reach box's share of returns to the starting powers (colour 1,
    # depth 0.5); the share counted here by average pooling, independently of the generator's box sums
    r = int(g.reach_px(x))
    share = F.avg_pool2d((x[:, -1:] > 0).float(), 2 * r + 1, stride=1, padding=r, count_include_pad=False)[born]
    assert torch.allclose(y[:, -1:][born], x[0, -1, 6, 6] * share.sqrt(), atol=1e-6)
    assert torch.allclose(y[:, 0:1][born], 0.6 * share, atol=1e-6)
    assert float(share.max()) < 0.5  # the mix is not the surface's own value
    assert torch.equal(y[x[:, -1:].expand_as(x) > 0], x[x[:, -1:].expand_as(x) > 0])  # the square itself unchanged
    y.sum().backward()
    assert g.ring_logit.grad is not None and g.ring_logit.grad != 0  # where rings return stays learned
    assert bool((g.ring_anchor_power.grad != 0).all())  # and how much of the surroundings they mix in
    other = _generator("[1, 0]", "b2a")
    assert other.birth_rings == 0 and torch.equal(other(x, stochastic=False), x)  # the other direction: none
    two = _generator("[2, 0]")(x, stochastic=False)
    assert int(((two[:, -1:] > 0) & (x[:, -1:] == 0)).sum()) == 24 + 28


@pytest.mark.parametrize("sets", [["model.sensor.birth_ring_counts=[1]"], ["model.sensor.birth_ring_counts=[1, 9]"],
                                  ["model.sensor.birth_ring_counts=[1.5, 0]"], ["model.sensor.birth_rings=some"]])
def test_bad_birth_ring_settings_name_the_key(sets: list[str]) -> None:
    from volo_adapt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.sensor\.birth_ring"):
        load_config("smoke", [*ANCHORED, *sets])
    with pytest.raises(ConfigError, match=r"model\.sensor\.birth_rings: .*anchored"):
        load_config("smoke", ["model.sensor.birth_rings=auto"])


def test_the_ring_anchor_runs_from_the_valid_only_mean_to_the_mean_with_no_returns_as_zero() -> None:
    fill = torch.full((1, 2, 1, 4), 0.8)
    valid = torch.tensor([[[[True, True, False, False]]]])
    share = torch.tensor([1.0, 2 / 3, 1 / 3, 0.0])  # 3-pixel boxes, cut to 2 at the ends
    out = ring_anchor(fill, valid_share(valid, 1), torch.tensor([0.0, 1.0]))
    assert torch.allclose(out[0, 0, 0], torch.tensor([0.8, 0.8, 0.8, 0.0]))  # power 0: the surface's value
    assert torch.allclose(out[0, 1, 0], 0.8 * share)  # power 1: the plain mean, no-return pixels counted as 0
    assert torch.allclose(ring_anchor(fill, valid_share(valid, 1), torch.tensor([-1.0, 2.0]))[0, :, 0],
                          torch.stack([torch.tensor([0.8, 0.8, 0.8, 0.0]), 0.8 * share**2]))  # negative: clamped


def _perturbed(counts: str, *sets: str):
    """A generator of ``counts`` rings whose head is no longer zero (a trained head's residual moves pixels)."""
    cfg = load_config("smoke", [*ANCHORED, f"model.sensor.birth_ring_counts={counts}", *sets])
    torch.manual_seed(0)
    g = build_generator(cfg.model, cfg.data, "a2b")
    with torch.no_grad():
        g.head.bias.normal_(0.0, 0.05)
        g.head.bias[-5] = 0.0  # the return logit (first of `rest`): leave the rings returning as built
    return g


def test_ring_depth_anchor_keeps_a_ring_returns_depth_at_its_anchor_while_learned_lets_the_head_move_it() -> None:
    x = square()
    ring = ring_distance(x[:, -1:] > 0, 1) == 1
    anchored = _perturbed("[1, 0]", "model.sensor.ring_depth=anchor")
    y = anchored(x, stochastic=False)
    start, _ = anchored.anchored(x)
    born = ring & (y[:, -1:] > 0)
    assert int(born.sum()) == 24
    assert torch.equal(y[:, -1:][born], start[:, -1:][born].clamp(0, 1))  # the anchor's depth, exactly
    inside = x[:, -1:] > 0
    assert not torch.equal(y[:, -1:][inside], x[:, -1:][inside])  # the head still moves the surface's own returns
    assert not torch.equal(y[:, :1][born], start[:, :1][born])  # and the rings' colour
    learned = _perturbed("[1, 0]")(x, stochastic=False)
    assert not torch.allclose(learned[:, -1:][born], start[:, -1:][born])  # the default: the head moves them
    y.sum().backward()
    assert bool((anchored.ring_anchor_power.grad != 0).all())  # the anchor's exponent stays learned


def test_a_bad_ring_depth_names_the_key() -> None:
    from volo_adapt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.sensor\.ring_depth"):
        load_config("smoke", [*ANCHORED, "model.sensor.ring_depth=fixed"])
