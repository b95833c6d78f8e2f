"""The lean training step computes what the plain step computes: fused/foreach optimisers, spectral-norm weights
computed once per optimiser step, activation checkpointing, channels-last batches, fp32 output layers."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from tests.training.conftest import one_smoke_batch
from volo_adapt.config import load_config
from volo_adapt.errors import ConfigError
from volo_adapt.hardware import resolve_train_precision
from volo_adapt.models import create_generator
from volo_adapt.training import step_mechanics as mechanics


def test_optimizer_flags_pick_fused_where_torch_has_it():
    assert mechanics.optimizer_flags(torch.optim.Adam, "auto") == {"fused": True}
    assert mechanics.optimizer_flags(torch.optim.SGD, "auto") == {"fused": True}
    assert mechanics.optimizer_flags(torch.optim.NAdam, "auto") == {"foreach": True}
    assert mechanics.optimizer_flags(torch.optim.NAdam, "for_loop") == {"foreach": False}
    with pytest.raises(ValueError, match="NAdam has no fused"):
        mechanics.optimizer_flags(torch.optim.NAdam, "fused")


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [(torch.optim.Adam, {"betas": (0.5, 0.999)}), (torch.optim.NAdam, {"betas": (0.5, 0.999)}),
     (torch.optim.SGD, {"momentum": 0.9})],
)
def test_fused_and_foreach_updates_equal_the_for_loop(cls, kwargs):
    torch.manual_seed(0)
    ref = nn.Sequential(nn.Conv2d(4, 8, 3), nn.Conv2d(8, 2, 1))
    x = torch.rand(2, 4, 8, 8)
    results = {}
    for impl in ("for_loop", "foreach", "auto"):
        net = copy.deepcopy(ref)
        opt = cls(net.parameters(), lr=1e-2, **kwargs, **mechanics.optimizer_flags(cls, impl))
        for _ in range(3):
            opt.zero_grad()
            net(x).square().mean().backward()
            opt.step()
        results[impl] = torch.cat([p.detach().flatten() for p in net.parameters()])
    torch.testing.assert_close(results["foreach"], results["for_loop"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(results["auto"], results["for_loop"], rtol=1e-5, atol=1e-6)


def _tiny_vologan(dropout: float = 0.2) -> nn.Module:
    torch.manual_seed(0)
    return create_generator("vologan", 4, 4, base=4, levels=3, dropout=dropout)


def test_weights_once_computes_each_spectral_norm_weight_once():
    g = _tiny_vologan()
    conv = g.head
    u0 = conv.parametrizations.weight[0]._u.clone()
    with mechanics.weights_once(g):
        w1, w2 = conv.weight, conv.weight
        u1 = conv.parametrizations.weight[0]._u.clone()
        g(torch.rand(1, 4, 32, 32))
        g(torch.rand(1, 4, 32, 32))
        assert conv.weight is w1 is w2
        torch.testing.assert_close(conv.parametrizations.weight[0]._u, u1, rtol=0, atol=0)  # no further iteration
    assert not torch.equal(u0, u1)  # one power iteration (train mode)
    assert conv.weight is not w1  # recomputed after the block


def test_weights_once_gives_the_gradient_of_the_plain_calls():
    """In eval mode (no power iteration) caching is the only difference: the gradients must agree."""
    g = _tiny_vologan(dropout=0.0).eval()
    h = copy.deepcopy(g)
    x = torch.rand(2, 4, 32, 32)
    with mechanics.weights_once(g):
        (g(x).sum() + g(x.flip(-1)).square().sum()).backward()
    (h(x).sum() + h(x.flip(-1)).square().sum()).backward()
    for (name, a), b in zip(g.named_parameters(), h.parameters(), strict=True):
        # float rounding differs with the summation order of the CPU's kernels: gradients here reach ~1e3, so the
        # absolute tolerance is relative to each tensor's largest gradient (seen: 1.5e-5 on 205, i.e. 7e-8)
        scale = float(b.grad.abs().max())
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-6 * max(1.0, scale), msg=name)


def _grads(net: nn.Module, x: torch.Tensor, checkpointing: bool) -> list[torch.Tensor]:
    mechanics.set_activation_checkpointing(net, checkpointing)
    torch.manual_seed(1)  # the same dropout masks in both runs
    with mechanics.weights_once(net):
        (net(x) * torch.linspace(0, 1, x.shape[-1])).sum().backward()
    return [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("name", ["vologan", "resnet9", "sensor"])
def test_activation_checkpointing_gives_identical_gradients(name):
    if name == "vologan":
        net = _tiny_vologan()
    elif name == "resnet9":
        torch.manual_seed(0)
        net = create_generator("resnet9", 4, 4, base=4, n_blocks=2, dropout=0.2)
    else:
        from volo_adapt.build import build_generator

        cfg = load_config("smoke", ["model.sensor.residual=true", "model.sensor.validity=sampled",
                                    "model.sensor.noise=true"])
        torch.manual_seed(0)
        net = build_generator(cfg.model, cfg.data)
        nn.init.normal_(net.head.weight, std=0.1)  # a non-trivial head (the residual head starts at 0)
    x = torch.rand(2, 4, 32, 32)
    plain_net = copy.deepcopy(net)
    plain = _grads(plain_net, x, checkpointing=False)
    ckpt = _grads(net, x, checkpointing=True)
    assert mechanics.set_activation_checkpointing(net, True) >= 1
    for a, b in zip(ckpt, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(net.state_dict().values(), plain_net.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)  # same power-iteration state afterwards


def test_checkpointing_is_off_without_gradients():
    g = _tiny_vologan()
    mechanics.set_activation_checkpointing(g, True)
    with torch.no_grad():
        y = g.eval()(torch.rand(1, 4, 32, 32))
    assert y.shape == (1, 4, 32, 32)


def test_output_layer_runs_in_fp32_under_bf16_autocast():
    """Encoded depth must not come out on bf16's grid (2**-8 near 1, about 20 mm with the default range)."""
    x = torch.rand(1, 4, 32, 32)
    for g in (_tiny_vologan(dropout=0.0).eval(),
              create_generator("resnet9", 4, 4, base=4, n_blocks=1).eval()):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            y = g(x)
        assert y.dtype == torch.float32
        assert (y != y.bfloat16().float()).float().mean() > 0.5  # not bf16 values (the error is measured in
        # benchmarks/bench_perf.py: bf16 features still change the output)


