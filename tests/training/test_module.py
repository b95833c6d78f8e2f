"""Tests for volo_adapt/training/module.py: attributes, checkpoint keys, and the two gradient routings."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from volo_adapt.config import load_config
from volo_adapt.training.module import OPTIMIZER_ORDER, VoloGANModule
from volo_adapt.training.objective import CycleObjective


def _module(*overrides: str) -> VoloGANModule:
    cfg = load_config(
        "smoke",
        ["model.gen_kwargs={levels: 3, dropout: 0.0}", "model.critic_kwargs={n_down: 2, dropout: 0.0}", *overrides],
    )
    torch.manual_seed(0)
    m = VoloGANModule(cfg)
    m.eval()  # deterministic forward: no dropout, no spectral-norm power iteration
    return m


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(2, 4, 32, 32, generator=g), torch.rand(2, 4, 32, 32, generator=g)


def test_attributes_and_state_dict_prefixes():
    m = _module("optim.ema_decay=0.99")
    prefixes = {k.split(".")[0] for k in m.state_dict()}
    assert prefixes == {"gen_a2b", "gen_b2a", "critic_a", "critic_b", "gen_a2b_ema", "gen_b2a_ema"}
    assert not any(p.requires_grad for p in m.gen_a2b_ema.parameters())
    assert m.gen_a2b_ema.state_dict().keys() == m.gen_a2b.state_dict().keys()
    no_ema = _module("optim.ema_decay=0.0")
    assert not hasattr(no_ema, "gen_a2b_ema") and not no_ema.ema_enabled
    assert OPTIMIZER_ORDER == ("generators", "critics")


def _grads(loss: torch.Tensor, net: torch.nn.Module) -> list[torch.Tensor]:
    params = list(net.parameters())
    gs = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params, strict=True)]


def test_vologan_routing_gives_each_generator_only_its_own_total():
    m = _module("loss.routing=vologan")
    a, b = _batch()
    routed, _ = m.generator_losses(a, b)
    textbook = CycleObjective(m.networks, dataclasses.replace(m.cfg.loss, routing="cyclegan"), m.codec)
    plain, _ = textbook.generator_losses(a, b)  # same forward values, no detach: the original's tape gradients
    for got, want in zip(_grads(routed["total"], m.gen_a2b), _grads(plain["total_B"], m.gen_a2b), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    for got, want in zip(_grads(routed["total"], m.gen_b2a), _grads(plain["total_A"], m.gen_b2a), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    # and the textbook total differs: the A->B->A cycle also pulls on gen_a2b
    diff = sum(float((x - y).abs().sum()) for x, y in zip(
        _grads(plain["total"], m.gen_a2b), _grads(plain["total_B"], m.gen_a2b), strict=True))
    assert diff > 0


def test_loss_terms_and_weights():
    m = _module("loss.identity_weight=0", "loss.ssim_weight=0")
    a, b = _batch()
    terms, images = m.generator_losses(a, b)
    assert float(terms["id_A"]) == 0.0 and float(terms["ssim_B"]) == 0.0
    torch.testing.assert_close(terms["total_B"], terms["adv_B"] + 10.0 * terms["cycle_B"])
    assert images["fake_B"].shape == a.shape
    d = m.critic_losses(a, b, images["fake_A"], images["fake_B"])
    torch.testing.assert_close(d["total"], d["A"] + d["B"])


def test_on_save_checkpoint_adds_the_volo_block():
    import volo_adapt

    m = _module()
    ckpt: dict = {}
    m.on_save_checkpoint(ckpt)
    assert ckpt["volo"]["format"] == 1 and ckpt["volo"]["volo_version"] == volo_adapt.__version__
    assert ckpt["volo"]["config"] == m.cfg.to_dict()
    assert ckpt["volo_train_state"]["batches_done"] == 0


@pytest.mark.parametrize(("schedule", "expected"), [("constant", [1.0, 1.0, 1.0]), ("warmup_cosine", None)])
def test_schedulers_step_per_batch(schedule, expected):
    m = _module(f"optim.schedule={schedule}", "train.max_steps=4", "train.max_epochs=2", "optim.warmup_epochs=1")
    (opt_g, opt_d), (sch_g, sch_d) = m.configure_optimizers()
    lrs = []
    for _ in range(3):
        lrs.append(opt_g.param_groups[0]["lr"] / 2e-4)
        sch_g.step()
    if expected is not None:
        assert lrs == pytest.approx(expected)
    else:  # 4 planned batches over 2 epochs, 1 warm-up epoch: midpoints at 0.25, 0.75, 1.25 epochs
        assert lrs == pytest.approx([0.25, 0.75, 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 0.25)).item())])
    assert isinstance(opt_g, torch.optim.NAdam) and isinstance(opt_d, torch.optim.SGD)
    assert [len(g["params"]) > 0 for g in opt_g.param_groups] == [True, True]


def test_schedules_advance_exactly_as_step_would_and_without_a_warning():
    """``BatchLambdaLR.advance`` (what training_step calls) gives the values ``LambdaLR.step`` gave (same
    ``last_epoch``, same ``lr`` in every group, bit for bit) without warning before the optimiser's first step (the
    generators' schedule during the critic warm-up)."""
    import warnings

    overrides = ("optim.schedule=warmup_cosine", "train.max_steps=6", "train.max_epochs=2", "optim.warmup_epochs=1")
    _, schedules = _module(*overrides).configure_optimizers()
    _, reference = _module(*overrides).configure_optimizers()
    for _ in range(6):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for sch in schedules:
                sch.advance()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # step() before any optimiser step: the warning this avoids
            for sch in reference:
                sch.step()
        for sch, ref in zip(schedules, reference, strict=True):
            assert sch.last_epoch == ref.last_epoch
            assert [g["lr"] for g in sch.optimizer.param_groups] == [g["lr"] for g in ref.optimizer.param_groups]
            assert sch.get_last_lr() == ref.get_last_lr()
    assert schedules[0].state_dict().keys() == reference[0].state_dict().keys()


