"""volo_adapt/training/objective.py without a Trainer: the loss terms, routing, masks, weights, critic losses and the
split backward of :class:`CycleObjective` on plain networks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from volo_adapt.build import build_codec, build_critic, build_generator
from volo_adapt.config import RunConfig, load_config
from volo_adapt.training.objective import (
    CycleObjective,
    Networks,
    masked,
    parts_share_graph,
    splits_backward,
)

TINY = ["model.gen_kwargs={levels: 3, dropout: 0.0}", "model.critic_kwargs={n_down: 2, dropout: 0.0}"]
"""Smoke networks without dropout: forward passes repeat exactly."""

EVERY_TERM = ["loss.geometry_weight=1.0", "loss.swd_weight=0.5", "loss.reconstruction_mask=kept"]


def _cfg(*overrides: str) -> RunConfig:
    return load_config("smoke", [*TINY, *overrides])


def _nets(cfg: RunConfig) -> Networks:
    torch.manual_seed(0)
    nets = Networks(build_generator(cfg.model, cfg.data), build_generator(cfg.model, cfg.data),
                    build_critic(cfg.model), build_critic(cfg.model))
    for net in nets.all():
        net.eval()  # no spectral-norm power iteration: repeated passes see the same weights
    return nets


def _objective(cfg: RunConfig, nets: Networks | None = None) -> CycleObjective:
    return CycleObjective(nets or _nets(cfg), cfg.loss, build_codec(cfg.data), batch_calls=cfg.train.batch_calls)


def _batch(cfg: RunConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded RGB-D images ``(2, 4, 32, 32)`` with a band of invalid depth (0 in every channel)."""
    codec, g, out = build_codec(cfg.data), torch.Generator().manual_seed(5), []
    for offset in (1.0, 2.0):
        depth = offset + torch.rand(2, 1, 32, 32, generator=g)
        depth[:, :, :6] = 0.0
        rgb = torch.rand(2, 3, 32, 32, generator=g) * (depth > 0)
        out.append(torch.cat([rgb, codec.encode(depth)], 1))
    return out[0], out[1]


