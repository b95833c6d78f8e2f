"""SensorAwareGenerator: identity at initialisation, exact invalid pixels, gradient paths, switchable randomness."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from volo_adapt.build import build_generator
from volo_adapt.config import load_config
from volo_adapt.data.sample import DepthCodec
from volo_adapt.models.sensor_head import (
    SensorAwareGenerator,
    coordinate_channels,
    lowpass_basis,
    straight_through_mask,
    valid_mean_basis,
)

GAP = 0.05
BACKBONES = {"vologan": ["model.gen_kwargs={levels: 2}"], "resnet9": ["model.gen_kwargs={n_blocks: 1}"]}


def make(backbone: str, **switches) -> SensorAwareGenerator:
    sets = [f"model.generator={backbone}", *BACKBONES[backbone], f"data.depth_gap={GAP}"]
    sets += [f"model.sensor.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in switches.items()]
    cfg = load_config("smoke", sets)
    torch.manual_seed(0)
    g = build_generator(cfg.model, cfg.data)
    assert isinstance(g, SensorAwareGenerator)
    return g


def codec_batch(b: int = 2, s: int = 16, seed: int = 0) -> torch.Tensor:
    """Network tensors as the codec makes them: valid depth in [gap, 1], invalid pixels 0 in every channel."""
    g = torch.Generator().manual_seed(seed)
    codec = DepthCodec(near=0.25, far=5.0, gap=GAP)
    depth = 0.3 + 4.5 * torch.rand(b, 1, s, s, generator=g)
    depth[:, :, : s // 4] = 0.0  # background rows
    depth[torch.rand(depth.shape, generator=g) < 0.1] = 0.0  # holes
    valid = depth > 0
    rgb = torch.rand(b, 3, s, s, generator=g) * valid
    return torch.cat([rgb, codec.encode(depth)], 1)


ALL_ON = {"residual": True, "validity": "sampled", "noise": True, "coords": True}


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
@pytest.mark.parametrize("validity", ["none", "depth", "threshold", "sampled"])
def test_untrained_residual_generator_returns_its_input(backbone: str, validity: str) -> None:
    g = make(backbone, residual=True, validity=validity, noise=True, coords=True, lowpass_scales=[2, 4],
             resample_factors=[2, 3], fill_radii=[1, 2])
    x = codec_batch()
    y = g(x)
    assert (y - x).abs().max() < 1e-3
    assert torch.equal(y, x)  # in fact exactly: zero head, hard mask from the input's own validity


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_depth_validity_zeroes_every_channel_of_invalid_pixels_and_passes_gradients_straight(backbone: str) -> None:
    g = make(backbone, residual=True, validity="depth", noise=True)
    with torch.no_grad():
        g.head.weight.normal_(0, 0.5)
        g.head.bias.normal_(0, 0.5)
    x = codec_batch()
    y = g(x)
    invalid = y[:, -1:] < GAP / 2
    assert invalid.any() and (~invalid).any()
    assert torch.all(y.masked_select(invalid.expand_as(y)) == 0)
    y.sum().backward()
    assert g.head.weight.grad[3].abs().sum() > 0  # the depth correction learns, also through dropped pixels


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_invalid_pixels_are_zero_in_every_channel_and_valid_depth_stays_in_the_valid_band(backbone: str) -> None:
    g = make(backbone, **ALL_ON)
    with torch.no_grad():  # a "trained" head: random corrections, validity changes and noise
        g.head.weight.normal_(0, 0.5)
        g.head.bias.normal_(0, 0.5)
        g.noise_strength.fill_(0.05)
        g.validity_temperature.fill_(1.0)
    y = g(codec_batch())
    invalid = y[:, -1:] < GAP / 2
    assert invalid.any() and (~invalid).any()
    assert torch.all(y.masked_select(invalid.expand_as(y)) == 0)
    assert torch.all(y[:, -1:][~invalid] >= GAP) and torch.all(y <= 1) and torch.all(y >= 0)


def test_gradients_reach_the_correction_the_validity_logit_and_the_noise_scales() -> None:
    g = make("vologan", **ALL_ON)
    x = codec_batch()
    target = x.clone()
    target[:, :, -4:] = 0.0  # the sensor drops the bottom rows: only the validity path can get there
    loss = (g(x) - target).abs().mean()
    loss.backward()
    w = g.head.weight.grad.flatten(1).abs().sum(1)  # per output channel: 4 correction, 1 validity, 4 noise scale
    assert torch.all(w[:4] > 0), "residual correction"
    assert w[4] > 0, "validity logit (straight-through)"
    assert g.noise_strength.grad is not None and g.noise_strength.grad.abs().sum() > 0
    assert g.validity_temperature.grad is not None


def test_stochastic_false_switches_every_random_part_off() -> None:
    g = make("vologan", **ALL_ON).eval()  # eval: no dropout, fixed spectral norm; only the sensor head samples
    with torch.no_grad():
        g.noise_strength.fill_(0.05)
        g.validity_temperature.fill_(2.0)
        g.head.bias[4].fill_(0.5)  # some pixels near the validity decision
    x = codec_batch()
    torch.manual_seed(1)
    a = g(x, stochastic=False)
    torch.manual_seed(2)
    b = g(x, stochastic=False)
    assert torch.equal(a, b)
    s1, s2 = g(x), g(x)
    assert not torch.equal(s1, s2)  # samples differ
    assert not torch.equal(s1[:, -1:] > 0, s2[:, -1:] > 0)  # including which pixels return


def test_sampled_validity_with_zero_temperature_is_the_threshold() -> None:
    g = make("vologan", residual=True, validity="sampled").eval()  # eval: no dropout, fixed spectral norm
    with torch.no_grad():
        g.head.weight.normal_(0, 0.5)
    x = codec_batch()
    assert torch.equal(g(x), g(x, stochastic=False))


def test_non_residual_wrapper_trains_from_a_plain_start() -> None:
    g = make("resnet9", residual=False, validity="threshold")
    y = g(codec_batch())
    assert y.shape == (2, 4, 16, 16) and not torch.equal(y, codec_batch())


def test_straight_through_mask_is_hard_forward_and_sigmoid_backward() -> None:
    logit = torch.tensor([-1.0, 0.0, 2.0], requires_grad=True)
    m = straight_through_mask(logit)
    assert m.tolist() == [0.0, 0.0, 1.0]
    m.sum().backward()
    p = torch.sigmoid(logit.detach())
    assert torch.allclose(logit.grad, 4 * p * (1 - p))  # slope 1 at the decision boundary


def test_coordinate_channels() -> None:
    c = coordinate_channels(torch.zeros(2, 4, 5, 3))
    assert c.shape == (2, 3, 5, 3)
    assert c[0, 0, 0].tolist() == [-1.0, 0.0, 1.0]  # x across a row
    assert c[0, 1, :, 0].tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]  # y down a column
    assert torch.allclose(c[:, 2], c[:, 0] ** 2 + c[:, 1] ** 2)


def test_plain_config_builds_the_plain_generator() -> None:
    cfg = load_config("smoke")
    assert not isinstance(build_generator(cfg.model, cfg.data), SensorAwareGenerator)


@pytest.mark.parametrize("bad", ["model.sensor.validity=maybe", "model.sensor.features=0",
                                 "model.sensor.validity_prior=0", "model.sensor.lowpass_scales=[1]",
                                 "model.sensor.lowpass_scales=[2.5]", "model.sensor.resample_factors=[1]",
                                 "model.sensor.resample_factors=[2.5]", "model.sensor.resample_factors=[2, 0]",
                                 "model.sensor.fill_radii=[0]", "model.sensor.fill_radii=[1.5]",
                                 "model.sensor.sensing_grids=[0.4]"])
def test_bad_switch_values_name_the_key(bad: str) -> None:
    from volo_adapt.errors import ConfigError

    with pytest.raises(ConfigError, match=bad.split("=")[0].replace(".", r"\.")):
        load_config("smoke", [bad])


def test_per_sample_seeds_make_a_sample_independent_of_its_batch() -> None:
    g = make("vologan", **ALL_ON).eval()
    with torch.no_grad():
        g.noise_strength.fill_(0.05)
        g.validity_temperature.fill_(1.0)
    x = codec_batch(b=3)
    together = g(x, seeds=[11, 12, 13])
    alone = g(x[1:2], seeds=[12])
    assert torch.equal(together[1:2], alone)
    assert not torch.equal(g(x[1:2], seeds=[99]), alone)
    with pytest.raises(ValueError, match="2 seeds for a batch of 3"):
        g(x, seeds=[1, 2])


def test_exports_trace_the_deterministic_generator() -> None:
    from volo_adapt.inference.export import plain_module
    from volo_adapt.inference.loading import LoadedGenerator

    g = make("vologan", **ALL_ON)
    with torch.no_grad():
        g.noise_strength.fill_(0.05)
    cfg = load_config("smoke", ["model.generator=vologan", *BACKBONES["vologan"], *[
        f"model.sensor.{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in ALL_ON.items()]])
    loaded = LoadedGenerator(module=g, codec=DepthCodec(gap=GAP), config=cfg, direction="a2b", size_multiple=8,
                             source=Path("memory"))
    plain = plain_module(loaded)
    x = codec_batch()
    assert torch.equal(plain(x), plain(x))
    torch.testing.assert_close(plain(x), g.eval()(x, stochastic=False), rtol=0, atol=1e-6)


def test_returns_appear_only_within_reach_of_the_input_surfaces() -> None:
    g = make("vologan", residual=True, validity="depth", reach=0.125)  # 2 px at 16 px
    with torch.no_grad():
        g.head.bias[3].fill_(0.5)  # the correction makes every pixel valid ...
    x = codec_batch()  # background: the top 4 rows (plus scattered holes)
    y = g(x)
    valid_out = y[:, -1:] > 0
    assert valid_out[:, :, 2:4].all()  # ... within 2 px of the surface (rows 2-3) ...
    assert not valid_out[:, :, :2].any() and torch.all(y[:, :, :2] == 0)  # ... but not in empty background
    assert make("vologan", residual=True, validity="depth").within_reach(x) is None


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_head_runs_in_fp32_under_bf16_autocast(backbone):
    """The correction is added to fp32 input depth; computed in bf16 it would be rounded to 2**-8 of its size."""
    g = make(backbone, **ALL_ON).eval()
    seen = []
    g.head.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = g(codec_batch(), stochastic=False)
    assert seen == [torch.float32] and y.dtype == torch.float32


def test_lowpass_basis_keeps_constants_and_turns_a_step_into_a_ramp() -> None:
    flat = torch.full((1, 4, 12, 12), 0.4)
    assert torch.allclose(lowpass_basis(flat, 4), flat)
    step = torch.zeros(1, 1, 16, 16)
    step[..., 8:] = 1.0  # a surface (right) next to empty background (left)
    row = lowpass_basis(step, 4)[0, 0, 0]
    assert row[0] == 0.0 and row[-1] == 1.0
    assert torch.all(row[1:] >= row[:-1])  # monotone ramp ...
    mixed = ((row > 0) & (row < 1)).sum().item()
    assert 2 <= mixed <= 8  # ... a few pixels wide, as a 4x coarser sensor's upsampled edge


def test_a_blend_coefficient_of_one_gives_the_low_resolution_input() -> None:
    g = make("resnet9", residual=True, validity="none", lowpass_scales=[2, 4])
    with torch.no_grad():
        g.head.bias[4 + 4 : 4 + 8] = 1.0  # output channels: 4 correction, 4 blend at 1/2, 4 blend at 1/4
    x = codec_batch(s=32)
    assert torch.allclose(g(x), lowpass_basis(x, 4).clamp(0, 1), atol=1e-6)


def test_gradients_reach_the_low_resolution_blend() -> None:
    g = make("vologan", residual=True, validity="depth", lowpass_scales=[2])
    x = codec_batch(s=32)
    target = lowpass_basis(x, 2)
    (g(x) - target).abs().mean().backward()
    w = g.head.weight.grad.flatten(1).abs().sum(1)
    assert w.shape[0] == 8 and torch.all(w[4:8] > 0)


def test_the_removed_sensing_grid_key_is_dropped_when_empty() -> None:
    """Every checkpoint written before its removal saves ``sensing_grids: []``: such configs still load."""
    cfg = load_config("smoke", ["model.sensor.sensing_grids=[]"])
    assert not hasattr(cfg.model.sensor, "sensing_grids")


def test_a_resample_blend_coefficient_of_one_gives_the_learned_resampling() -> None:
    g = make("resnet9", residual=True, validity="none", resample_factors=[2])
    with torch.no_grad():
        g.head.bias[4:8] = 1.0  # output channels: 4 correction, 4 blends towards the factor-2 resampling
        g.resampling.up[0].weight.mul_(1.5)  # kernels are parameters: a changed kernel changes the basis
    x = codec_batch(s=32)
    assert torch.allclose(g(x), g.resampling(x)[0].clamp(0, 1), atol=1e-6)


def test_gradients_reach_the_resampling_kernels_once_the_head_blends() -> None:
    g = make("vologan", residual=True, validity="depth", resample_factors=[2, 3])
    with torch.no_grad():
        g.head.bias[4:12] = 0.5
    x = codec_batch(s=32)
    (g(x) - x.roll(1, dims=-1)).abs().mean().backward()
    for conv in [*g.resampling.down, *g.resampling.up]:
        assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0
    assert g.head.weight.grad[4:12].abs().sum() > 0


def test_native_grid_basis_starts_as_the_identity_and_blends_to_the_grid_resampling() -> None:
    """``native_cell_px`` adds one basis (after every other) that the head blends towards like the others."""
    g = make("resnet9", residual=True, validity="none", fill_radii=[1], native_cell_px=5.5)
    assert g.native_grid is not None and g.native_grid.cell_px == 5.5
    x = codec_batch(s=32)
    assert torch.equal(g(x), x)  # zero head: the untrained wrapper is still the identity
    with torch.no_grad():
        g.head.bias[8:12] = 1.0  # output channels: 4 correction, 4 fill blends, 4 native-grid blends
        g.native_grid.phase.fill_(0.3)  # the phase is a parameter: a moved lattice changes the basis
    assert torch.allclose(g(x), g.native_grid(x).clamp(0, 1), atol=1e-6)
    (g(x) - x.roll(1, dims=-1)).abs().mean().backward()
    assert g.native_grid.up_taps.grad.abs().sum() > 0 and g.native_grid.phase.grad.abs().sum() > 0


def test_a_traced_native_grid_generator_works_at_other_sizes() -> None:
    """Exports trace the generator once (torchscript); the grid basis's lattice follows the input size."""
    g = make("resnet9", residual=True, validity="depth", native_cell_px=5.5).eval()
    with torch.no_grad():
        g.head.bias[4:8] = 0.7

    class Deterministic(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.g = g

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.g(x, stochastic=False)

    m = Deterministic()
    with warnings.catch_warnings():  # torch warns about every traced size computation
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        traced = torch.jit.trace(m, codec_batch(s=16), check_trace=False)
    for side in (16, 40):
        x = codec_batch(s=side, seed=side)
        torch.testing.assert_close(traced(x), m(x), rtol=0, atol=1e-6)


def test_camera_colour_starts_as_the_identity_and_changes_colour_only_globally() -> None:
    g = make("resnet9", residual=True, validity="depth", colour="camera")
    x = codec_batch(s=16)
    assert torch.equal(g(x, stochastic=False), x)
    with torch.no_grad():
        g.camera.predict.bias[9:12] = 0.1  # an RGB offset of 0.1
        g.head.bias[:3] = 0.3  # the per-pixel colour residual is not used in camera mode
    y = g(x, stochastic=False)
    valid = x[:, 3:] > 0
    assert torch.allclose((y[:, :3] - x[:, :3].clamp(max=0.9))[valid.expand(-1, 3, -1, -1)], torch.tensor(0.1),
                          atol=1e-5) or torch.allclose(y[:, :3][valid.expand(-1, 3, -1, -1)],
                                                       (x[:, :3] + 0.1).clamp(0, 1)[valid.expand(-1, 3, -1, -1)],
                                                       atol=1e-5)
    assert torch.equal(y[:, 3:], x[:, 3:])


def test_gradients_reach_the_camera_model() -> None:
    g = make("vologan", residual=True, validity="depth", colour="camera")
    x = codec_batch(s=32)
    (g(x)[:, :3] - 0.5).abs().mean().backward()
    assert g.camera.predict.weight.grad.abs().sum() > 0 or g.camera.predict.bias.grad.abs().sum() > 0


def test_valid_mean_basis_averages_valid_pixels_only_and_fills_holes_next_to_surfaces() -> None:
    x = torch.zeros(1, 2, 1, 9)
    x[..., 3:6] = torch.tensor([[0.2, 0.4, 0.6], [0.3, 0.3, 0.3]]).view(2, 1, 3)  # a surface between holes
    valid = x[:, -1:] > 0
    out = valid_mean_basis(x, valid, 1)[0, :, 0]
    # inside the surface: the mean of its own valid pixels, never pulled towards the holes' 0
    assert torch.allclose(out[0, 3:6], torch.tensor([0.3, 0.4, 0.5]))
    assert torch.allclose(out[1, 2:7], torch.full((5,), 0.3))  # one pixel either side: filled with the surface's value
    assert torch.all(out[:, :2] == 0) and torch.all(out[:, 7:] == 0)  # farther than the radius: still invalid
    flat = torch.full((1, 4, 8, 8), 0.7)
    assert torch.allclose(valid_mean_basis(flat, flat[:, -1:] > 0, 3), flat)
    wide = valid_mean_basis(x, valid, 2)[0, 1, 0]
    assert torch.all(wide[1:8] == 0.3) and wide[0] == 0 and wide[8] == 0


def test_a_fill_blend_coefficient_of_one_gives_the_valid_only_average() -> None:
    g = make("resnet9", residual=True, validity="none", fill_radii=[2])
    with torch.no_grad():
        g.head.bias[4:8] = 1.0  # output channels: 4 correction, 4 blends towards the radius-2 valid-only average
    x = codec_batch(s=32)
    expected = valid_mean_basis(x, g.input_valid(x), 2).clamp(0, 1)
    assert torch.allclose(g(x), expected, atol=1e-6)
    assert (expected[:, -1] > 0).sum() > (x[:, -1] > 0).sum()  # holes next to surfaces came back filled


def test_anchored_new_returns_start_at_the_neighbouring_surface_and_appear_only_when_the_logit_says() -> None:
    g = make("resnet9", residual=True, validity="depth", noise=True, reach=0.1, new_returns="anchored",
             lowpass_scales=[2], fill_radii=[1])
    x = codec_batch(s=32)
    assert torch.equal(g(x), x)  # untrained: no new returns, the input exactly
    with torch.no_grad():
        g.head.bias[-5] = 2 * g.birth_prior  # birth logit (before the 4 noise channels): all ring pixels return
    y = g(x, stochastic=False)
    start, ring = g.anchored(x)
    assert ring.any() and not (ring & g.input_valid(x)).any()
    born = ring & g.within_reach(x).bool()
    assert torch.allclose(y[:, -1:][born], start[:, -1:][born])  # depth of the surfaces around, not a ramp from 0
    assert torch.all(y[:, -1:][born] >= GAP)
    assert torch.equal(y[:, -1:][~ring & ~g.input_valid(x)], torch.zeros_like(y[:, -1:][~ring & ~g.input_valid(x)]))


@pytest.mark.parametrize("sets", [["model.sensor.new_returns=sometimes"],
                                  ["model.sensor.new_returns=anchored", "model.sensor.validity=threshold",
                                   "model.sensor.residual=true", "model.sensor.reach=0.1"],
                                  ["model.sensor.new_returns=anchored", "model.sensor.validity=depth",
                                   "model.sensor.residual=true", "model.sensor.reach=-1"]])
def test_bad_new_returns_settings_name_the_key(sets: list[str]) -> None:
    from volo_adapt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.sensor\.new_returns"):
        load_config("smoke", sets)


def test_a_zero_birth_prior_still_starts_without_new_returns_and_births_on_any_push() -> None:
    g = make("resnet9", residual=True, validity="depth", reach=0.1, new_returns="anchored", birth_prior=0.0)
    x = codec_batch(s=32)
    assert torch.equal(g(x), x)  # logit exactly 0: the mask is logit > 0, so nothing is born yet
    with torch.no_grad():
        g.head.bias[-1] = 1e-3  # the birth logit is the last channel here (no noise)
    _, ring = g.anchored(x)
    born = ring & g.within_reach(x).bool()
    assert born.any() and torch.all(g(x)[:, -1:][born] >= GAP)
    with pytest.raises(Exception, match=r"model\.sensor\.birth_prior"):
        load_config("smoke", ["model.sensor.birth_prior=-1"])


def test_learned_drops_start_by_keeping_every_return_and_remove_them_to_exact_zeros_when_the_logit_says() -> None:
    g = make("resnet9", residual=True, validity="depth", reach=0.1, new_returns="anchored", drops="learned")
    x = codec_batch(s=32)
    assert torch.equal(g(x), x)  # untrained: every input return kept (logit 0 + validity_prior), none born
    valid = g.input_valid(x)
    birth = -1  # the head's last channel here (no noise): the new-return logit; drops have a logit per depth bin
    with torch.no_grad():
        g.keep_by_depth.fill_(-1.0)  # below "keep" in every bin
    y = g(x, stochastic=False)
    assert valid.any() and torch.equal(y, torch.zeros_like(y))  # every return dropped to exact 0, none born
    with torch.no_grad():
        g.head.bias[birth] = 5.0 + g.birth_prior  # births everywhere within reach: drops do not follow them
    y = g(x, stochastic=False)
    _, ring = g.anchored(x)
    born = ring & g.within_reach(x).bool()
    dropped = y[valid.expand_as(y)]
    assert torch.all(y[:, -1:][born] > 0) and torch.equal(dropped, torch.zeros_like(dropped))
    with torch.no_grad():
        g.head.bias[birth] = 0.0
        g.keep_by_depth.zero_()
        g.keep_by_depth[0] = -1.0  # the nearest bin only: the codec's near plane, where the batch has returns
    near = valid & (x[:, -1:] < GAP + (1 - GAP) / len(g.keep_by_depth))
    y = g(x, stochastic=False)
    assert near.any() and not (y[:, -1:][near] > 0).any() and (y[:, -1:][valid & ~near] > 0).all()
    with torch.no_grad():
        g.keep_by_depth.zero_()
    assert torch.equal(g(x, stochastic=False), x)  # returns kept, none born
    # a kept return passes no gradient to either logit (the return-rate term trains drops through the keep logit
    # that forward(with_returns=True) returns: volo_adapt.return_statistics); a pixel that could be born still does
    g.zero_grad()
    (g(x, stochastic=False)[:, -1:] * valid).sum().backward()
    assert g.head.bias.grad[birth] == 0 and g.keep_by_depth.grad is None or not g.keep_by_depth.grad.any()
    g.zero_grad()
    (g(x, stochastic=False)[:, -1:] * born).sum().backward()
    assert g.head.bias.grad[birth].abs() > 0 and (g.keep_by_depth.grad is None or not g.keep_by_depth.grad.any())
    g.zero_grad()
    keep_logit = g(x, stochastic=False, with_returns=True)[1].keep_logit
    keep_logit.sum().backward()
    assert torch.equal(keep_logit, torch.full_like(keep_logit, g.validity_prior)) and g.keep_by_depth.grad.sum() > 0


def test_learned_drops_need_anchored_new_returns() -> None:
    from volo_adapt.errors import ConfigError

    with pytest.raises(ConfigError, match=r"model\.sensor\.drops: learned drops need .*anchored"):
        make("resnet9", residual=True, validity="depth", reach=0.1, drops="learned")
    with pytest.raises(ConfigError, match=r"model\.sensor\.drops"):
        load_config("smoke", ["model.sensor.drops=learned"])
    with pytest.raises(ConfigError, match=r"model\.sensor\.drops"):
        load_config("smoke", ["model.sensor.drops=sometimes"])
