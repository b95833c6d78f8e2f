"""The three comparisons every metric is computed for, so each number has its scale next to it.

* ``model``: translated source images judged against the real target set (the result).
* ``identity``: the source images *untouched*, treated as if they were the translation (the "did nothing"
  baseline: a translation is only useful where it beats this).
* ``floor``: the target set split in two seeded halves, half 1 judged against half 2 (what two samples of
  the real target domain look like to the metric: the best a translation can reach). It uses half the
  target images on each side, so sample-size-biased numbers (FID, C2ST interval width) are somewhat
  pessimistic there. Metrics that need a source or paired data are n/a for the floor.
* ``sensor`` (only with paired data): the *true* target renderings of the paired scenes judged against the
  target set, with the paired source renderings as their source. This is what a perfect translation of those
  scenes would score; in particular its geometry-vs-source error is the target sensor's own (holes, tails and
  noise move depth away from the clean source too), the bar a translation's geometry error is held to.
  Paired metrics are n/a for it (they would compare the truth with itself).
"""

from __future__ import annotations

from typing import Any

import torch

from volo_adapt.data.sample import DepthCodec
from volo_adapt.metrics.registry import MetricInputs, MetricOptions

COMPARISONS = ("model", "identity", "floor", "sensor")
"""Comparison names, in table-column order."""

COMPARISON_LABELS = {
    "model": "model: translated vs target",
    "identity": "identity: source as-is vs target",
    "floor": "floor: target half vs other half",
    "sensor": "sensor: true target renderings of the paired scenes vs target",
}


def target_halves(target: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``(M, ...)`` into two disjoint seeded halves of ``M // 2`` images each."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(target), generator=g)
    h = len(target) // 2
    return target[perm[:h]], target[perm[h : 2 * h]]


def comparison_inputs(
    source: torch.Tensor,
    translated: torch.Tensor,
    target: torch.Tensor,
    codec: DepthCodec,
    options: MetricOptions | None = None,
    paired_source: torch.Tensor | None = None,
    paired_translated: torch.Tensor | None = None,
    paired_target: torch.Tensor | None = None,
) -> dict[str, MetricInputs]:
    """Build the :class:`MetricInputs` of each comparison (all share one memo cache).

    Args:
        source: ``(N, 4, H, W)`` source-domain network tensors in ``[0, 1]``.
        translated: ``(N, 4, H, W)`` their translations, aligned with ``source``.
        target: ``(M, 4, H, W)`` real target-domain images.
        codec: depth codec of the network tensors.
        options: metric settings (``seed`` also seeds the target halves).
        paired_source: ``(P, 4, H, W)`` source renderings of scenes with a known target rendering, or None.
        paired_translated: ``(P, 4, H, W)`` their translations.
        paired_target: ``(P, 4, H, W)`` the true target renderings of the same scenes.

    Returns:
        ``{"model": ..., "identity": ..., "floor": ..., "sensor": ...}``; ``floor`` is absent when the target set
        has fewer than 4 images, ``sensor`` without paired data.
    """
    options = options or MetricOptions()
    cache: dict[Any, Any] = {}
    out = {
        "model": MetricInputs(translated, target, codec, source=source, paired_candidate=paired_translated,
                              paired_target=paired_target, options=options, cache=cache),
        "identity": MetricInputs(source, target, codec, source=source, paired_candidate=paired_source,
                                 paired_target=paired_target, options=options, cache=cache),
    }
    if paired_translated is None:
        out["model"].paired_target = out["identity"].paired_target = None
        out["identity"].paired_candidate = None
    if len(target) >= 4:
        half1, half2 = target_halves(target, options.seed)
        out["floor"] = MetricInputs(half1, half2, codec, options=options, cache=cache)
    if paired_source is not None and paired_target is not None:
        out["sensor"] = MetricInputs(paired_target, target, codec, source=paired_source, options=options, cache=cache)
    return out
