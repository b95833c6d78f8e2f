"""Geometry preservation: does the translated depth still describe the same surface as its source?

A translation should change the sensor's signature (noise, holes, tails), not move the subject. Both depth
maps are low-pass filtered first with a masked median (:func:`masked_median`: a ``k x k`` median over the
*valid* pixels only, which removes pixel noise and isolated flying pixels but keeps depth steps sharp and
never mixes in invalid zeros), then compared over the pixels valid in both.

Numbers (all pooled over every pixel of the batch that is valid in both filtered maps):

* ``mae_mm``: mean absolute depth difference in millimetres.
* ``absrel``: mean of ``|t - s| / s`` (s = source depth; the same as torchmetrics' MAPE, written here
  because it needs the mask).
* ``delta125``: fraction of pixels with ``max(t / s, s / t) < 1.25`` (torchmetrics has no delta metric).
* ``valid_iou``: intersection over union of the two valid masks (before filtering).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def masked_median(
    depth: torch.Tensor, valid: torch.Tensor, k: int = 5, min_valid: int | None = None, chunk: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """Median of the valid depths in each ``k x k`` window.

    Args:
        depth: ``(N, 1, H, W)`` float metres (0 invalid).
        valid: ``(N, 1, H, W)`` bool.
        k: odd window size.
        min_valid: a pixel's output is valid only if it is valid itself and at least this many window pixels
            are valid (default: more than half the window).
        chunk: images processed at once (bounds memory to ``chunk * k^2 * H * W`` floats).

    Returns:
        ``(filtered, ok)``: filtered depth ``(N, 1, H, W)`` metres (0 where not ok), ``ok`` bool.
    """
    assert depth.ndim == 4 and depth.shape[1] == 1 and valid.shape == depth.shape
    assert k % 2 == 1
    if min_valid is None:
        min_valid = k * k // 2 + 1
    n, _, h, w = depth.shape
    outs, oks = [], []
    for i in range(0, n, chunk):
        d = torch.where(valid[i : i + chunk], depth[i : i + chunk], torch.full_like(depth[i : i + chunk], math.nan))
        cols = F.unfold(d, k, padding=k // 2)  # (n, k*k, H*W); zero padding -> treat as invalid
        cols = torch.where(cols == 0, torch.full_like(cols, math.nan), cols)
        med = cols.nanmedian(dim=1).values.reshape(-1, 1, h, w)
        cnt = torch.isfinite(cols).sum(dim=1).reshape(-1, 1, h, w)
        ok = valid[i : i + chunk] & (cnt >= min_valid) & torch.isfinite(med)
        outs.append(torch.where(ok, med, torch.zeros_like(med)))
        oks.append(ok)
    return torch.cat(outs), torch.cat(oks)


def geometry_errors(
    depth_t: torch.Tensor, valid_t: torch.Tensor, depth_s: torch.Tensor, valid_s: torch.Tensor, k: int = 5
) -> dict[str, float]:
    """Compare a translated depth batch with its own source after masked-median low-pass filtering.

    Args:
        depth_t, valid_t: translated depth ``(N, 1, H, W)`` metres and its bool mask.
        depth_s, valid_s: source depth and mask, same shape, aligned sample by sample.
        k: median window.

    Returns:
        ``{"mae_mm", "absrel", "delta125", "valid_iou", "pixels"}`` (NaN where no pixel is valid in both).
    """
    assert depth_t.shape == depth_s.shape, f"shapes differ: {tuple(depth_t.shape)} vs {tuple(depth_s.shape)}"
    ft, okt = masked_median(depth_t, valid_t, k)
    fs, oks = masked_median(depth_s, valid_s, k)
    both = okt & oks
    union = int((valid_t | valid_s).sum())
    iou = float((valid_t & valid_s).sum()) / union if union else math.nan
    n = int(both.sum())
    if n == 0:
        return {"mae_mm": math.nan, "absrel": math.nan, "delta125": math.nan, "valid_iou": iou, "pixels": 0.0}
    t, s = ft[both].double(), fs[both].double()
    ratio = torch.maximum(t / s, s / t)
    return {
        "mae_mm": float((t - s).abs().mean() * 1000.0),
        "absrel": float(((t - s).abs() / s).mean()),
        "delta125": float((ratio < 1.25).double().mean()),
        "valid_iou": iou,
        "pixels": float(n),
    }
