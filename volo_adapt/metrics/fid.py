"""FID and KID on RGB through torchmetrics, with any feature network; Inception only when it is really there.

The plumbing (:func:`frechet_distance`, :func:`kernel_distance`) accepts any ``feature`` ``nn.Module``
that maps ``(B, 3, H, W)`` **uint8** RGB to ``(B, F)`` features and has an integer ``num_features``
attribute (torchmetrics' custom-feature path, which needs no torch-fidelity). The depth channel is never
fed to a feature network: callers pass the first three channels only.

The real Inception FID/KID (:func:`inception_feature`) needs both

* the ``fid`` extra (torch-fidelity, which brings torchvision: ``pip install 'volo-adapt[fid]'``), and
* the weights file ``weights-inception-2015-12-05-6726825d.pth``, given explicitly or found in the torch hub
  cache (``$TORCH_HOME/hub/checkpoints/``).

Without them :func:`inception_unavailable_reason` returns a one-line message naming what is missing and
where to put it. The default ``FrechetInceptionDistance()`` is never constructed (it downloads the weights).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

INCEPTION_WEIGHTS_NAME = "weights-inception-2015-12-05-6726825d.pth"
"""File name of the FID Inception weights (torch-fidelity / torchmetrics)."""


def to_uint8(rgb: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` float ``[0, 1]`` -> uint8 ``[0, 255]`` (clamped, rounded; torchmetrics would truncate)."""
    assert rgb.ndim == 4 and rgb.shape[1] == 3, f"expected (B,3,H,W) RGB, got {tuple(rgb.shape)}"
    return (rgb.float().clamp(0, 1) * 255.0).round().to(torch.uint8)


def fid_extra_available() -> bool:
    """True when torch-fidelity is importable (checked without importing it, which would import torchvision)."""
    return importlib.util.find_spec("torch_fidelity") is not None


def default_inception_weights() -> Path:
    """Where torch hub caches the FID Inception weights: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_NAME


def resolve_inception_weights(path: str | os.PathLike | None) -> Path:
    """The weights file to use: ``path`` when given, else the torch hub cache location (may not exist)."""
    return Path(path) if path is not None else default_inception_weights()


def inception_unavailable_reason(path: str | os.PathLike | None = None) -> str | None:
    """Why the Inception FID/KID cannot run (one line naming each missing piece), or None when both are present."""
    missing = []
    if not fid_extra_available():
        missing.append("the 'fid' extra (torch-fidelity; pip install 'volo-adapt[fid]' where torchvision works)")
    weights = resolve_inception_weights(path)
    if not weights.is_file():
        given = f" (--inception-weights {path} does not exist)" if path is not None else ""
        missing.append(
            f"the Inception weights file {INCEPTION_WEIGHTS_NAME} (about 92 MB){given}: pass --inception-weights "
            f"FILE or put it in {default_inception_weights().parent}/"
        )
    return "FID/KID skipped: needs " + " and ".join(missing) if missing else None


def inception_feature(path: str | os.PathLike | None = None) -> nn.Module:
    """torchmetrics' FID Inception-v3 (2048-d pool features) loaded from a local weights file, never downloaded.

    Raises:
        VoloError: when the extra or the weights are missing (see :func:`inception_unavailable_reason`).
    """
    from volo_adapt.errors import VoloError, first_line

    reason = inception_unavailable_reason(path)
    if reason is not None:
        raise VoloError(reason)
    weights = resolve_inception_weights(path)
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        net = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights)
        )
    except Exception as e:  # noqa: BLE001 - a broken extra (e.g. torchvision beside a CPU torch) or a bad file
        raise VoloError(f"FID/KID skipped: cannot build the Inception network from {weights} ({first_line(e)})") from e
    net.num_features = 2048
    return net


def extract_features(feature: nn.Module, rgb: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """Run ``feature`` over ``(N, 3, H, W)`` float ``[0, 1]`` RGB in batches; returns ``(N, F)`` float64."""
    device = next(iter(feature.parameters()), torch.empty(0)).device
    out = []
    with torch.no_grad():
        for i in range(0, len(rgb), batch_size):
            f = feature(to_uint8(rgb[i : i + batch_size]).to(device))
            out.append(f.reshape(f.shape[0], -1).double().cpu())
    return torch.cat(out)


class _Precomputed(nn.Module):
    """Identity 'feature network' over precomputed features (lets torchmetrics do the statistics)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def frechet_distance(real_rgb: torch.Tensor, fake_rgb: torch.Tensor, feature: nn.Module, batch_size: int = 32) -> float:
    """Fréchet distance between the ``feature`` statistics of two RGB sets (torchmetrics' FID computation).

    Args:
        real_rgb: ``(N, 3, H, W)`` float ``[0, 1]`` (at least 2 images).
        fake_rgb: ``(M, 3, H, W)`` float ``[0, 1]`` (at least 2 images).
        feature: network mapping uint8 ``(B, 3, H, W)`` to ``(B, F)``, with an int ``num_features``.
        batch_size: images per forward pass.

    Returns:
        The distance (0 for identical feature statistics). It is a real FID only with :func:`inception_feature`.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    fr = extract_features(feature, real_rgb, batch_size)
    ff = extract_features(feature, fake_rgb, batch_size)
    metric = FrechetInceptionDistance(feature=_Precomputed(int(feature.num_features)))
    metric.update(fr, real=True)
    metric.update(ff, real=False)
    return float(metric.compute())


def kernel_distance(
    real_rgb: torch.Tensor,
    fake_rgb: torch.Tensor,
    feature: nn.Module,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    batch_size: int = 32,
) -> tuple[float, float]:
    """Kernel (MMD, cubic polynomial kernel) distance of ``feature`` outputs: torchmetrics' KID computation.

    ``subset_size`` is reduced to the smaller set size when needed (KID requires it); the random subsets are
    drawn under ``seed`` without touching the global RNG state.

    Returns:
        ``(mean, std)`` over the subsets.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    fr = extract_features(feature, real_rgb, batch_size)
    ff = extract_features(feature, fake_rgb, batch_size)
    size = min(subset_size, len(fr), len(ff))
    assert size >= 2, "KID needs at least 2 images per set"
    metric = KernelInceptionDistance(
        feature=_Precomputed(int(feature.num_features)), subsets=subsets, subset_size=size
    )
    metric.update(fr, real=True)
    metric.update(ff, real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return float(mean), float(std)
