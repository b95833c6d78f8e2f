"""models/pinholes.py and the sensor head's pinhole fill / drop (model.sensor.pinhole_rates)."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.build import build_generator
from volo_adapt.config import load_config
from volo_adapt.data.sample import DepthCodec
from volo_adapt.models import sensor_head
from volo_adapt.models.pinholes import (
    LOGIT_BOUND,
    bounded_logit,
    box_majority,
    fill_and_drop,
    pinhole_rate,
    surrounded,
    valid_neighbours,
)

GAP = 0.05


def codec_batch(b: int = 2, s: int = 16) -> torch.Tensor:
    """A smooth surface in codec units (valid depth in [gap, 1]) with a background band and 3 % pinholes."""
    g = torch.Generator().manual_seed(0)
    depth = 1.0 + 0.5 * torch.rand(b, 1, 1, 1, generator=g) + torch.linspace(0, 1, s).view(1, 1, 1, s)
    depth = depth.expand(b, 1, s, s).clone()
    depth[:, :, : s // 4] = 0.0  # background rows
    depth[torch.rand(depth.shape, generator=g) < 0.03] = 0.0  # pinholes
    rgb = torch.rand(b, 3, s, s, generator=g) * (depth > 0)
    return torch.cat([rgb, DepthCodec(near=0.25, far=5.0, gap=GAP).encode(depth)], 1)

ANCHORED = ["model.generator=resnet9", "model.gen_kwargs={n_blocks: 1}", f"data.depth_gap={GAP}",
            "model.sensor.residual=true", "model.sensor.validity=depth", "model.sensor.noise=true",
            "model.sensor.reach=0.1", "model.sensor.new_returns=anchored"]


def _generator(rates: str, direction: str = "a2b"):
    cfg = load_config("smoke", [*ANCHORED, f"model.sensor.pinhole_rates={rates}"])
    torch.manual_seed(0)
    return build_generator(cfg.model, cfg.data, direction)


def test_surrounded_counts_in_image_neighbours_and_six_of_eight_make_a_pinhole() -> None:
    v = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    v[0, 0, 3, 3] = False  # a single hole
    v[0, 0, 5, 5] = v[0, 0, 5, 6] = False  # a pair: each has 7 valid neighbours
    assert valid_neighbours(v)[0, 0, 0, 0] == 3 and valid_neighbours(v)[0, 0, 3, 3] == 8
    holes = surrounded(v) & ~v
    assert holes[0, 0, 3, 3] and holes[0, 0, 5, 5] and holes[0, 0, 5, 6] and int(holes.sum()) == 3
    block = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    block[0, 0, 3:5, 3:5] = False  # a 2x2 hole: 5 valid neighbours each, not a pinhole
    assert not (surrounded(block) & ~block).any() and pinhole_rate(block) == 0.0
    assert pinhole_rate(torch.zeros(1, 1, 8, 8, dtype=torch.bool)) == 0.0  # nothing surrounded


def test_fill_and_drop_turn_one_rate_into_the_other() -> None:
    assert fill_and_drop(0.01, 0.0) == (1.0, 0.0) and fill_and_drop(0.01, 0.01) == (0.0, 0.0)
    p, _ = fill_and_drop(0.008, 0.002)
    assert 0.008 * (1 - p) == pytest.approx(0.002)
    _, q = fill_and_drop(0.002, 0.01)
    assert 0.002 + (1 - 0.002) * q == pytest.approx(0.01)
    assert bounded_logit(0.0) == -LOGIT_BOUND and bounded_logit(1.0) == LOGIT_BOUND and bounded_logit(0.5) == 0.0


def test_without_rates_the_generator_is_unchanged_and_has_no_pinhole_parameters() -> None:
    g = _generator("[]")
    assert not hasattr(g, "fill_logit") and not hasattr(g, "drop_logit")
    x = codec_batch(s=32)
    assert torch.equal(g(x), x)


def test_fewer_target_pinholes_fill_source_pinholes_at_the_surfaces_depth() -> None:
    x = codec_batch(b=4, s=32)
    pin = surrounded(x[:, -1:] >= GAP / 2) & (x[:, -1:] < GAP / 2)
    assert pin.sum() > 20
    g = _generator("[0.01, 0.0]")  # a2b: the target has none -> fill every one (p = 1, logit +6)
    assert g.fill_logit.item() == LOGIT_BOUND and not hasattr(g, "drop_logit")
    y = g(x, stochastic=False)
    start, _ = g.anchored(x)
    assert torch.all(y[:, -1:][pin] >= GAP) and torch.allclose(y[:, -1:][pin], start[:, -1:][pin])
    assert torch.equal(y[:, -1:][~pin], x[:, -1:][~pin])  # nothing else changes
    b2a = _generator("[0.01, 0.0]", "b2a")  # the other direction's source has fewer: it drops instead
    assert hasattr(b2a, "drop_logit") and not hasattr(b2a, "fill_logit")


def test_a_fill_probability_is_a_bernoulli_draw_and_the_deterministic_output_keeps_the_majority() -> None:
    x = codec_batch(b=8, s=32)
    pin = surrounded(x[:, -1:] >= GAP / 2) & (x[:, -1:] < GAP / 2)
    g = _generator("[0.01, 0.0075]")  # p = 0.25
    torch.manual_seed(1)
    filled = torch.stack([(g(x)[:, -1:][pin] >= GAP).float().mean() for _ in range(20)]).mean()
    assert 0.18 < filled < 0.32
    assert not (g(x, stochastic=False)[:, -1:][pin] >= GAP).any()  # p < 0.5: no fill without noise


def test_more_target_pinholes_drop_surrounded_valid_pixels_at_that_rate_with_a_gradient() -> None:
    x = codec_batch(b=8, s=32)
    around_valid = surrounded(x[:, -1:] >= GAP / 2) & (x[:, -1:] >= GAP / 2)
    g = _generator("[0.0, 0.2]")  # q = 0.2
    torch.manual_seed(2)
    y = g(x)
    dropped = (y[:, -1:][around_valid] < GAP / 2).float().mean()
    assert 0.15 < dropped < 0.25
    assert torch.equal(y[y[:, -1:].expand_as(y) < GAP / 2], torch.zeros_like(y[y[:, -1:].expand_as(y) < GAP / 2]))
    assert torch.equal(g(x, stochastic=False), x)  # q < 0.5: the deterministic output drops nothing
    y.sum().backward()
    assert g.drop_logit.grad is not None and g.drop_logit.grad != 0


@pytest.mark.parametrize("sets", [["model.sensor.pinhole_rates=[0.1]"], ["model.sensor.pinhole_rates=[0.1, 1.5]"],
                                  ["model.sensor.pinholes=sometimes"]])
def test_bad_pinhole_settings_name_the_key(sets: list[str]) -> None:
    from volo_adapt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.sensor\.pinhole"):
        load_config("smoke", [*ANCHORED, *sets])
    with pytest.raises(ConfigError, match=r"model\.sensor\.pinholes: .*anchored"):
        load_config("smoke", ["model.sensor.pinholes=auto"])


def test_a_second_pass_fills_what_the_first_fills_left_surrounded() -> None:
    depth = torch.full((1, 1, 16, 16), 2.0)
    depth[:, :, :4] = 0.0  # background band
    t_shape = ((8, 6), (8, 7), (8, 8), (9, 7))  # a T of four holes: only its two arms are surrounded at first
    for r, c in t_shape:
        depth[:, :, r, c] = 0.0
    rgb = torch.full((1, 3, 16, 16), 0.5) * (depth > 0)
    x = torch.cat([rgb, DepthCodec(near=0.25, far=5.0, gap=GAP).encode(depth)], 1)
    y = _generator("[0.01, 0.0]")(x, stochastic=False)
    assert all(y[0, -1, r, c] >= GAP for r, c in t_shape)
    assert torch.equal(y[:, -1, :4], x[:, -1, :4])  # the background stays empty


def test_pinhole_drops_add_to_learned_drops_instead_of_replacing_them_on_surrounded_returns() -> None:
    cfg = load_config("smoke", [*ANCHORED, "model.sensor.pinhole_rates=[0.0, 0.2]", "model.sensor.drops=learned"])
    torch.manual_seed(0)
    g = build_generator(cfg.model, cfg.data, "a2b")
    x = codec_batch(b=8, s=32)
    valid = x[:, -1:] >= GAP / 2
    around_valid = surrounded(valid) & valid
    torch.manual_seed(2)
    y = g(x)  # keep logits untrained (keep everything): only the pinhole draw drops, at about its rate q = 0.2
    assert 0.15 < (y[:, -1:][around_valid] < GAP / 2).float().mean() < 0.25
    assert (y[:, -1:][valid & ~surrounded(valid)] >= GAP / 2).all()  # edge returns: no pinhole draw
    with torch.no_grad():
        g.keep_by_depth.fill_(-1.0)  # every depth bin says "drop": surrounded returns go too, not only edge ones
    y = g(x)
    assert around_valid.any() and not (y[:, -1:][valid] >= GAP / 2).any()


def test_box_majority_removes_single_disagreeing_pixels_but_keeps_a_straight_boundary() -> None:
    among = torch.ones(1, 1, 8, 8, dtype=torch.bool)
    decision = torch.zeros_like(among)
    decision[..., 4:] = True  # a straight boundary between "no" (left) and "yes" (right)
    assert torch.equal(box_majority(decision, among), decision)
    salted = decision.clone()
    salted[0, 0, 2, 6] = False  # one "no" inside the "yes" region, one "yes" inside the "no" region
    salted[0, 0, 5, 1] = True
    assert torch.equal(box_majority(salted, among), decision)
    voters = among.clone()
    voters[..., :, :2] = False  # pixels outside `among` neither vote nor get a result
    assert not box_majority(torch.ones_like(among), voters)[..., :2].any()


def test_keep_majority_turns_scattered_keep_decisions_into_their_neighbourhoods_majority() -> None:
    sets = [*ANCHORED, "model.sensor.drops=learned"]
    g = torch.Generator().manual_seed(0)
    depth = 1.44 + 0.03 * torch.randn(2, 1, 32, 32, generator=g)  # noise across the edge between two depth bins
    depth[..., :8, :] = 0.0  # background rows
    rgb = torch.full((2, 3, 32, 32), 0.5) * (depth > 0)
    x = torch.cat([rgb, DepthCodec(near=0.25, far=5.0, gap=GAP).encode(depth)], 1)
    valid = x[:, -1:] >= GAP / 2
    outs = {}
    for majority in (False, True):
        cfg = load_config("smoke", [*sets, f"model.sensor.keep_majority={str(majority).lower()}"])
        torch.manual_seed(0)
        g = build_generator(cfg.model, cfg.data, "a2b")
        with torch.no_grad():  # keep the bin below 1.44 m, drop the bin above: a scatter of single holes and returns
            g.keep_by_depth.zero_()
            g.keep_by_depth[2] = -1.0
        outs[majority] = g(x, stochastic=False)[:, -1:] >= GAP / 2
    plain, smooth = outs[False], outs[True]
    assert torch.equal(smooth, box_majority(plain & valid, valid))  # the plain decisions, majority-filtered
    from volo_adapt.metrics.depth_stats import subject_mask
    from volo_adapt.metrics.speckle import isolated_holes

    assert not torch.equal(smooth, plain)
    assert isolated_holes(smooth, subject_mask(valid)).sum() < isolated_holes(plain, subject_mask(valid)).sum()
    with pytest.raises(Exception, match=r"model\.sensor\.keep_majority"):
        load_config("smoke", [*ANCHORED, "model.sensor.keep_majority=true"])


def test_output_fill_pass_fills_holes_that_the_outputs_returns_surround() -> None:
    depth = torch.full((1, 1, 16, 16), 2.0)
    depth[:, :, :4] = 0.0  # background band
    depth[:, :, 8:10, 6:8] = 0.0  # a 2x2 hole: 5 valid neighbours each, never a source pinhole
    rgb = torch.full((1, 3, 16, 16), 0.5) * (depth > 0)
    x = torch.cat([rgb, DepthCodec(near=0.25, far=5.0, gap=GAP).encode(depth)], 1)
    for mode, filled in (("source", False), ("output", True)):
        cfg = load_config("smoke", [*ANCHORED, "model.sensor.pinhole_rates=[0.01, 0.0]",
                                    f"model.sensor.pinhole_fill={mode}"])
        g = build_generator(cfg.model, cfg.data, "a2b")
        _, ring = g.anchored(x)
        logit = torch.zeros(1, 1, 16, 16)  # the head's return logit: no births (0 - birth_prior < 0) ...
        assert not g.return_mask(x, ring, logit, None)[..., 8:10, 6:8].any()
        logit[..., 8, 6] = g.birth_prior + 1.0  # ... except one pixel of the hole: the other three are surrounded
        mask = g.return_mask(x, ring, logit, None)
        assert mask[..., 8, 6] == 1 and bool(mask[..., 8:10, 6:8].all()) is filled
        assert not mask[..., :4, :][ring[..., :4, :]].any()  # the background gets no return


def test_output_fill_repeats_until_the_holes_its_fills_surround_are_decided(monkeypatch) -> None:
    depth = torch.full((1, 1, 16, 16), 2.0)
    depth[:, :, :4] = 0.0  # background band
    depth[:, :, 8:11, 6:9] = 0.0  # a 3x3 hole: no pixel of it surrounded in the input
    rgb = torch.full((1, 3, 16, 16), 0.5) * (depth > 0)
    x = torch.cat([rgb, DepthCodec(near=0.25, far=5.0, gap=GAP).encode(depth)], 1)
    cfg = load_config("smoke", [*ANCHORED, "model.sensor.pinhole_rates=[0.01, 0.0]",
                                "model.sensor.pinhole_fill=output"])
    g = build_generator(cfg.model, cfg.data, "a2b")
    _, ring = g.anchored(x)
    logit = torch.zeros(1, 1, 16, 16)
    logit[..., 9, 7] = g.birth_prior + 1.0  # one birth, the hole's centre: the four corners become surrounded
    assert sensor_head.LATE_FILL_PASSES >= 2
    assert bool(g.return_mask(x, ring, logit, None)[..., 8:11, 6:9].all())  # then the edges: all filled
    monkeypatch.setattr(sensor_head, "LATE_FILL_PASSES", 1)
    once = g.return_mask(x, ring, logit, None)[0, 0, 8:11, 6:9]
    assert int(once.sum()) == 5 and bool(once[0, 0]) and not once[0, 1]  # one pass: the centre and the corners


@pytest.mark.parametrize("rates", ["[0.01, 0.0]", "[0.0, 0.2]"])
def test_random_pinholes_ignore_the_heads_return_logit(rates: str) -> None:
    x = codec_batch(b=4, s=32)
    valid = x[:, -1:] >= GAP / 2
    changed = {}
    for where in ("learned", "random"):
        cfg = load_config("smoke", [*ANCHORED, f"model.sensor.pinhole_rates={rates}",
                                    f"model.sensor.pinhole_where={where}"])
        g = build_generator(cfg.model, cfg.data, "a2b")
        _, ring = g.anchored(x)
        draws = {"uniform": torch.rand(x[:, :1].shape, generator=torch.Generator().manual_seed(3))}
        masks = [g.return_mask(x, ring, torch.full_like(x[:, :1], v), draws) for v in (0.0, -20.0)]
        changed[where] = not torch.equal(masks[0], masks[1])
        flips = (masks[0] > 0) != valid  # filled pinholes or dropped returns at logit 0
        assert flips.any()
    assert changed == {"learned": True, "random": False}
