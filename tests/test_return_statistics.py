"""The return-rate term (volo_adapt.return_statistics): per-bin return counts, the running keep rates of the two
domains, the loss and its gradient, and its wiring through the generator, the objective and the config."""

from __future__ import annotations

import math

import pytest
import torch

from volo_adapt.build import build_codec, build_critic, build_generator
from volo_adapt.config import load_config
from volo_adapt.data.sample import DepthCodec
from volo_adapt.errors import ConfigError
from volo_adapt.return_statistics import (
    KEEP_RATE_PRIOR,
    RETURN_BINS,
    RETURN_FEATURES,
    ReturnRateReference,
    feature_bins,
    return_histogram,
    return_rate_loss,
)
from volo_adapt.training.objective import CycleObjective, Networks

GAP = 0.05
CODEC = DepthCodec(near=0.25, far=5.0, gap=GAP)
DROPS = ["model.generator=resnet9", "model.gen_kwargs={n_blocks: 1}", f"data.depth_gap={GAP}",
         "model.sensor.residual=true", "model.sensor.validity=depth", "model.sensor.reach=0.1",
         "model.sensor.new_returns=anchored", "model.sensor.drops=learned"]


def scene(near_m: float, far_m: float, s: int = 16, b: int = 2, seed: int = 0) -> torch.Tensor:
    """``(b, 4, s, s)`` network images: the left half of each at ``near_m``, the right half at ``far_m`` metres,
    random colour, the top quarter background (0 in every channel)."""
    g = torch.Generator().manual_seed(seed)
    depth = torch.full((b, 1, s, s), near_m)
    depth[..., s // 2:] = far_m
    depth[:, :, : s // 4] = 0.0
    rgb = torch.rand(b, 3, s, s, generator=g) * (depth > 0)
    return torch.cat([rgb, CODEC.encode(depth)], 1)


def far_half_dropped(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a sensor that sees nothing beyond 3 m shows it: the far half invalid in every channel."""
    far = CODEC.decode(x[:, -1:]) > 3.0
    return x * ~far


def test_feature_bins_slice_the_depth_range_evenly():
    x = scene(0.25, 5.0)
    bins = feature_bins(x, GAP)
    assert bins.shape == (2, len(RETURN_FEATURES), 16, 16) and bins.dtype == torch.long
    assert int(bins[0, 0, 8, 0]) == 0 and int(bins[0, 0, 8, -1]) == RETURN_BINS - 1  # near plane, far plane
    assert int(feature_bins(scene(2.7, 2.7), GAP)[0, 0, 8, 0]) == RETURN_BINS // 2  # just past the middle


def test_histogram_counts_returns_per_image_pixel_and_respects_weights():
    x = scene(1.0, 4.0)
    valid = (x[:, -1:] > 0).float()
    h = return_histogram(feature_bins(x, GAP), valid)
    assert h.shape == (len(RETURN_FEATURES), RETURN_BINS)
    assert torch.allclose(h.sum(1), torch.tensor(0.75))  # every return once per feature: 3/4 of the pixels
    assert torch.allclose(return_histogram(feature_bins(x, GAP), valid * 0.5), h * 0.5)


def test_reference_keep_rate_is_the_target_returns_per_source_return_per_bin():
    ref = ReturnRateReference(GAP, momentum=0.5)
    a = scene(1.0, 4.0)
    b = far_half_dropped(a)
    ref.update(a, b)  # the first batch sets the means
    rate = ref.keep_rate("B")
    near_bin = int(feature_bins(a, GAP)[0, 0, 8, 0])
    far_bin = int(feature_bins(a, GAP)[0, 0, 8, -1])
    share = float(ref.hist_a[0, far_bin])  # the far bin's source returns per image pixel
    assert rate[0, near_bin] == 1.0
    assert float(rate[0, far_bin]) == pytest.approx(KEEP_RATE_PRIOR / (share + KEEP_RATE_PRIOR))  # 0 + the prior
    assert float(rate[0, far_bin]) < 0.15
    assert rate[0, 0] == 1.0  # a bin without source returns: nothing to drop
    assert torch.all(ref.keep_rate("A") == 1.0)  # the other way every source return has a target one (capped)
    ref.update(a, a)  # a running mean: half way to "keep everything"
    half = share / 2 + KEEP_RATE_PRIOR
    assert float(ref.keep_rate("B")[0, far_bin]) == pytest.approx(half / (share + KEEP_RATE_PRIOR))
    assert int(ref.seen) == 2
    assert set(ref.state_dict()) == {"hist_a", "hist_b", "seen"}  # saved with the module's checkpoint


def test_a_bin_with_few_source_returns_reads_as_its_nearer_neighbour():
    """The prior: a far bin where the source has a handful of returns and the target none is not evidence enough
    to drop them where the nearer bins are kept (without it such bins dropped what phone_lidar and builtin_lidar
    keep), nor to keep them where the nearer bins are dropped (a prior towards 1 kept tof's farthest bins)."""
    ref = ReturnRateReference(GAP)
    ref.hist_a[0, 7] = KEEP_RATE_PRIOR / 10  # 0.1 % of the pixels; the target none
    ref.hist_a[0, 5] = ref.hist_b[0, 5] = 0.2  # a well-filled bin the target keeps
    assert 0.9 < float(ref.keep_rate("B")[0, 7]) < 1.0
    ref.hist_b[0, 5] = 0.02  # the target keeps a tenth of it
    assert float(ref.keep_rate("B")[0, 5]) == pytest.approx(0.03 / 0.21)
    assert float(ref.keep_rate("B")[0, 6]) == pytest.approx(0.03 / 0.21)  # no evidence at all: the nearer bin's
    assert float(ref.keep_rate("B")[0, 7]) == pytest.approx(0.03 / 0.21 / 1.1)  # little: close to it, below 1/2


def test_running_means_saved_with_another_bin_count_are_re_estimated_not_refused():
    old = {"hist_a": torch.rand(1, 16), "hist_b": torch.rand(1, 16), "seen": torch.tensor(40)}
    ref = ReturnRateReference(GAP)
    ref.load_state_dict(old)  # strict: no missing or unexpected keys either
    assert int(ref.seen) == 0 and ref.hist_a.shape == (len(RETURN_FEATURES), RETURN_BINS)
    ref.update(scene(1.0, 4.0), scene(1.0, 4.0))
    assert torch.all(ref.keep_rate("B") == 1.0)  # the first batch set the means


def kl_to_half(k: float) -> float:
    """KL(Bernoulli(k) || Bernoulli(1/2)), nats."""
    return k * math.log(2 * k) + (1 - k) * math.log(2 * (1 - k))


def test_loss_is_the_mean_kl_to_the_bin_rates_and_pushes_each_return_its_own_way():
    a = scene(1.0, 4.0)
    valid = a[:, -1:] > 0
    far = CODEC.decode(a[:, -1:]) > 3.0
    rate = torch.ones(len(RETURN_FEATURES), RETURN_BINS)
    far_bin = int(feature_bins(a, GAP)[0, 0, 8, -1])
    near_bin = int(feature_bins(a, GAP)[0, 0, 8, 0])
    rate[0, far_bin], rate[0, near_bin] = 0.2, 0.9
    at_rate = torch.where(far, torch.logit(torch.tensor(0.2)), torch.logit(torch.tensor(0.9)))
    assert float(return_rate_loss(a, at_rate, rate, GAP)) == pytest.approx(0.0, abs=1e-6)
    logit = torch.zeros(2, 1, 16, 16, requires_grad=True)  # probability 1/2 everywhere
    loss = return_rate_loss(a, logit, rate, GAP)
    assert float(loss) == pytest.approx((kl_to_half(0.2) + kl_to_half(0.9)) / 2, rel=1e-5)  # half in each bin
    loss.backward()
    assert torch.all(logit.grad[far & valid] > 0)  # descent lowers the far returns' logits (rate 0.2 < 1/2)
    assert torch.all(logit.grad[~far & valid] < 0)  # and raises the near ones'
    assert torch.all(logit.grad[~valid] == 0)  # pixels without a source return are not its business


def test_generator_returns_its_keep_logit_only_when_asked():
    cfg = load_config("smoke", DROPS)
    torch.manual_seed(0)
    g = build_generator(cfg.model, cfg.data)
    x = scene(1.0, 4.0)
    y, returns = g(x, stochastic=False, with_returns=True)
    logit = returns.keep_logit
    assert torch.equal(y, g(x, stochastic=False)) and logit.shape == (2, 1, 16, 16)
    assert torch.all(logit == g.validity_prior)  # untrained: every return kept by the prior's margin
    no_drops = build_generator(load_config("smoke", DROPS[:7]).model, cfg.data)  # anchored, drops off: no logit
    assert no_drops(x, with_returns=True)[1].keep_logit is None


def _objective(*overrides: str) -> tuple[CycleObjective, ReturnRateReference]:
    cfg = load_config("smoke", [*DROPS, "model.critic=patchgan", "model.critic_kwargs={n_layers: 1}", *overrides])
    torch.manual_seed(0)
    nets = Networks(build_generator(cfg.model, cfg.data), build_generator(cfg.model, cfg.data),
                    build_critic(cfg.model), build_critic(cfg.model))
    ref = ReturnRateReference(GAP)
    return CycleObjective(nets, cfg.loss, build_codec(cfg.data), return_reference=ref), ref


def test_objective_adds_the_weighted_term_and_its_gradient_reaches_the_return_logit():
    objective, ref = _objective("loss.return_rate_weight=2.0")
    a = scene(1.0, 4.0)
    b = far_half_dropped(scene(1.0, 4.0, seed=1))
    ref.update(a, b)
    terms, _ = objective.generator_losses(a, b)
    untrained = torch.full((2, 1, 16, 16), objective.nets.gen_a2b.validity_prior)  # the keep logit at the start
    expected = return_rate_loss(a, untrained, ref.keep_rate("B"), GAP)
    assert float(expected) > 0.1  # the far half must go: the term is far from 0
    assert float(terms["ret_B"]) == pytest.approx(float(expected), rel=1e-5)
    alone = objective.weighted({"ret_B": terms["ret_B"]})
    assert float(alone) == pytest.approx(2 * float(expected), rel=1e-5)
    gen = objective.nets.gen_a2b
    gen.zero_grad()
    alone.backward()
    far_bin = int(feature_bins(a, GAP, len(gen.keep_by_depth))[0, 0, 8, -1])
    assert gen.keep_by_depth.grad[far_bin] > 0  # descent lowers the far bin's keep logit (the far half must go)
    birth = 4 * (1 + len(gen.bases(a)))  # the new-return logit: after correction and blends
    assert gen.head.bias.grad is None or gen.head.bias.grad[birth] == 0  # not the term's business


def test_objective_without_the_term_reports_zero_and_ignores_a_reference():
    objective, _ = _objective()
    assert objective.return_reference is None
    a = scene(1.0, 4.0)
    terms, _ = objective.generator_losses(a, far_half_dropped(a))
    assert float(terms["ret_B"]) == 0.0 and float(terms["ret_A"]) == 0.0


def test_the_term_needs_learned_drops():
    with pytest.raises(ConfigError, match=r"^loss\.return_rate_weight: needs model\.sensor\.drops=learned"):
        load_config("smoke", ["loss.return_rate_weight=1"])
    with pytest.raises(ConfigError, match=r"loss\.return_rate_weight: must be >= 0"):
        load_config("smoke", [*DROPS, "loss.return_rate_weight=-1"])


def test_the_term_alone_drops_what_the_target_loses_within_two_hundred_steps_at_the_presets_learning_rate():
    """The return-rate term is the keep logit's only teacher (drops pass no straight-through gradient): alone, at the
    presets' learning rate, it must take every far return below the threshold and leave every near one."""
    cfg = load_config("smoke", [*DROPS, "model.sensor.validity_prior=0.5"])  # the candidate's (docs)
    torch.manual_seed(0)
    g = build_generator(cfg.model, cfg.data)
    ref = ReturnRateReference(GAP)
    a = scene(1.0, 4.0)
    ref.update(a, far_half_dropped(scene(1.0, 4.0, seed=1)))
    rate = ref.keep_rate("B")
    optimizer = torch.optim.Adam(g.parameters(), lr=5e-4, betas=(0.5, 0.999))
    for _ in range(200):  # Adam moves the bin's logit by about 10 x 5e-4 per step: +0.5 reaches 0 after ~100
        loss = return_rate_loss(a, g(a, with_returns=True)[1].keep_logit, rate, GAP)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    kept = g(a, stochastic=False)[:, -1:] > 0
    far = (CODEC.decode(a[:, -1:]) > 3.0) & (a[:, -1:] > 0)
    near = ~far & (a[:, -1:] > 0)
    assert far.any(), "no far returns"
    assert not (kept & far).any(), int((kept & far).sum())
    assert (kept | ~near).all(), int((~kept & near).sum())
