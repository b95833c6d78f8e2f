"""Speckle ("salt-and-pepper") failure detectors: isolated holes, depth outliers and colour specks in the subject.

A translator can turn every body into salt and pepper: single invalid pixels, single pixels metres off the surface
and dark single pixels in the colour. None of the distribution statistics of ``depth_stats.py`` moves much with a
few per cent of such pixels; these three counts do. All are rates **per 1000 subject pixels**, pooled over the
batch (count of flagged pixels in all images x 1000 / subject pixels in all images; NaN without a subject pixel).

Definitions (inputs: ``rgb`` ``(N, 3, H, W)`` in ``[0, 1]``, ``depth`` ``(N, 1, H, W)`` metres, ``valid``
``(N, 1, H, W)`` bool, as :meth:`~volo_adapt.metrics.registry.MetricInputs.decoded` returns them):

* **subject**: :func:`~volo_adapt.metrics.depth_stats.subject_mask`, the
  morphological closing of the image's own valid-depth mask by a square of about 8 % of the shorter side. Holes
  smaller than the square inside the silhouette belong to it; the invalid background around the silhouette does
  not.
* **neighbours** of a pixel: the 8 pixels of its 3x3 window (centre excluded) that lie inside the image.
* **isolated hole** (``speckle_holes``): an invalid subject pixel with at least 75 % of its neighbours valid (6 of
  8 inside the image): single-pixel holes and pairs or thin L-shapes of them count, a 2x2 block or a larger hole
  does not (that is the invalid fraction's business).
* **isolated outlier** (:func:`isolated_outliers`): a valid subject pixel with at least 5 valid neighbours whose
  value ``x`` differs from the lower median ``m`` of its valid neighbours by more than
  ``tau = max(t_abs, 5 * MAD)`` (MAD = lower median of ``|neighbour - m|``, no Gaussian scaling), *and* with at
  most 1 valid neighbour within ``tau`` of ``x``. The second condition keeps real edges out: a pixel on either
  side of a step between two surfaces, even at the tip of a jagged silhouette, has at least 2 neighbours on its
  own surface; a continuous ramp of flying pixels along an edge is the tail fraction's business, not speckle.
* ``speckle_outliers``: isolated outliers of depth with ``t_abs`` = 0.1 m.
* ``colour_speckle``: isolated outliers of luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` (``[0, 1]``) with
  ``t_abs`` = 0.15, judged only at valid-depth pixels and against valid-depth neighbours (the network tensors
  are black wherever depth is invalid, which would otherwise count every hole twice).

The registered metrics report, like the other statistics, ``per_1000`` (the judged set), ``target_per_1000`` (the
reference set's own rate: a sensor with real speckle has a non-zero one), ``abs_diff_per_1000`` and ``target_gap``
(:func:`~volo_adapt.metrics.headline.target_band_gap`: ``|per_1000 - target_per_1000| / max(0.25 *
target_per_1000, 0.5)``; at most 1 means "within 25 % of the target's value, or within 0.5 per 1000 where the
target's is below 2", the headline target of issue 21). The identity column is the untouched source's rate.

Everything is vectorised torch (8 shifted copies; a sort over the 8 neighbours of the few candidate pixels), done
in chunks of images to bound memory. ``kornia.filters.median_blur`` is not used because it takes no mask: invalid
pixels (0 m, black) would enter the medians.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from volo_adapt.metrics import depth_stats as ds
from volo_adapt.metrics.headline import target_band_gap
from volo_adapt.metrics.registry import MetricInputs, MetricResult, register_metric

HOLE_MIN_VALID = 0.75
"""An isolated hole has at least this fraction of its in-image neighbours valid."""
DEPTH_T_ABS_M = 0.10
"""Smallest depth difference (metres) that makes an outlier."""
COLOUR_T_ABS = 0.15
"""Smallest luminance difference (``[0, 1]`` units) that makes a colour speck."""
K_MAD = 5.0
"""The outlier threshold is at least this many local MADs."""
MIN_NEIGHBOURS = 5
"""An outlier needs at least this many valid neighbours (of 8) to be judged."""
MAX_SUPPORT = 1
"""An outlier has at most this many valid neighbours within the threshold of its own value."""
CHUNK = 8
"""Images per chunk (the 8-neighbour stacks of a 512x512 chunk take about 70 MB)."""

_OFFSETS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def neighbours(x: torch.Tensor) -> torch.Tensor:
    """The 8 neighbours of every pixel: ``(N, C, H, W)`` float -> ``(N, C, 8, H, W)``, 0 outside the image."""
    h, w = x.shape[-2:]
    p = F.pad(x, (1, 1, 1, 1))
    return torch.stack([p[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in _OFFSETS], dim=-3)


def masked_median(values: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """Lower median over the last dim of ``values`` ``(..., 8)`` where ``ok`` (bool, same shape); NaN where none."""
    n = ok.sum(dim=-1, keepdim=True)
    s = torch.where(ok, values, torch.full_like(values, math.inf)).sort(dim=-1).values
    med = s.gather(-1, (n - 1).clamp_min(0)).squeeze(-1)
    return torch.where(n.squeeze(-1) > 0, med, torch.full_like(med, math.nan))


def isolated_outliers(x: torch.Tensor, valid: torch.Tensor, t_abs: float, k_mad: float = K_MAD) -> torch.Tensor:
    """Isolated outliers of ``x`` (see the module docstring) among the valid pixels.

    Since the threshold is at least ``t_abs``, only pixels with at most :data:`MAX_SUPPORT` valid neighbours
    within ``t_abs`` can be outliers; the medians are computed for those candidates only.

    Args:
        x: ``(N, 1, H, W)`` float (depth in metres, or luminance).
        valid: ``(N, 1, H, W)`` bool; invalid pixels are neither judged nor used as neighbours.
        t_abs: the smallest difference that makes an outlier, in the units of ``x``.
        k_mad: the threshold is at least ``k_mad`` local MADs.

    Returns:
        ``(N, 1, H, W)`` bool, a subset of ``valid``.
    """
    x = x.float()
    nb = neighbours(x)
    ok = neighbours(valid.float()) > 0.5
    near = ok & ((nb - x.unsqueeze(2)).abs() <= t_abs)
    cand = valid & (ok.sum(dim=2) >= MIN_NEIGHBOURS) & (near.sum(dim=2) <= MAX_SUPPORT)
    nb_c, ok_c, x_c = nb.movedim(2, -1)[cand], ok.movedim(2, -1)[cand], x[cand]  # (K, 8), (K, 8), (K,)
    med = masked_median(nb_c, ok_c)
    mad = masked_median((nb_c - med.unsqueeze(-1)).abs(), ok_c)
    tau = torch.clamp(k_mad * mad, min=t_abs)
    support = (ok_c & ((nb_c - x_c.unsqueeze(-1)).abs() <= tau.unsqueeze(-1))).sum(dim=-1)
    out = torch.zeros_like(valid)
    out[cand] = ((x_c - med).abs() > tau) & (support <= MAX_SUPPORT)
    return out


def isolated_holes(valid: torch.Tensor, subject: torch.Tensor) -> torch.Tensor:
    """Invalid subject pixels with at least :data:`HOLE_MIN_VALID` of their in-image neighbours valid.

    Args:
        valid: ``(N, 1, H, W)`` bool.
        subject: ``(N, 1, H, W)`` bool (:func:`~volo_adapt.metrics.depth_stats.subject_mask`).

    Returns:
        ``(N, 1, H, W)`` bool.
    """
    inside = neighbours(torch.ones_like(valid, dtype=torch.float32)).sum(dim=2)
    n_valid = neighbours(valid.float()).sum(dim=2)
    return subject & ~valid & (n_valid >= HOLE_MIN_VALID * inside)


def luminance(rgb: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of ``(N, 3, H, W)`` RGB in ``[0, 1]`` -> ``(N, 1, H, W)`` in ``[0, 1]``."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * w).sum(dim=1, keepdim=True)


def speckle_counts(rgb: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor) -> dict[str, int]:
    """Flagged-pixel counts of one set, summed over the batch (see the module docstring).

    Args:
        rgb: ``(N, 3, H, W)`` float in ``[0, 1]``.
        depth: ``(N, 1, H, W)`` float metres, 0 where invalid.
        valid: ``(N, 1, H, W)`` bool.

    Returns:
        ``{"subject": pixels, "holes": .., "outliers": .., "colour": ..}`` (ints).
    """
    out = {"subject": 0, "holes": 0, "outliers": 0, "colour": 0}
    for i in range(0, len(depth), CHUNK):
        d, v, c = depth[i : i + CHUNK], valid[i : i + CHUNK], rgb[i : i + CHUNK]
        subject = ds.subject_mask(v)
        out["subject"] += int(subject.sum())
        out["holes"] += int(isolated_holes(v, subject).sum())
        out["outliers"] += int((isolated_outliers(d, v, DEPTH_T_ABS_M) & subject).sum())
        out["colour"] += int((isolated_outliers(luminance(c), v, COLOUR_T_ABS) & subject).sum())
    return out


def per_1000(counts: dict[str, int], what: str) -> float:
    """``counts[what]`` per 1000 subject pixels; NaN without a subject pixel."""
    return 1000.0 * counts[what] / counts["subject"] if counts["subject"] else math.nan


def _counts(inp: MetricInputs, name: str) -> dict[str, int]:
    rgb, d, v = inp.decoded(name)
    return inp.memo(name, "speckle_counts", lambda: speckle_counts(rgb, d, v))


def _speckle_metric(what: str):
    def fn(inp: MetricInputs) -> MetricResult:
        ca, cb = _counts(inp, "candidate"), _counts(inp, "reference")
        a, b = per_1000(ca, what), per_1000(cb, what)
        diff = abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.nan
        return MetricResult(
            {"per_1000": a, "target_per_1000": b, "abs_diff_per_1000": diff, "target_gap": target_band_gap(a, b)},
            details={"count": ca[what], "subject_pixels": ca["subject"], "target_count": cb[what],
                     "target_subject_pixels": cb["subject"]},
        )

    return fn


_DESCRIPTIONS = {
    "speckle_holes": "Isolated invalid pixels (>= 75 % of the 8 neighbours valid) inside the subject",
    "speckle_outliers": "Isolated depth outliers (> max(0.1 m, 5 MAD) off the 3x3 median, <= 1 neighbour near)",
    "colour_speckle": "Isolated luminance outliers (> max(0.15, 5 MAD) off the 3x3 median, <= 1 neighbour near)",
}

for _name, _what in (("speckle_holes", "holes"), ("speckle_outliers", "outliers"), ("colour_speckle", "colour")):
    register_metric(
        _name,
        description=_DESCRIPTIONS[_name] + ", per 1000 subject pixels; target_gap = |diff| / max(25 % of target, "
        "0.5), <= 1 meets the target",
    )(_speckle_metric(_what))