SENSOR = ["model.sensor.residual=true", "model.sensor.validity=sampled", "model.sensor.noise=true"]


def _codec_batch(m: VoloGANModule) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(5)
    out = []
    for offset in (1.0, 2.0):
        depth = offset + torch.rand(2, 1, 32, 32, generator=g)
        depth[:, :, :6] = 0.0
        rgb = torch.rand(2, 3, 32, 32, generator=g) * (depth > 0)
        out.append(torch.cat([rgb, m.codec.encode(depth)], 1))
    return out[0], out[1]


def test_sensor_noise_is_sampled_for_the_critic_but_never_in_reconstructions():
    m = _module(*SENSOR)
    for g in (m.gen_a2b, m.gen_b2a):
        with torch.no_grad():
            g.noise_strength.fill_(0.05)
            g.validity_temperature.fill_(1.0)
            g.head.weight.normal_(0, 0.1)
    a, b = _codec_batch(m)
    torch.manual_seed(1)
    t1, i1 = m.generator_losses(a, b)
    torch.manual_seed(2)
    t2, i2 = m.generator_losses(a, b)
    assert not torch.equal(i1["fake_B"], i2["fake_B"])  # the critic sees samples
    assert float(t1["id_A"]) == float(t2["id_A"]) and float(t1["id_B"]) == float(t2["id_B"])  # identity: no noise


def test_kept_mask_excuses_pixels_the_translation_dropped():
    m = _module(*SENSOR, "loss.reconstruction_mask=kept", "loss.identity_weight=0", "loss.ssim_weight=0")
    a, b = _codec_batch(m)
    with torch.no_grad():  # gen_a2b drops every return
        w = m.gen_a2b.head
        w.bias[4] = -100.0
    none = _module(*SENSOR, "loss.reconstruction_mask=none", "loss.identity_weight=0", "loss.ssim_weight=0")
    none.load_state_dict(m.state_dict())
    kept_terms, images = m.generator_losses(a, b)
    none_terms, _ = none.generator_losses(a, b)
    assert bool((images["fake_B"] == 0).all())  # everything dropped
    assert float(none_terms["cycle_A"]) > 0.05  # inpainting a fully dropped image back is punished ...
    assert float(kept_terms["cycle_A"]) == 0.0  # ... unless the kept mask excuses what was dropped


def test_time_budget_plans_the_schedule_over_elapsed_time():
    from datetime import timedelta
    from types import SimpleNamespace

    from lightning.pytorch.callbacks import Timer

    m = _module("train.max_time=100s", "optim.schedule=warmup_cosine", "train.max_epochs=10", "optim.warmup_epochs=0")
    timer = Timer(duration=timedelta(seconds=100))
    m._trainer = SimpleNamespace(callbacks=[timer])  # what time_fraction reads from the running trainer
    (opt_g, _), (sch_g, _) = m.configure_optimizers()
    seen = []
    for elapsed in (0.0, 25.0, 50.0, 100.0):
        timer.load_state_dict({"time_elapsed": {"train": elapsed}})  # as after a resume: elapsed time restored
        assert m.progress() == pytest.approx(elapsed / 100)
        sch_g.step()
        seen.append(opt_g.param_groups[0]["lr"] / m.cfg.optim.gen_lr)
    assert seen == pytest.approx([1.0, 0.5 * (1 + torch.cos(torch.tensor(torch.pi * 0.25)).item()), 0.5, 0.0])


def test_return_rate_term_trains_from_running_keep_rates_saved_with_the_module(tiny_data, tmp_path):
    """``loss.return_rate_weight``: the module folds each batch's real images into its ReturnRateReference before
    the generator step, logs ``ret_A`` / ``ret_B``, and the running counts are part of its state (checkpoints)."""
    from tests.test_return_statistics import DROPS
    from tests.training.conftest import one_smoke_batch

    losses, state = one_smoke_batch(tiny_data, tmp_path / "ret", "optim.critic_warmup=0", *DROPS,
                                    "loss.return_rate_weight=1.0")
    assert losses["loss/G/ret_B"] > 0 and "loss/G/ret_A" in losses
    assert int(state["return_reference.seen"]) == 1 and state["return_reference.hist_b"].sum() > 0
    _, plain = one_smoke_batch(tiny_data, tmp_path / "plain", "optim.critic_warmup=0", *DROPS)
    assert not any(k.startswith("return_reference") for k in plain)  # off: no extra state in checkpoints
