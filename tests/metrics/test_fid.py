"""Tests for volo_adapt/metrics/fid.py.

The distance tests use a small random-conv feature network: they test the FID/KID *plumbing* (feature
extraction, uint8 input, torchmetrics statistics), not a real Inception FID, which needs weights that
are not available here.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from volo_adapt.errors import VoloError
from volo_adapt.metrics import fid
from volo_adapt.metrics.registry import MetricOptions, get_metric


class RandomConvFeatures(nn.Module):
    """Plumbing-test feature network: fixed random convs, uint8 ``(B, 3, H, W)`` -> ``(B, 16)``."""

    num_features = 16

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
        self.seen_dtypes: set[torch.dtype] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen_dtypes.add(x.dtype)
        assert x.shape[1] == 3, "only RGB may reach the feature network"
        h = torch.relu(self.conv1(x.float() / 255.0))
        return torch.relu(self.conv2(h)).mean(dim=(2, 3))


def _rgb(n: int, seed: int, brightness: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, 24, 24, generator=g) * brightness).clamp(0, 1)


def test_fid_plumbing_with_random_conv_features_zero_for_identical_sets_and_grows_with_difference():
    net = RandomConvFeatures()
    a, b = _rgb(40, 0), _rgb(40, 1)
    same = fid.frechet_distance(a, a.clone(), net)
    close = fid.frechet_distance(a, b, net)
    far = fid.frechet_distance(a, _rgb(40, 1, brightness=0.4), net)
    assert abs(same) < 1e-6
    assert 0 < close < far
    assert net.seen_dtypes == {torch.uint8}


def test_kid_plumbing_with_random_conv_features_near_zero_for_same_distribution():
    net = RandomConvFeatures()
    a = _rgb(30, 0)
    mean_same, _ = fid.kernel_distance(a, _rgb(30, 1), net, subsets=10, subset_size=20)
    mean_far, _ = fid.kernel_distance(a, _rgb(30, 1, brightness=0.4), net, subsets=10, subset_size=20)
    assert abs(mean_same) < mean_far / 10
    # seeded subsets: same answer twice
    assert fid.kernel_distance(a, _rgb(30, 1), net, subsets=5, subset_size=10, seed=3) == fid.kernel_distance(
        a, _rgb(30, 1), net, subsets=5, subset_size=10, seed=3
    )


def test_to_uint8_rounds_and_clamps():
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 2.0]).view(1, 1, 1, 5).expand(1, 3, 1, 5)
    assert fid.to_uint8(x)[0, 0, 0].tolist() == [0, 0, 128, 255, 255]


def test_missing_extra_and_weights_message_names_file_and_place(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setattr(fid, "fid_extra_available", lambda: False)
    msg = fid.inception_unavailable_reason(None)
    assert "\n" not in msg
    assert "torch-fidelity" in msg and "volo-adapt[fid]" in msg
    assert fid.INCEPTION_WEIGHTS_NAME in msg and str(tmp_path / "th" / "hub" / "checkpoints") in msg
    with pytest.raises(VoloError, match="FID/KID skipped"):
        fid.inception_feature(None)


def test_missing_weights_only(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setattr(fid, "fid_extra_available", lambda: True)
    msg = fid.inception_unavailable_reason(tmp_path / "nope.pth")
    assert "torch-fidelity" not in msg and "--inception-weights" in msg and "nope.pth" in msg


def test_weights_in_torch_hub_cache_are_found(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(fid, "fid_extra_available", lambda: True)
    w = tmp_path / "hub" / "checkpoints" / fid.INCEPTION_WEIGHTS_NAME
    w.parent.mkdir(parents=True)
    w.write_bytes(b"x")
    assert fid.inception_unavailable_reason(None) is None
    assert fid.resolve_inception_weights(None) == w


def test_extra_is_not_installed_here_and_registered_fid_degrades():
    # CPU CI must never have torch-fidelity (it drags in torchvision, which breaks torch here).
    assert not fid.fid_extra_available()
    for name in ("fid_rgb_inception", "kid_rgb_inception"):
        reason = get_metric(name).unavailable(MetricOptions())
        assert reason is not None and "torch-fidelity" in reason


def test_a_broken_extra_skips_fid_and_kid_but_the_other_metrics_run(monkeypatch, tmp_path):
    from volo_metrics_scenes import CODEC, network, scenes

    from volo_adapt.metrics.evaluate import evaluate_tensors

    w = tmp_path / fid.INCEPTION_WEIGHTS_NAME
    w.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(fid, "fid_extra_available", lambda: True)  # claims present; the import then fails
    x = network(*scenes(4, 32, seed=0))
    rep = evaluate_tensors(lambda t: t, x, x.clone(), CODEC, metrics="fid_rgb_inception,depth_histogram_w1",
                           options=MetricOptions(inception_weights=w))
    assert "cannot build the Inception network" in rep.skipped["fid_rgb_inception"]
    assert "depth_histogram_w1" in rep.results