def test_to_memory_format_converts_only_float_images():
    batch = {"A": torch.rand(1, 4, 8, 8), "valid_A": torch.ones(1, 1, 8, 8, dtype=torch.bool), "n": 3}
    out = mechanics.to_memory_format(batch, torch.channels_last)
    assert out["A"].is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out["A"], batch["A"])
    assert out["valid_A"] is batch["valid_A"] and out["n"] == 3
    assert mechanics.to_memory_format(batch, torch.contiguous_format) is batch


def test_config_refuses_checkpointing_without_cached_weights():
    with pytest.raises(ConfigError, match="train.activation_checkpointing"):
        load_config("smoke", ["train.activation_checkpointing=true", "train.cache_weights=false"])
    with pytest.raises(ConfigError, match="train.memory_format"):
        load_config("smoke", ["train.memory_format=nhwc"])
    with pytest.raises(ConfigError, match="optim.implementation"):
        load_config("smoke", ["optim.implementation=fast"])


def test_auto_precision_follows_the_hardware(monkeypatch):
    import volo_adapt.hardware as hw

    monkeypatch.setattr(hw, "fast_bf16", lambda device: True)
    assert resolve_train_precision("auto", "cpu") == "bf16-mixed"
    monkeypatch.setattr(hw, "fast_bf16", lambda device: False)
    assert resolve_train_precision("auto", "cpu") == "32-true"
    assert resolve_train_precision("32", "cpu") == "32-true"
    assert resolve_train_precision("bf16-mixed", "cpu") == "bf16-mixed"


def test_lean_step_trains_like_the_plain_step(tiny_data, tmp_path):
    """One smoke batch through the module's own training_step (same seeds, dropout and pool draws): checkpointing
    and foreach optimisers give the plain step's weights; channels-last gives its losses (its rounding differs,
    and NAdam's first step, about lr * sign(grad), turns a rounding difference in a near-zero gradient into a
    difference of up to 2 lr in that weight, so weights are not compared)."""
    # one backward in all three: with dropout on, the split step's call order draws other dropout masks (the
    # split itself is compared with dropout off in test_split_backward.py)
    one = "train.split_backward=false"
    plain = one_smoke_batch(tiny_data, tmp_path / "plain", "optim.implementation=for_loop",
                             "train.memory_format=contiguous", one)
    lean = one_smoke_batch(tiny_data, tmp_path / "lean", "optim.implementation=auto",
                            "train.activation_checkpointing=true", "train.memory_format=contiguous", one)
    cl = one_smoke_batch(tiny_data, tmp_path / "cl", "train.memory_format=channels_last", one)
    assert plain[0] and set(plain[0]) == set(lean[0]) == set(cl[0])
    for k, v in plain[1].items():
        torch.testing.assert_close(lean[1][k], v, rtol=1e-5, atol=1e-7, msg=k)
    for k, v in plain[0].items():
        assert lean[0][k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
        assert cl[0][k] == pytest.approx(v, rel=1e-4, abs=1e-6), k


def test_parametrized_modules_finds_spectral_norm_convs():
    g = _tiny_vologan()
    mods = mechanics.parametrized_modules(g)
    assert mods and all(parametrize.is_parametrized(m) for m in mods)


def test_batched_calls_give_the_per_input_calls_results(tiny_data, tmp_path):
    """One smoke batch with each network's inputs stacked into one call (cycle + identity reconstructions, a critic
    on real and fake images) against one call per input: the same losses and weights (dropout off, so no random
    draw depends on how the calls are grouped)."""
    no_dropout = ["model.gen_kwargs={levels: 3, dropout: 0}", "model.critic_kwargs={n_down: 2, dropout: 0}"]
    apart = one_smoke_batch(tiny_data, tmp_path / "apart", "train.batch_calls=false", *no_dropout)
    joint = one_smoke_batch(tiny_data, tmp_path / "joint", "train.batch_calls=true", *no_dropout)
    assert apart[0] and set(apart[0]) == set(joint[0])
    for k, v in apart[0].items():
        assert joint[0][k] == pytest.approx(v, rel=1e-5, abs=1e-7), k
    for k, v in apart[1].items():
        torch.testing.assert_close(joint[1][k], v, rtol=1e-4, atol=1e-6, msg=k)
