"""Classifier two-sample test (C2ST): can a small CNN tell translated images from real target images?

Protocol (seeded, CPU-feasible): take ``n = min(len(a), len(b))`` images of each set, shuffle the index
``0..n-1`` once and split it in half; image ``i`` of *both* sets goes to the same half (so two identical
sets give exactly chance, never a memorised "wrong" label). Images larger than ``size`` (128) pixels are
subsampled by an integer stride (keeps noise and holes; no depth interpolation). Subsampling costs power:
on the 96 px demo test split (64 + 64 images, sensor A vs sensor B) the RGB-D accuracy was 0.91 at full
resolution and 0.58 after subsampling to 48 px (measured, 30 epochs). A 3-conv CNN is
trained for ``epochs`` epochs on the first half (Adam), and its accuracy on the second half is reported
with a 95 % Wilson score interval. 0.5 = indistinguishable; 1.0 = always told apart.

With 64 + 64 test images one split is a noisy judge: over five classifier seeds the demo's identity row read
0.70, 0.80, 0.83, 0.86 and 0.83 (mean 0.80, std 0.07), so a single seed can flatter or condemn a model by more
than the differences being measured. ``repeats`` therefore runs the whole protocol (split, initial weights,
batch order) with seeds ``seed .. seed + repeats - 1`` and reports the mean accuracy, its standard deviation
over the repeats, and the Wilson interval of the mean at one split's test size (the repeats reuse the same
images, so pooling their counts would overstate the confidence).

Channel masking selects what the classifier sees: ``rgbd`` (all 4 channels), ``rgb`` (depth channel set to
0), ``depth`` (RGB set to 0). Note that in the network convention RGB is 0 wherever depth is invalid, so
the ``rgb`` variant still sees the *shape* of the invalid region.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from volo_adapt.metrics import progress as _progress
from volo_adapt.models.critic_view import highpass_residual

CHANNEL_MASKS: dict[str, tuple[float, float, float, float]] = {
    "rgbd": (1.0, 1.0, 1.0, 1.0),
    "rgb": (1.0, 1.0, 1.0, 0.0),
    "depth": (0.0, 0.0, 0.0, 1.0),
}


@dataclass
class C2STResult:
    """Held-out accuracy of the two-sample classifier.

    Attributes:
        acc: accuracy in ``[0, 1]`` on ``n_test`` held-out images (half from each set).
        ci_low: lower end of the 95 % Wilson interval.
        ci_high: upper end of the 95 % Wilson interval.
        n_test: number of held-out images of one split.
        acc_std: standard deviation of the accuracy over the repeats (0 for a single repeat).
        repeats: how many splits/classifiers the accuracy is the mean of.
    """

    acc: float
    ci_low: float
    ci_high: float
    n_test: int
    acc_std: float = 0.0
    repeats: int = 1

    def as_dict(self) -> dict[str, float]:
        return {"acc": self.acc, "ci_low": self.ci_low, "ci_high": self.ci_high, "n_test": float(self.n_test),
                "acc_std": self.acc_std, "repeats": float(self.repeats)}


def wilson_interval(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % for the default ``z``); ``(nan, nan)`` if ``n == 0``."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


class TwoSampleCNN(nn.Module):
    """A small CNN that outputs one logit per image ``(B, C, H, W) -> (B,)`` (the C2ST classifier).

    Its input is the image plus a fixed, amplified high-pass of it (image minus its 3x3 box blur, times
    ``highpass_gain``): sensor signatures (pixel noise, speckle holes, flying pixels) are high-frequency and
    small in amplitude, and a freshly initialised 3-layer CNN trained for a few dozen steps does not find
    them on its own (checked: depth noise of 0.005 encoded units went undetected without this branch,
    detected with it).

    Args:
        in_channels: image channels.
        width: channels of the first conv (later ones double).
        highpass_gain: amplification of the high-pass channels.
    """

    def __init__(self, in_channels: int = 4, width: int = 16, highpass_gain: float = 40.0) -> None:
        super().__init__()
        self.highpass_gain = highpass_gain
        self.net = nn.Sequential(
            nn.Conv2d(2 * in_channels, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        )
        self.head = nn.Linear(4 * width, 1)  # mean- and max-pooled features

    def with_highpass(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, 2C, H, W)``: the image and its amplified high-pass (the network's input)."""
        return torch.cat([x, highpass_residual(x) * self.highpass_gain], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2C, H, W)`` from :meth:`with_highpass` (computed once per image, outside the training loop)."""
        f = self.net(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled).squeeze(1)


def _subsample(x: torch.Tensor, size: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    if max(h, w) <= size:
        return x
    s = math.ceil(max(h, w) / size)
    return x[..., ::s, ::s]  # nearest-neighbour subsampling by an integer stride


def c2st(
    a: torch.Tensor,
    b: torch.Tensor,
    channels: str = "rgbd",
    seed: int = 0,
    epochs: int = 30,
    size: int = 128,
    batch_size: int = 32,
    lr: float = 2e-3,
    device: str | torch.device = "cpu",
    repeats: int = 1,
) -> C2STResult:
    """Train a classifier to separate ``a`` (label 0) from ``b`` (label 1) and test it on held-out images.

    Args:
        a: ``(N, 4, H, W)`` float network tensors in ``[0, 1]`` (e.g. translated).
        b: ``(M, 4, H', W')`` float in ``[0, 1]`` (e.g. real target), same size as ``a`` after subsampling.
        channels: ``rgbd`` | ``rgb`` | ``depth`` (see the module docstring).
        seed: seeds the split, the initial weights and the batch order (global RNG state is restored).
        epochs: passes over the training half.
        size: images larger than this are subsampled by an integer stride.
        batch_size: training batch size.
        lr: Adam learning rate.
        device: where to train.
        repeats: run the protocol with seeds ``seed .. seed + repeats - 1`` and report the mean (module docstring).

    Returns:
        :class:`C2STResult`; NaN accuracy when fewer than 2 images per set are available.
    """
    if repeats < 1:
        raise ValueError(f"c2st: repeats must be >= 1, got {repeats}")
    assert channels in CHANNEL_MASKS, f"channels must be one of {list(CHANNEL_MASKS)}, got {channels!r}"
    n = min(len(a), len(b))
    if n < 2:
        return C2STResult(math.nan, math.nan, math.nan, 0)
    mask = torch.tensor(CHANNEL_MASKS[channels], dtype=torch.float32).view(1, 4, 1, 1)
    xa = _subsample(a[:n].float(), size) * mask
    xb = _subsample(b[:n].float(), size) * mask
    assert xa.shape == xb.shape, f"C2ST needs equal image sizes, got {tuple(xa.shape)} and {tuple(xb.shape)}"
    threads = torch.get_num_threads()
    # A network this small gains nothing from intra-op threads, and on a loaded machine OpenMP synchronisation
    # made training 10x slower with 2 threads than with 1 (measured); the caller's setting is restored below.
    torch.set_num_threads(1)
    try:
        runs = [_train_and_test(xa, xb, n, seed + r, epochs, batch_size, lr, device) for r in range(repeats)]
    finally:
        torch.set_num_threads(threads)
    if repeats == 1:
        return runs[0]
    accs = torch.tensor([r.acc for r in runs], dtype=torch.float64)
    n_test = runs[0].n_test
    mean = float(accs.mean())
    lo, hi = wilson_interval(mean * n_test, n_test)  # the mean's count may be fractional
    return C2STResult(mean, lo, hi, n_test, acc_std=float(accs.std(unbiased=True)), repeats=repeats)


def _train_and_test(
    xa: torch.Tensor, xb: torch.Tensor, n: int, seed: int, epochs: int, batch_size: int, lr: float,
    device: str | torch.device,
) -> C2STResult:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        perm = torch.randperm(n)
        n_train = n // 2
        tr, te = perm[:n_train], perm[n_train:]
        x_train = torch.cat([xa[tr], xb[tr]]).to(device)
        y_train = torch.cat([torch.zeros(len(tr)), torch.ones(len(tr))]).to(device)
        x_test = torch.cat([xa[te], xb[te]]).to(device)
        y_test = torch.cat([torch.zeros(len(te)), torch.ones(len(te))]).to(device)
        model = TwoSampleCNN(in_channels=4).to(device)
        with torch.no_grad():
            x_train, x_test = model.with_highpass(x_train), model.with_highpass(x_test)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x_train))
            for i in range(0, len(order), batch_size):
                idx = order[i : i + batch_size].to(device)
                loss = F.binary_cross_entropy_with_logits(model(x_train[idx]), y_train[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            _progress.advance(1)  # one epoch of a progress bar's total (no computation, no RNG)
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(x_test[i : i + 256]) for i in range(0, len(x_test), 256)]) > 0
    correct = int((pred.float() == y_test).sum())
    lo, hi = wilson_interval(correct, len(y_test))
    return C2STResult(correct / len(y_test), lo, hi, len(y_test))
