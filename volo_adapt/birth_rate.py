"""The birth-rate term: as many returns per source return as the target set has, the new ones placed by the
generator (``loss.birth_rate_weight``; needs ``model.sensor.new_returns: anchored``).

Why: new returns (births: a return where the source has none, beside a surface) are decided by the sensor head's
return logit, trained by the critic alone, and nothing fits their number. With the twenty-first round's birth rings
(drops + rings held at their anchors) the table's seed-0 checkpoints made 2.4 times the sensor's new returns on
`builtin_lidar` (0.344 per source return against 0.142, 37 % of them where the truth has one) and 1.7 times on
`zone_tof`; the preset's own design checkpoints come closer by count (`phone_lidar` 0.160 against 0.129) but put
80 % of them where the sensor has none (docs/sensor-aware.md, "Twenty-third round").

What the unpaired sets show: the returns per image of each domain (:class:`~volo_adapt.return_statistics.
ReturnRateReference`'s running histograms; scenes of the two domains come from one distribution), so their ratio
``rho = n_dst / n_src`` is how many returns a translation should have per source return. The returns the
translation keeps are decided elsewhere (learned drops, the return-rate term); the births should make up the rest:
``rho * (source returns) - (kept returns)`` of the batch, as a share of the birth candidates. The term is the
squared difference between that share and the share the pass gave a return (its hard count, with the
straight-through gradient of the logits that decided it), over the share's binomial variance: a shift of every
candidate's logit, so *where* the births go stays the head's (and the critic's) choice, only *how many* is fitted.

Limits: the ratio counts every return, so a sensor that drops and adds returns in one image region reads only
their net difference, and a translation that keeps too many returns gets fewer births, not more drops. Nothing
here knows a sensor: two counts per domain. Hand-written because no library has it.

Tensors: network images ``(B, C, H, W)`` float in [0, 1], RGB first, encoded depth last (invalid = 0).
"""

from __future__ import annotations

import torch

from volo_adapt.losses import returns_of
from volo_adapt.models.sensor_head import ReturnDecisions

BIRTH_RATE_FLOOR = 0.01
"""Added to the binomial variance ``p (1 - p)`` that scales the term, so that a target share near 0 or 1 (a sensor
that adds no returns) does not blow the term up (dimensionless)."""


def wanted_birth_share(source: torch.Tensor, returned: torch.Tensor, candidates: torch.Tensor, ratio: float,
                       gap: float) -> torch.Tensor:
    """The share of the birth candidates that should get a return: ``(ratio * source returns - kept returns) /
    candidates``, clipped to [0, 1] (a float32 scalar, no gradient; 0 without candidates).

    Args:
        source: ``(B, C, H, W)`` the translation's source.
        returned: ``(B, 1, H, W)`` 0/1, the pass's return mask (:class:`ReturnDecisions`).
        candidates: ``(B, 1, H, W)`` bool, the pixels that could get a new return.
        ratio: the target's returns per source return (:meth:`ReturnRateReference.return_ratio`).
        gap: codec invalid band.

    Example:
        >>> x = torch.zeros(1, 4, 4, 4); x[:, :, :, :2] = 0.5               # 8 source returns, 8 candidates
        >>> cand = x[:, -1:] == 0
        >>> float(wanted_birth_share(x, torch.ones(1, 1, 4, 4), cand, 1.5, 0.05))  # 12 wanted - 8 kept = 4 of 8
        0.5
    """
    with torch.no_grad():
        src = returns_of(source, gap)
        kept = (returned.detach().float() * src).sum()
        n = candidates.sum().float()
        want = (ratio * src.sum() - kept).clamp_min(0.0)
        return torch.where(n > 0, want / n.clamp_min(1.0), torch.zeros_like(n)).clamp(0.0, 1.0)


def birth_rate_loss(source: torch.Tensor, decisions: ReturnDecisions, ratio: float, gap: float) -> torch.Tensor:
    """``(b - p)^2 / (p (1 - p) + floor)``: ``b`` the share of the candidates this pass gave a return (hard
    forward, straight-through backward), ``p`` :func:`wanted_birth_share`; float32 scalar >= 0 (0 without
    candidates).

    Args:
        source: ``(B, C, H, W)`` the translation's source (no gradient).
        decisions: the generator's :class:`ReturnDecisions` of that pass (``returned`` and ``candidates`` set).
        ratio: the target's returns per source return.
        gap: codec invalid band.

    Example:
        >>> x = torch.zeros(1, 4, 4, 4); x[:, :, :, :2] = 0.5
        >>> cand = x[:, -1:] == 0
        >>> returned = torch.ones(1, 1, 4, 4)                                # all 8 candidates born: b = 1
        >>> round(float(birth_rate_loss(x, ReturnDecisions(None, returned, cand), 1.5, 0.05)), 4)  # p = 0.5
        0.9615
    """
    returned, candidates = decisions.returned, decisions.candidates
    if returned is None or candidates is None:
        raise ValueError("birth_rate_loss needs a generator with new_returns: anchored (no birth candidates)")
    wanted = wanted_birth_share(source, returned, candidates, ratio, gap)
    share = (returned.float() * candidates).sum() / candidates.sum().float().clamp_min(1.0)  # 0 - 0 without any
    return (share - wanted).square() / (wanted * (1.0 - wanted) + BIRTH_RATE_FLOOR)
