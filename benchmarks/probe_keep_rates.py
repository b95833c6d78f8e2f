"""How far the return-rate term's keep-rate estimate can take the valid mask, measured without training.

The return-rate term (``loss.return_rate_weight``, volo_adapt/return_statistics.py) asks the generator to keep each
source return with its depth bin's keep rate, estimated from the two *unpaired* training sets; the per-pixel term
converges to "drop every return of a bin whose rate is below 1/2". This probe applies exactly that depth rule to the
paired scenes of a ``volo data synth`` set and scores the resulting valid mask against the sensor's truth
(``paired/B``), beside the identity (keep everything) and the best rule by depth bin (the *true* per-bin keep rate
from the paired scenes, thresholded). Variants: the estimator as built (:data:`RETURN_BINS`,
:data:`KEEP_RATE_PRIOR`), without the prior, and with other bin counts; the mask is the source's returns minus the
rule's drops. New returns as ``model.sensor.birth_rings: auto`` counts them (:mod:`volo_adapt.models.birth_rings`:
the target's returns beyond the source's per depth bin, in whole rings around the source's surfaces) are scored
alone ("rings") and with the estimate's drops ("estimate + rings").

With ``--c2st`` it also asks what a drop rule costs in distinguishability: the C2ST accuracy (``volo eval``'s
classifier, RGB-D and depth only, mean over ``--c2st-repeats`` classifier seeds) of the source's *test* images
with the rule's drops applied against the target's test images, beside the untouched source and random drops at
the true per-bin rate (what a depth-only model of the sensor's own dropout rate would scatter).

Usage::

    python benchmarks/probe_keep_rates.py DATA [DATA ...] --out runs/keep-probe   # folders from volo data synth
    python benchmarks/probe_keep_rates.py DATA --c2st --out runs/keep-probe      # + what the rule costs in C2ST

Writes ``OUT/keep_rates.json`` and ``OUT/keep_rates.md``; seconds per set (reads 64 px sets once). Written by hand:
it is this project's own probe, no library implements it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from benchkit import probe_each_set, write_probe_rows

from volo_adapt.data.eval_sets import load_network_tensors, load_paired
from volo_adapt.data.sample import DepthCodec
from volo_adapt.losses import returns_of
from volo_adapt.metrics.c2st import c2st
from volo_adapt.models.birth_rings import excess_returns, ring_distance, ring_sizes, rings_to_fill
from volo_adapt.return_statistics import (
    KEEP_RATE_PRIOR,
    RETURN_BINS,
    feature_bins,
    histogram_of_returns,
    keep_rate_of,
    return_histogram,
)

VARIANTS = (
    ("estimate", RETURN_BINS, KEEP_RATE_PRIOR),
    ("estimate, no prior", RETURN_BINS, 0.0),
    ("estimate, 16 bins", 16, KEEP_RATE_PRIOR),
    ("estimate, 16 bins, no prior", 16, 0.0),
)
"""``(name, bins, prior)`` of the estimator variants scored beside the identity and the true-rate rule."""

NEARER_RADII = (1, 2, 4, 8)
"""Radii (px) of the "nearer surface" neighbourhood of the by-class variants."""


def estimated_keep_rate(source: torch.Tensor, target: torch.Tensor, gap: float, bins: int,
                        prior: float) -> torch.Tensor:
    """``(bins,)``: the target set's returns per source return in each depth bin, both raised by ``prior``, capped
    at 1 (:func:`keep_rate_of`, as ``ReturnRateReference.keep_rate``, over whole sets instead of running means).

    Args:
        source, target: ``(N, C, H, W)`` network images of the two unpaired training sets.
        gap: the codec's invalid band.
        bins: depth bins.
        prior: pseudo-returns per image pixel added to both counts.
    """
    return keep_rate_of(histogram_of_returns(target, gap, bins)[0], histogram_of_returns(source, gap, bins)[0],
                        prior)


def moves_first_keep_rate(source: torch.Tensor, target: torch.Tensor, gap: float,
                          bins: int = RETURN_BINS, prior: float = KEEP_RATE_PRIOR) -> torch.Tensor:
    """``(bins,)``: :func:`estimated_keep_rate` after reading each bin's deficit (the source's returns beyond the
    target's) as returns *moved* into the unused excess of nearer bins (the target's returns beyond the source's),
    as far as that excess reaches, and only the rest as drops. The opposite reading of the same two histograms
    (session 43: a `zone_tof` that moves its far returns onto nearer surfaces looks like one that drops them and
    adds near returns). Written by hand: a running balance over 8 bins."""
    have, want = histogram_of_returns(source, gap, bins)[0], histogram_of_returns(target, gap, bins)[0]
    moved, excess = torch.zeros_like(have), 0.0
    for j in range(bins):  # nearest bin first: excess of bins nearer than j covers j's deficit
        moved[j] = min(float((have[j] - want[j]).clamp_min(0)), excess)
        excess += float((want[j] - have[j]).clamp_min(0)) - float(moved[j])
    return keep_rate_of(want + moved, have, prior)


def true_keep_rate(source: torch.Tensor, truth: torch.Tensor, gap: float, bins: int) -> torch.Tensor:
    """``(bins,)``: of the paired source's returns in each bin, the share the sensor's truth also returns (1 where
    the bin holds none)."""
    return true_rate_of(feature_bins(source, gap, bins)[:, :1], source, truth, gap, bins)


def true_rate_of(index: torch.Tensor, source: torch.Tensor, truth: torch.Tensor, gap: float,
                 classes: int) -> torch.Tensor:
    """``(classes,)``: of the paired source's returns in each class (``index`` ``(N, 1, H, W)`` long), the share the
    truth also returns (1 where the class holds none)."""
    src = returns_of(source, gap) > 0
    kept = src & (returns_of(truth, gap) > 0)
    n_src = torch.zeros(classes).scatter_add_(0, index[src], torch.ones(int(src.sum())))
    n_kept = torch.zeros(classes).scatter_add_(0, index[kept], torch.ones(int(kept.sum())))
    return torch.where(n_src > 0, n_kept / n_src.clamp_min(1.0), torch.ones_like(n_src))


def nearer_surface(t: torch.Tensor, gap: float, radius: int, bins: int = RETURN_BINS) -> torch.Tensor:
    """``(N, 1, H, W)`` long: 1 at a return of ``t`` (network images, encoded depth last) with another return within
    ``radius`` px (a box) more than one depth bin (``(1 - gap) / bins`` encoded) nearer, else 0."""
    depth = t[:, -1:].float()
    valid = returns_of(t, gap) > 0
    far = torch.full_like(depth, 2.0)  # beyond any encoded depth: holes are never the nearer surface
    nearest = -F.max_pool2d(-torch.where(valid, depth, far), 2 * radius + 1, stride=1, padding=radius)
    return (valid & (depth - nearest > (1.0 - gap) / bins)).long()


def class_index(t: torch.Tensor, gap: float, radius: int, bins: int = RETURN_BINS) -> torch.Tensor:
    """``(N, 1, H, W)`` long in ``[0, 2 bins)``: ``2 x depth bin + nearer_surface``."""
    return feature_bins(t, gap, bins)[:, :1] * 2 + nearer_surface(t, gap, radius, bins)


def estimated_keep_rate_by_class(source: torch.Tensor, target: torch.Tensor, gap: float, radius: int,
                                 bins: int = RETURN_BINS, prior: float = KEEP_RATE_PRIOR) -> torch.Tensor:
    """``(bins, 2)``: :func:`estimated_keep_rate` per depth bin and :func:`nearer_surface` class (column 0: no
    nearer surface), each class's rates along depth with the nearer-bin prior."""
    def hist(t: torch.Tensor) -> torch.Tensor:
        return return_histogram(class_index(t, gap, radius, bins), returns_of(t, gap), 2 * bins)[0].view(bins, 2)

    return keep_rate_of(hist(target).T, hist(source).T, prior).T


