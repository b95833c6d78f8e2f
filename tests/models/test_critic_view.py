"""The critic's high-pass view (volo_adapt/models/critic_view.py)."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.build import build_critic
from volo_adapt.config import load_config
from volo_adapt.errors import ConfigError
from volo_adapt.models.critic_view import HighPassView, highpass_residual


def test_highpass_residual_is_zero_on_flat_images_and_shows_noise():
    flat = torch.full((1, 4, 16, 16), 0.5)
    assert highpass_residual(flat).abs().max() < 1e-6
    g = torch.Generator().manual_seed(0)
    noisy = flat + 0.004 * torch.randn(flat.shape, generator=g)  # a few millimetres of depth noise, encoded
    hp = highpass_residual(noisy)
    assert hp.std() == pytest.approx(0.004 * (8 / 9) ** 0.5, rel=0.15)  # x minus its 3x3 mean


@pytest.mark.parametrize("critic", ["patchgan", "vologan"])
def test_config_wraps_the_critic_and_feeds_it_both_views(critic):
    kwargs = "{n_down: 2}" if critic == "vologan" else "{n_layers: 2}"
    sets = [f"model.critic={critic}", "model.critic_highpass=20", f"model.critic_kwargs={kwargs}"]
    cfg = load_config("smoke", sets)
    net = build_critic(cfg.model)
    assert isinstance(net, HighPassView) and net.gain == 20.0
    seen = []
    net.critic.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = torch.rand(2, 4, 32, 32)
    out = net(x)
    assert seen[0].shape == (2, 8, 32, 32)
    torch.testing.assert_close(seen[0][:, :4], x)
    torch.testing.assert_close(seen[0][:, 4:], 20.0 * highpass_residual(x))
    assert all(torch.isfinite(o).all() for o in (out if isinstance(out, (list, tuple)) else [out]))


def test_off_by_default_and_a_negative_gain_is_refused():
    assert not isinstance(build_critic(load_config("smoke").model), HighPassView)
    with pytest.raises(ConfigError, match=r"model\.critic_highpass"):
        load_config("smoke", ["model.critic_highpass=-1"])
