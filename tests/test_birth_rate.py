"""The birth-rate term (volo_adapt.birth_rate): the share of new-return candidates a translation should fill, the
loss and the direction of its gradient, its wiring through the generator, the objective and the config."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.birth_rate import BIRTH_RATE_FLOOR, birth_rate_loss, wanted_birth_share
from volo_adapt.build import build_codec, build_critic, build_generator
from volo_adapt.config import load_config
from volo_adapt.errors import ConfigError
from volo_adapt.models.sensor_head import ReturnDecisions
from volo_adapt.return_statistics import ReturnRateReference
from volo_adapt.training.objective import CycleObjective, Networks

GAP = 0.05
ANCHORED = ["model.generator=resnet9", "model.gen_kwargs={n_blocks: 1}", f"data.depth_gap={GAP}",
            "model.sensor.residual=true", "model.sensor.validity=depth", "model.sensor.reach=0.2",
            "model.sensor.new_returns=anchored", "model.critic=patchgan", "model.critic_kwargs={n_layers: 1}"]


def half_scene(b: int = 2, s: int = 16) -> torch.Tensor:
    """``(b, 4, s, s)``: the left half a surface (encoded 0.5 everywhere), the right half no return."""
    x = torch.zeros(b, 4, s, s)
    x[..., : s // 2] = 0.5
    return x


def test_the_wanted_share_makes_up_the_returns_the_kept_ones_leave_and_stays_in_zero_to_one():
    x = half_scene(b=1, s=4)  # 8 returns, 8 candidates
    cand = x[:, -1:] == 0
    kept_all, kept_half = torch.ones(1, 1, 4, 4), torch.ones(1, 1, 4, 4)
    kept_half[..., :2, :2] = 0.0  # 4 of the 8 source returns dropped
    assert float(wanted_birth_share(x, kept_all, cand, 1.25, GAP)) == pytest.approx(2 / 8)
    assert float(wanted_birth_share(x, kept_half, cand, 1.25, GAP)) == pytest.approx(6 / 8)  # births make up drops
    assert float(wanted_birth_share(x, kept_all, cand, 0.5, GAP)) == 0.0  # fewer returns wanted than kept: none
    assert float(wanted_birth_share(x, kept_all, cand, 4.0, GAP)) == 1.0  # more than there are candidates: all
    assert float(wanted_birth_share(x, kept_all, torch.zeros_like(cand), 1.25, GAP)) == 0.0  # no candidate


def test_the_loss_is_zero_at_the_wanted_share_and_grows_with_the_distance():
    x = half_scene(b=1, s=4)
    cand = x[:, -1:] == 0
    losses = []
    for born in (2, 4, 8):  # the wanted share is 2 / 8 at ratio 1.25
        returned = torch.ones(1, 1, 4, 4)
        returned[..., 2:][cand[..., 2:]] = 0.0
        returned.view(-1)[[i for i in range(16) if cand.view(-1)[i]][:born]] = 1.0
        losses.append(float(birth_rate_loss(x, ReturnDecisions(None, returned, cand), 1.25, GAP)))
    assert losses[0] == 0.0 and 0 < losses[1] < losses[2]
    assert losses[2] == pytest.approx((1 - 0.25) ** 2 / (0.25 * 0.75 + BIRTH_RATE_FLOOR))
    with pytest.raises(ValueError, match="new_returns: anchored"):
        birth_rate_loss(x, ReturnDecisions(None, None, None), 1.25, GAP)


def test_the_reference_ratio_is_the_targets_returns_per_source_return():
    ref = ReturnRateReference(GAP)
    assert ref.return_ratio("B") == 1.0  # nothing seen yet
    a = half_scene()
    b = torch.zeros_like(a)
    b[..., :12] = 0.5  # 12 columns of returns against the source's 8
    ref.update(a, b)
    assert ref.return_ratio("B") == pytest.approx(1.5) and ref.return_ratio("A") == pytest.approx(1 / 1.5)


def _objective(*overrides: str) -> tuple[CycleObjective, ReturnRateReference]:
    cfg = load_config("smoke", [*ANCHORED, *overrides])
    torch.manual_seed(0)
    nets = Networks(build_generator(cfg.model, cfg.data), build_generator(cfg.model, cfg.data),
                    build_critic(cfg.model), build_critic(cfg.model))
    ref = ReturnRateReference(GAP)
    return CycleObjective(nets, cfg.loss, build_codec(cfg.data), return_reference=ref), ref


@pytest.mark.parametrize(("birth_offset", "ratio_columns", "descent_raises"), [(1.0, 8, False), (-1.0, 12, True)])
def test_the_terms_gradient_moves_the_birth_logit_towards_the_targets_count(
        birth_offset: float, ratio_columns: int, descent_raises: bool) -> None:
    """Every candidate born but the target has no more returns than the source: descent lowers the head's birth
    logit; none born but the target has half again as many: descent raises it. The keep logit is not its business."""
    objective, ref = _objective("loss.birth_rate_weight=1.0")
    a = half_scene()
    b = torch.zeros_like(a)
    b[..., :ratio_columns] = 0.5
    ref.update(a, b)
    gen = objective.nets.gen_a2b
    birth = 4 * (1 + len(gen.bases(a)))  # the new-return logit: after correction and blends
    with torch.no_grad():
        gen.head.bias[birth] = gen.birth_prior + birth_offset  # mask logit +-1 at every candidate
    terms, _ = objective.generator_losses(a, b)
    assert float(terms["birth_B"]) > 1.0  # all born against none wanted, or the other way round
    gen.zero_grad()
    objective.weighted({"birth_B": terms["birth_B"]}).backward()
    grad = float(gen.head.bias.grad[birth])
    assert (grad < 0) if descent_raises else (grad > 0)


def test_without_the_weight_the_term_reports_zero():
    objective, _ = _objective()
    a = half_scene()
    terms, _ = objective.generator_losses(a, a)
    assert float(terms["birth_B"]) == 0.0 and float(terms["birth_A"]) == 0.0


def test_the_term_needs_anchored_new_returns_and_a_non_negative_weight():
    with pytest.raises(ConfigError, match=r"^loss\.birth_rate_weight: needs model\.sensor\.new_returns=anchored"):
        load_config("smoke", ["loss.birth_rate_weight=1"])
    with pytest.raises(ConfigError, match=r"loss\.birth_rate_weight: must be >= 0"):
        load_config("smoke", [*ANCHORED, "loss.birth_rate_weight=-1"])