def class_rule_iou(source: torch.Tensor, truth: torch.Tensor, rate: torch.Tensor, radius: int, gap: float) -> float:
    """Valid-mask IoU against ``truth`` of ``source``'s returns minus those whose class's ``rate`` ``(bins, 2)`` is
    below 1/2."""
    return mask_iou(source, truth, rate.reshape(-1), 0, gap, class_index(source, gap, radius, rate.shape[0]))


def rule_iou(source: torch.Tensor, truth: torch.Tensor, rate: torch.Tensor, gap: float) -> float:
    """Valid-mask IoU against ``truth`` of ``source``'s returns minus those in bins whose ``rate`` is below 1/2."""
    return mask_iou(source, truth, rate, 0, gap)


def estimated_rings(source: torch.Tensor, target: torch.Tensor, gap: float) -> int:
    """Rings around the source's surfaces that the target's excess returns fill (as ``birth_rings: auto``
    estimates them, over whole sets): ``(N, C, H, W)`` network images of the two unpaired training sets."""
    excess = excess_returns(histogram_of_returns(target, gap)[0], histogram_of_returns(source, gap)[0])
    return rings_to_fill(excess, ring_sizes(returns_of(source, gap) > 0))


def mask_iou(source: torch.Tensor, truth: torch.Tensor, rate: torch.Tensor, rings: int, gap: float,
             index: torch.Tensor | None = None) -> float:
    """:func:`rule_iou` with new returns on the first ``rings`` rings around ``source``'s returns added. ``index``:
    each source pixel's entry of ``rate`` (``(N, 1, H, W)`` long; None: its depth bin, ``rate`` one per bin)."""
    src = returns_of(source, gap) > 0
    index = feature_bins(source, gap, rate.shape[0])[:, :1] if index is None else index
    keep = rate[index] >= 0.5
    distance = ring_distance(src, rings)
    born = (distance >= 1) & (distance <= rings)
    mask, want = (src & keep) | born, returns_of(truth, gap) > 0
    return float((mask & want).sum() / (mask | want).sum().clamp_min(1))