class Zeros(nn.Module):
    """A generator that drops everything: every pixel 0 (invalid depth)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


def test_identity_generators_give_zero_cycle_identity_and_geometry_losses():
    cfg = _cfg("loss.geometry_weight=1.0", "loss.colour_anchor_weight=3.0")
    critics = _nets(cfg)
    obj = _objective(cfg, Networks(nn.Identity(), nn.Identity(), critics.critic_a, critics.critic_b))
    a, b = _batch(cfg)
    terms, images = obj.generator_losses(a, b)
    assert torch.equal(images["fake_B"], a) and torch.equal(images["cyc_A"], a)
    for name in ("cycle_A", "cycle_B", "id_A", "id_B", "geo_A", "geo_B", "swd_A", "swd_B", "col_A", "col_B"):
        assert float(terms[name]) == 0.0, name
    for name in ("ssim_A", "ssim_B"):
        assert float(terms[name]) == pytest.approx(0.0, abs=1e-5), name
    torch.testing.assert_close(terms["total_B"], terms["adv_B"] + cfg.loss.ssim_weight * terms["ssim_B"])


def test_each_weight_is_applied_once_and_totals_add_up():
    cfg = _cfg("loss.geometry_weight=2.0", "loss.swd_weight=0.5", "loss.identity_weight=0.25",
               "loss.colour_anchor_weight=4.0")
    obj = _objective(cfg)
    one = torch.tensor(1.0)
    names = ("adv_B", "cycle_A", "id_A", "ssim_A", "geo_B", "swd_B", "col_B")
    assert float(obj.weighted(dict.fromkeys(names, one))) == pytest.approx(1.0 + 10.0 + 0.25 + 1.0 + 2.0 + 0.5 + 4.0)
    terms, _ = obj.generator_losses(*_batch(cfg))
    assert float(terms["col_B"]) > 0  # an untrained generator moves colour
    every = ("adv", "cycle", "id", "ssim", "geo", "swd", "col")
    for d in ("A", "B"):
        want = obj.weighted({f"{n}_{d}": terms[f"{n}_{d}"] for n in every})
        torch.testing.assert_close(terms[f"total_{d}"], want)
    torch.testing.assert_close(terms["total"], terms["total_A"] + terms["total_B"])


def test_disabled_terms_are_zero():
    cfg = _cfg("loss.identity_weight=0", "loss.ssim_weight=0")
    terms, _ = _objective(cfg).generator_losses(*_batch(cfg))
    for name in ("id_A", "id_B", "ssim_A", "ssim_B", "geo_A", "geo_B", "swd_A", "swd_B", "col_A", "col_B"):
        assert float(terms[name]) == 0.0 and terms[name].dtype == torch.float32, name
    torch.testing.assert_close(terms["total_B"], terms["adv_B"] + 10.0 * terms["cycle_B"])


def _grads(loss: torch.Tensor, net: nn.Module) -> list[torch.Tensor]:
    params = list(net.parameters())
    gs = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params, strict=True)]


def test_routing_changes_the_gradients_not_the_values():
    cfg = _cfg()
    nets = _nets(cfg)
    for p in [*nets.critic_a.parameters(), *nets.critic_b.parameters()]:
        p.requires_grad_(False)
    a, b = _batch(cfg)
    routed, _ = _objective(cfg, nets).generator_losses(a, b)
    textbook_loss = dataclasses.replace(cfg.loss, routing="cyclegan")
    plain, _ = CycleObjective(nets, textbook_loss, build_codec(cfg.data)).generator_losses(a, b)
    for k, v in routed.items():
        torch.testing.assert_close(plain[k], v, msg=k)  # one forward, the same numbers
    # vologan: total_B reaches gen_a2b only; cyclegan: the B->A->B cycle also pulls on gen_b2a
    assert all(float(g.abs().sum()) == 0.0 for g in _grads(routed["total_B"], nets.gen_b2a))
    assert sum(float(g.abs().sum()) for g in _grads(plain["total_B"], nets.gen_b2a)) > 0
    for got, want in zip(_grads(routed["total"], nets.gen_a2b), _grads(plain["total_B"], nets.gen_a2b), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


def test_kept_mask_excuses_the_pixels_a_translation_dropped():
    a, b = _batch(_cfg())
    results = {}
    for mask in ("none", "kept"):
        cfg = _cfg(f"loss.reconstruction_mask={mask}", "loss.identity_weight=0")
        critics = _nets(cfg)
        obj = _objective(cfg, Networks(Zeros(), nn.Identity(), critics.critic_a, critics.critic_b))
        results[mask], images = obj.generator_losses(a, b)
        assert bool((images["fake_B"] == 0).all())
    assert float(results["none"]["cycle_A"]) > 0.05  # inpainting a fully dropped image back is punished ...
    assert float(results["kept"]["cycle_A"]) == 0.0  # ... unless the kept mask excuses what was dropped
    assert float(results["kept"]["ssim_A"]) < float(results["none"]["ssim_A"])


def test_masked_zeroes_every_channel_outside_the_mask():
    x, y = torch.ones(1, 4, 2, 2), torch.full((1, 4, 2, 2), 2.0)
    mask = torch.tensor([[[[True, False], [False, True]]]])
    mx, my = masked(x, y, mask)
    assert mx.sum() == 8 and my.sum() == 16 and bool((mx[:, :, 0, 1] == 0).all())
    assert masked(x, y, None) == (x, y)


def test_mask_invalid_uses_the_valid_masks_only_when_enabled():
    a, b = _batch(_cfg())
    none_valid = torch.zeros(2, 1, 32, 32, dtype=torch.bool)
    off = _cfg()
    assert torch.equal(_objective(off).generator_losses(a, b, none_valid, none_valid)[0]["cycle_A"],
                       _objective(off).generator_losses(a, b)[0]["cycle_A"])
    on = _cfg("loss.mask_invalid=true")
    masked_out = _objective(on).generator_losses(a, b, none_valid, none_valid)[0]["cycle_A"]
    assert float(masked_out) != float(_objective(on).generator_losses(a, b)[0]["cycle_A"])


def test_critic_losses_add_up_batched_or_not_and_train_no_generator():
    cfg = _cfg()
    nets = _nets(cfg)
    a, b = _batch(cfg)
    obj = _objective(cfg, nets)
    _, images = obj.generator_losses(a, b)
    d = obj.critic_losses(a, b, images["fake_A"], images["fake_B"])
    torch.testing.assert_close(d["total"], d["A"] + d["B"])
    unbatched = CycleObjective(nets, cfg.loss, build_codec(cfg.data), batch_calls=False)
    d2 = unbatched.critic_losses(a, b, images["fake_A"], images["fake_B"])
    for k in d:
        torch.testing.assert_close(d2[k], d[k], msg=k)
    d["total"].backward()
    assert all(p.grad is None for p in nets.gen_a2b.parameters())  # the fakes are detached
    assert any(p.grad is not None for p in nets.critic_b.parameters())


@pytest.mark.parametrize("routing", ["vologan", "cyclegan"])
def test_split_backward_gives_the_gradients_of_one_backward(routing):
    cfg = _cfg(f"loss.routing={routing}", *EVERY_TERM)
    nets = _nets(cfg)
    for p in [*nets.critic_a.parameters(), *nets.critic_b.parameters()]:
        p.requires_grad_(False)  # as in the generator step
    obj, (a, b) = _objective(cfg, nets), _batch(cfg)

    def grads() -> dict[str, torch.Tensor]:
        out = {f"{i}.{n}": p.grad.clone() for i, net in enumerate(nets.all()) for n, p in net.named_parameters()
               if p.grad is not None}
        for net in nets.all():
            net.zero_grad(set_to_none=True)
        return out

    torch.manual_seed(1)  # the SWD projections are random: the same draws in both passes
    joint, _ = obj.generator_losses(a, b)
    joint["total"].backward()
    want = grads()
    torch.manual_seed(1)
    parts: list[torch.Tensor] = []
    split, _ = obj.generator_losses(a, b, backward=lambda loss: (parts.append(loss.detach()), loss.backward()))
    got = grads()
    assert len(parts) == 3  # cycle from A, cycle from B, identity
    assert float(sum(parts)) == pytest.approx(float(joint["total"]), rel=1e-5)
    for k, v in joint.items():
        assert float(split[k]) == pytest.approx(float(v), rel=1e-5, abs=1e-7), k
    assert set(got) == set(want) and any(k.startswith("1.") for k in got)  # both generators got gradients
    for k, v in want.items():
        torch.testing.assert_close(got[k], v, rtol=1e-4, atol=1e-6, msg=k)


def test_split_backward_plan():
    cfg = _cfg()
    nets = _nets(cfg)  # the smoke networks are spectrally normalised
    assert parts_share_graph(nets, cfg.train) and splits_backward(nets, cfg.train, world_size=1, wanted=True)
    assert not splits_backward(nets, cfg.train, world_size=1, wanted=False)
    assert not splits_backward(nets, cfg.train, world_size=2, wanted=True)  # DDP: one backward
    assert not parts_share_graph(nets, _cfg("train.cache_weights=false").train)
    checkpointed = _cfg("train.activation_checkpointing=true").train
    assert not splits_backward(nets, checkpointed, world_size=1, wanted=True)
    plain = Networks(nn.Identity(), nn.Identity(), nn.Identity(), nn.Identity())
    assert splits_backward(plain, checkpointed, world_size=1, wanted=True)
    assert not parts_share_graph(plain, checkpointed)
