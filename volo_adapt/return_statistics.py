"""Return statistics: the share of a source's returns that the target sensor keeps at each depth, estimated from
the two unpaired sets, as a per-pixel target for the generator's keep logit (``loss.return_rate_weight``, with
``model.sensor.drops: learned``; on in the demo and sensor presets since the three-seed judgement of
docs/sensor-aware.md, "Eighteenth round").

Why: a sensor loses returns where the scene makes it lose them (far surfaces beyond its range, dark or grazing
ones), almost deterministically (docs/sensor-aware.md, "Ninth round": a redrawn sensor repeats 88-100 % of its
own drops). The learned keep logit did not move in design runs: the straight-through gradient from the critic
(and against it, the geometry term) only said "this depth a little nearer or farther", not "drop this pixel", so
that path is cut (models/sensor_head.py) and this term trains the logit instead.

What the unpaired sets show: the number of returns per image in each depth bin. Scenes of the two domains come
from one distribution, so the ratio of the target's returns to the source's in bin ``j``,
``k_j = (n_B(j) + p k_{j-1}) / (n_A(j) + p)`` (running means over the training batches, ``p`` =
:data:`KEEP_RATE_PRIOR` pseudo-returns at the nearer bin's rate against sparse bins, capped at 1), estimates the
sensor's keep rate at that depth. The term is the KL divergence from ``Bernoulli(k_j)`` to each source return's
keep probability: a return in a bin the target keeps less than half of ends below the threshold (dropped), one in a
bin it mostly keeps above it; the generator's keep logit is one parameter per bin (models/sensor_head.py
``keep_by_depth``), so that is exactly what it learns. ``benchmarks/probe_keep_rates.py`` measures how far this
depth rule can take the valid mask. Nothing here knows a sensor: the bins are fixed slices of the codec's depth
range. Limits: one feature (depth; see :data:`RETURN_FEATURES` for why not brightness), new returns (births) of the
target inflate its counts, and a sensor that shifts depth moves returns between bins.

Tensors: network images ``(B, C, H, W)`` float in [0, 1], RGB first, encoded depth last (invalid = 0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from volo_adapt.losses import returns_of

RETURN_FEATURES = ("depth",)
"""The per-pixel features whose bins the keep rate is estimated over: the encoded depth (linear in metres). Not
brightness: binned by the source's colour, a target camera's gain or white balance alone moves returns between
bins and reads as drops (on the `tof` design set the brightest bins read keep rates of 0.1-0.2 while that sensor
keeps most bright returns; docs/sensor-aware.md, "Tenth round")."""

RETURN_BINS = 8
"""Bins per feature, equal slices of the encoded depth range ``[gap, 1]`` (0.59 m each for the default codec's
0.25-5 m). 8, not 16: dropping every source return of a bin whose estimated rate is below 1/2 (what the per-pixel
term converges to), the paired valid-mask IoU on the design sets was 0.782 against 0.761 (`tof`) and 0.656 against
0.613 (`zone_tof`), and equal within 0.01 on the other four (docs/sensor-aware.md, "Eleventh round")."""

KEEP_RATE_PRIOR = 0.01
"""Pseudo-returns (per image pixel) added to both domains' counts in every bin before their ratio is taken, kept at
the nearer bin's rate (:func:`keep_rate_of`): a bin that holds few returns (far depths in most scenes) reads as its
nearer neighbour unless the evidence is strong. Depth-rule IoU on the design sets (identity / no prior / prior
towards 1 / towards the nearer bin): `tof` 0.648 / 0.782 / 0.754 / 0.782, `zone_tof` 0.545 / 0.656 / 0.639 / 0.656,
`phone_lidar` 0.790 / 0.772 / 0.790 / 0.772, `builtin_lidar` 0.833 / 0.819 / 0.833 / 0.833, the other two equal
(docs/sensor-aware.md, "Eleventh round" and "Twelfth round"). `phone_lidar` reads its fifth bin at 0.485 (truth
0.64): the sensor moves returns between bins, which a ratio of counts cannot tell from drops."""


def feature_bins(t: torch.Tensor, gap: float, bins: int = RETURN_BINS) -> torch.Tensor:
    """``(B, F, H, W)`` long: the bin of each pixel of ``t`` in each of :data:`RETURN_FEATURES` (values of invalid
    pixels are meaningless; callers weight them 0).

    Args:
        t: ``(B, C, H, W)`` network image, encoded depth last.
        gap: codec invalid band (valid encoded depth lies in ``[gap, 1]``).
        bins: bins per feature.
    """
    depth = ((t[:, -1:].float() - gap) / max(1.0 - gap, 1e-6)).clamp(0.0, 1.0)
    return (depth * bins).long().clamp_max(bins - 1)


def return_histogram(bins_of: torch.Tensor, weight: torch.Tensor, bins: int = RETURN_BINS) -> torch.Tensor:
    """``(F, bins)`` float32: per feature, the returns per image in each bin as a fraction of the image's pixels
    (batch mean). ``weight`` ``(B, 1, H, W)`` in [0, 1] (a return's weight), ``bins_of`` from
    :func:`feature_bins`."""
    b, f, h, w = bins_of.shape
    index = bins_of.transpose(0, 1).reshape(f, -1)  # (F, B*H*W), in the order of weight's pixels
    values = weight.float().reshape(1, -1).expand(f, -1)
    hist = torch.zeros(f, bins, device=weight.device, dtype=torch.float32).scatter_add_(1, index, values)
    return hist / (b * h * w)


def histogram_of_returns(t: torch.Tensor, gap: float, bins: int = RETURN_BINS) -> torch.Tensor:
    """``(F, bins)``: :func:`return_histogram` of the returns of network images ``t`` (``(B, C, H, W)``, encoded
    depth last), binned by :func:`feature_bins`."""
    return return_histogram(feature_bins(t, gap, bins), returns_of(t, gap), bins)


def keep_rate_of(target_hist: torch.Tensor, source_hist: torch.Tensor, prior: float = KEEP_RATE_PRIOR) -> torch.Tensor:
    """Per bin (the last dimension, nearest first), the target's returns per source return, capped at 1, with
    ``prior`` pseudo-returns (per image pixel) that keep at the *nearer* bin's rate (1 before the nearest bin):
    ``k_j = (n_B(j) + p * k_{j-1}) / (n_A(j) + p)``. Histograms from :func:`return_histogram` (any shape, the
    same for both).

    A bin with few source returns therefore reads as its nearer neighbour, not as "kept": a sensor whose returns
    fade with range keeps fading into the sparse far bins (a prior towards 1 kept `tof`'s two farthest bins while
    it dropped the two before them, a pattern no sensor makes; docs/sensor-aware.md, "Twelfth round"), and one
    that keeps its far returns reads as keeping them. Written by hand: a recurrence over 8 bins.

    Example:
        >>> source = torch.tensor([0.2, 0.2, 0.001]); target = torch.tensor([0.2, 0.02, 0.0])
        >>> [round(k, 3) for k in keep_rate_of(target, source, 0.01).tolist()]  # the sparse far bin follows 0.143
        [1.0, 0.143, 0.13]
    """
    rates, nearer = [], torch.ones_like(target_hist[..., 0])
    for j in range(target_hist.shape[-1]):
        nearer = ((target_hist[..., j] + prior * nearer) / (source_hist[..., j] + prior)).clamp(0.0, 1.0)
        rates.append(nearer)
    return torch.stack(rates, dim=-1)


class ReturnRateReference(nn.Module):
    """Running means of each domain's returns per bin (its real images), whose ratio is the keep rate the
    return-rate term asks a translation for. Buffers (saved in checkpoints): ``hist_a``, ``hist_b`` ``(F, bins)``
    float32 and ``seen`` (batches folded in; the first batch sets the means).

    Args:
        gap: the codec's invalid band.
        bins: bins per feature.
        momentum: weight of the old mean per update (0.98: about the last 50 batches).
    """

    def __init__(self, gap: float, bins: int = RETURN_BINS, momentum: float = 0.98) -> None:
        super().__init__()
        self.gap, self.bins, self.momentum = float(gap), int(bins), float(momentum)
        self.register_buffer("hist_a", torch.zeros(len(RETURN_FEATURES), bins))
        self.register_buffer("hist_b", torch.zeros(len(RETURN_FEATURES), bins))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))

    def histogram(self, t: torch.Tensor) -> torch.Tensor:
        """``(F, bins)``: :func:`return_histogram` of the returns of real images ``t``."""
        return histogram_of_returns(t, self.gap, self.bins)

    @torch.no_grad()
    def update(self, real_a: torch.Tensor, real_b: torch.Tensor) -> None:
        """Fold one batch of each domain's real images (``(B, C, H, W)``) in."""
        m = self.momentum if int(self.seen) > 0 else 0.0
        self.hist_a.mul_(m).add_(self.histogram(real_a), alpha=1.0 - m)
        self.hist_b.mul_(m).add_(self.histogram(real_b), alpha=1.0 - m)
        self.seen += 1

    def _into(self, dst: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(target histogram, source histogram)`` of a translation into domain ``dst`` ("A" or "B")."""
        return (self.hist_b, self.hist_a) if dst == "B" else (self.hist_a, self.hist_b)

    def keep_rate(self, dst: str) -> torch.Tensor:
        """``(F, bins)`` in [0, 1]: domain ``dst``'s returns per return of the other domain in each bin, with
        :data:`KEEP_RATE_PRIOR` pseudo-returns at the nearer bin's rate (:func:`keep_rate_of`), i.e. the keep rate
        of a translation into ``dst``."""
        return keep_rate_of(*self._into(dst))

    def return_ratio(self, dst: str) -> float:
        """Domain ``dst``'s returns per return of the other domain (all bins; >= 0; 1.0 before any batch): how many
        returns a translation into ``dst`` should have per source return (the birth-rate term,
        volo_adapt.birth_rate)."""
        num, den = self._into(dst)
        total = float(den.sum())
        return float(num.sum()) / total if total > 0 else 1.0

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        # a checkpoint written with another bin count (16 before this build's 8) holds running means that do not
        # fit: they are re-estimated from the next batches (seen 0: the first batch sets them), not an error
        saved = state_dict.get(prefix + "hist_a")
        if saved is not None and saved.shape != self.hist_a.shape:
            state_dict[prefix + "hist_a"] = torch.zeros_like(self.hist_a)
            state_dict[prefix + "hist_b"] = torch.zeros_like(self.hist_b)
            state_dict[prefix + "seen"] = torch.zeros_like(self.seen)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def describe_keep_rates(reference: ReturnRateReference, near: float, far: float, dst: str = "B") -> str | None:
    """One line for a user: the keep rate of a translation into ``dst`` per depth bin, with the bins' ranges in
    metres (``near``/``far``: the codec's range), e.g. ``"0.25-0.84 m 1.00, 0.84-1.44 m 0.97, ..."``; None before
    any batch was folded in (nothing estimated yet). Bins below 1/2 are where learned drops remove the source's
    returns (:func:`return_rate_loss`).

    Example:
        >>> ref = ReturnRateReference(gap=0.05, bins=2)
        >>> _ = ref.hist_a.fill_(0.2), ref.hist_b.copy_(torch.tensor([[0.2, 0.05]])), ref.seen.fill_(1)
        >>> describe_keep_rates(ref, near=1.0, far=3.0)  # (0.05 + 0.01 * 1.0) / (0.2 + 0.01): KEEP_RATE_PRIOR
        '1.00-2.00 m 1.00, 2.00-3.00 m 0.29'
    """
    if int(reference.seen) == 0:
        return None
    rates = reference.keep_rate(dst)[0].tolist()  # depth, the one feature
    width = (far - near) / len(rates)
    return ", ".join(f"{near + j * width:.2f}-{near + (j + 1) * width:.2f} m {k:.2f}" for j, k in enumerate(rates))


def return_rate_loss(source: torch.Tensor, keep_logit: torch.Tensor, keep_rate: torch.Tensor,
                     gap: float) -> torch.Tensor:
    """How far each source return's keep probability is from its bin's keep rate in the target set: the mean over
    the source's returns (and the features) of ``KL(Bernoulli(k) || Bernoulli(sigmoid(logit)))``, nats, >= 0
    (0 when every return's probability equals its bin's rate).

    A per-pixel term, not a count: a count per bin is met by dropping any returns of the bin, and in design runs
    the logits settled on the threshold and dropped at random (docs/sensor-aware.md, "Tenth round"). Per pixel,
    a return in a bin the target keeps less than half of ends below the threshold (dropped, deterministically), one
    in a bin it mostly keeps above; the adversarial term can move individual returns across within a bin.

    Args:
        source: ``(B, C, H, W)`` the translation's source (bins from it; no gradient).
        keep_logit: ``(B, 1, H, W)`` the generator's keep logit (> 0 keeps a source return), with a gradient.
        keep_rate: ``(F, bins)`` from :meth:`ReturnRateReference.keep_rate`.
        gap: codec invalid band.

    Example:
        >>> x = torch.zeros(1, 4, 4, 4); x[:, :3] = 0.5; x[:, 3, :, :2] = 0.2; x[:, 3, :, 2:] = 0.9
        >>> rate = torch.ones(1, RETURN_BINS); rate[0, 7] = 0.0    # the far end: no return in the target
        >>> logit = torch.zeros(1, 1, 4, 4)                       # every return kept with probability 1/2
        >>> round(float(return_rate_loss(x, logit, rate, 0.05)), 4)  # KL(1 || 1/2) = KL(0 || 1/2) = log 2
        0.6931
    """
    valid = returns_of(source, gap)
    bins_of = feature_bins(source.detach(), gap, keep_rate.shape[1])  # (B, F, H, W)
    rate = keep_rate.to(keep_logit.dtype)
    target = torch.stack([rate[f][bins_of[:, f]] for f in range(bins_of.shape[1])], dim=1)  # (B, F, H, W)
    logit = keep_logit.float().expand_as(target)
    cross = F.binary_cross_entropy_with_logits(logit, target, reduction="none")
    entropy = F.binary_cross_entropy(target, target, reduction="none")  # the cross entropy's floor, H(k)
    kl = (cross - entropy) * valid
    return kl.sum() / (valid.sum() * bins_of.shape[1]).clamp_min(1.0)