def dropped(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``x`` ``(N, C, H, W)`` with every channel zeroed where ``keep`` ``(N, 1, H, W)`` bool is False (the network
    convention for a lost return: no depth, black colour)."""
    return x * keep.to(x.dtype)


def rule_c2st(test_a: torch.Tensor, test_b: torch.Tensor, rate: torch.Tensor, true_rate: torch.Tensor, gap: float,
              repeats: int) -> dict[str, float]:
    """C2ST accuracies (RGB-D and depth only) against ``test_b`` of ``test_a`` untouched, with the hard rule of
    ``rate`` applied, and with random drops at ``true_rate`` per bin (seeded)."""
    bins_of = feature_bins(test_a, gap, rate.shape[0])[:, :1]
    draw = torch.rand(bins_of.shape, generator=torch.Generator().manual_seed(0))
    judged = {"identity": test_a, "rule": dropped(test_a, rate[bins_of] >= 0.5),
              "random at true rate": dropped(test_a, draw < true_rate[bins_of])}
    out = {}
    for name, x in judged.items():
        for channels in ("rgbd", "depth"):
            out[f"C2ST {channels}, {name}"] = c2st(x, test_b, channels, repeats=repeats).acc
    return out


def probe(data: Path, codec: DepthCodec, size: int, c2st_repeats: int = 0) -> dict[str, float]:
    """The identity's, each variant's and the true-rate rule's IoU on one synth set; with ``c2st_repeats`` > 0
    also :func:`rule_c2st` of the estimate as built."""
    a, _ = load_network_tensors([str(data / "A" / "train")], size, codec, 1000.0)
    b, _ = load_network_tensors([str(data / "B" / "train")], size, codec, 1000.0)
    pa, pb = load_paired(data / "paired", "a2b", size, codec, 1000.0)
    gap = codec.gap
    row = {"identity": rule_iou(pa, pb, torch.ones(1), gap)}
    rates = {name: estimated_keep_rate(a, b, gap, bins, prior) for name, bins, prior in VARIANTS}
    for name, rate in rates.items():
        row[name] = rule_iou(pa, pb, rate, gap)
    row["estimate, moves nearer first"] = rule_iou(pa, pb, moves_first_keep_rate(a, b, gap), gap)
    for bins in sorted({bins for _, bins, _ in VARIANTS}):
        row[f"true rate, {bins} bins"] = rule_iou(pa, pb, true_keep_rate(pa, pb, gap, bins), gap)
    for radius in NEARER_RADII:
        true_rate = true_rate_of(class_index(pa, gap, radius), pa, pb, gap, 2 * RETURN_BINS).view(RETURN_BINS, 2)
        row[f"estimate by depth and nearer surface, {radius} px"] = class_rule_iou(
            pa, pb, estimated_keep_rate_by_class(a, b, gap, radius), radius, gap)
        row[f"true rate by depth and nearer surface, {radius} px"] = class_rule_iou(pa, pb, true_rate, radius, gap)
    rings = estimated_rings(a, b, gap)
    row["rings (count)"] = float(rings)
    row["rings"] = mask_iou(pa, pb, torch.ones(1), rings, gap)
    row["estimate + rings"] = mask_iou(pa, pb, rates["estimate"], rings, gap)
    if c2st_repeats > 0:
        ta, _ = load_network_tensors([str(data / "A" / "test")], size, codec, 1000.0)
        tb, _ = load_network_tensors([str(data / "B" / "test")], size, codec, 1000.0)
        row |= rule_c2st(ta, tb, rates["estimate"], true_keep_rate(pa, pb, gap, RETURN_BINS), gap, c2st_repeats)
    return row


def markdown(rows: dict[str, dict[str, float]]) -> str:
    cols = list(next(iter(rows.values())))
    lines = ["| set | " + " | ".join(cols) + " |", "| --- |" + " --- |" * len(cols)]
    lines += [f"| {name} | " + " | ".join(f"{row[c]:.3f}" for c in cols) + " |" for name, row in rows.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, nargs="+", help="folders written by volo data synth (A/, B/, paired/)")
    p.add_argument("--size", type=int, default=64, help="evaluation side, pixels (the sets' own)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--c2st", action="store_true", help="also the C2ST of the rule's drops on the test images")
    p.add_argument("--c2st-repeats", type=int, default=5, help="classifier seeds per C2ST (with --c2st)")
    args = p.parse_args(argv)
    codec = DepthCodec()
    rows = probe_each_set(args.data, ("paired",),
                          lambda data: probe(data, codec, args.size, args.c2st_repeats if args.c2st else 0))
    write_probe_rows(args.out, "keep_rates", rows, markdown)
    return rows


if __name__ == "__main__":
    main()
