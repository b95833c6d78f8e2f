"""The headline rows of a translation report: what `volo demo` prints and `benchmarks/bench_quality.py` tabulates.

Each row names one value of a registered metric (``metric/key``), which way is better, and the target the project
holds a translator to (issue "make the translator translate"). Targets compare the model's value with the
reference rows of the same report:

* ``identity``: the untouched source (a translation must beat doing nothing);
* ``sensor``: the true target renderings of the paired scenes (the target sensor's own geometry error is the bar
  for geometry vs source).
* ``within 25 % of target``: the row's value is a :func:`target_band_gap` (``|value - target| / max(25 % of the
  target's value, 0.5)``, computed by the metric against its own reference set); at most 1 meets it (issue 21:
  "within 25 % of the target's value, or within 0.5 per 1000 subject pixels where the target's is near zero").
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class HeadlineRow:
    """One row: ``label`` for people, ``key`` = ``metric/value-key``, ``better`` = ``lower`` | ``higher``,
    ``target`` = one of :data:`TARGET_RULES` or "" (shown for information only)."""

    label: str
    key: str
    better: str
    target: str = ""

    @property
    def metric(self) -> str:
        return self.key.split("/")[0]


BAND_RULE = "within 25 % of target"
"""The rule of the speckle rows: the value is a :func:`target_band_gap`, met when at most 1."""

TARGET_RULES = ("<= 0.60 and < identity", "<= 0.70 and < identity", "< identity", ">= identity", "<= identity",
                "<= identity + 10 %", "<= 1.5 x identity", "<= sensor", BAND_RULE)

HEADLINE_ROWS: tuple[HeadlineRow, ...] = (
    HeadlineRow("C2ST RGB-D accuracy (0.5 = indistinguishable)", "c2st_rgbd_acc/acc", "lower",
                "<= 0.60 and < identity"),
    HeadlineRow("C2ST RGB accuracy", "c2st_rgb_acc/acc", "lower"),
    HeadlineRow("C2ST depth accuracy", "c2st_depth_acc/acc", "lower", "< identity"),
    HeadlineRow("invalid fraction in subject, |diff| to target", "depth_invalid_fraction_subject/abs_diff", "lower",
                "< identity"),
    HeadlineRow("tail fraction, |diff| to target", "depth_tail_fraction/abs_diff", "lower", "< identity"),
    HeadlineRow("noise vs range, curve distance mm", "depth_noise_vs_range/curve_dist_mm", "lower", "< identity"),
    HeadlineRow("depth-gradient W1, mm/px", "depth_gradient_w1/w1_mm_per_px", "lower", "< identity"),
    HeadlineRow("depth histogram W1, mm", "depth_histogram_w1/w1_mm", "lower", "< identity"),
    HeadlineRow("valid-mask IoU vs paired truth", "paired_depth_mae_mm/valid_iou", "higher", ">= identity"),
    HeadlineRow("paired depth MAE, mm", "paired_depth_mae_mm/mae_mm", "lower", "<= identity + 10 %"),
    HeadlineRow("paired depth MAE after a 5x5 median of both, mm (the systematic part)",
                "paired_depth_mae_mm/mae_median5_mm", "lower", "<= identity"),
    HeadlineRow("geometry vs source MAE, mm", "geometry_vs_source_median5/mae_mm", "lower", "<= sensor"),
    HeadlineRow("RGB MAE vs paired truth (0-1)", "paired_rgb_psnr_ssim/mae", "lower", "<= identity + 10 %"),
    HeadlineRow("RGB MAE vs paired truth after a 5x5 low-pass (colour without pixel noise)",
                "paired_rgb_psnr_ssim/mae_lowpass", "lower"),
    HeadlineRow("RGB PSNR vs paired truth, dB", "paired_rgb_psnr_ssim/psnr_db", "higher"),
    HeadlineRow("speckle holes per 1000 subject px, |diff| / max(25 % of target, 0.5)", "speckle_holes/target_gap",
                "lower", BAND_RULE),
    HeadlineRow("depth speckle outliers per 1000 subject px, |diff| / max(25 % of target, 0.5)",
                "speckle_outliers/target_gap", "lower", BAND_RULE),
    HeadlineRow("colour speckle per 1000 subject px, |diff| / max(25 % of target, 0.5)", "colour_speckle/target_gap",
                "lower", BAND_RULE),
)
"""The rows, in display order."""


def headline_metrics() -> list[str]:
    """Registered metric names the headline rows need (sorted, unique)."""
    return sorted({row.metric for row in HEADLINE_ROWS})


def meets_target(rule: str, value: float, identity: float, sensor: float | None = None) -> bool | None:
    """Whether ``value`` meets ``rule`` given the report's identity (and sensor) values; None when undecidable.

    For :data:`BAND_RULE` ``value`` is the row's :func:`target_band_gap` (identity and sensor are not used).

    Example:
        >>> meets_target("< identity", 0.5, 0.7), meets_target("<= identity + 10 %", 0.76, 0.7)
        (True, True)
    """
    if rule == BAND_RULE:
        return value <= 1.0 if math.isfinite(value) else None
    if not rule or not math.isfinite(value) or not math.isfinite(identity):
        return None
    if rule in ("<= 0.60 and < identity", "<= 0.70 and < identity"):
        return value <= float(rule.split()[1]) and value < identity
    if rule == "< identity":
        return value < identity
    if rule == ">= identity":
        return value >= identity
    if rule == "<= identity":
        return value <= identity
    if rule == "<= 1.5 x identity":
        return value <= 1.5 * identity
    if rule == "<= identity + 10 %":
        return value <= 1.1 * identity
    if rule == "<= sensor":
        return None if sensor is None or not math.isfinite(sensor) else value <= sensor
    raise ValueError(f"unknown target rule {rule!r} (known: {', '.join(TARGET_RULES)})")


def target_band_gap(value: float, target: float, rel: float = 0.25, abs_tol: float = 0.5) -> float:
    """``|value - target| / max(rel * |target|, abs_tol)``: at most 1 when ``value`` is within ``rel`` (25 %) of
    ``target``, or within ``abs_tol`` (units of the values, e.g. 0.5 per 1000 pixels) where ``target`` is near zero
    (below ``abs_tol / rel``); NaN when either is not finite.

    Example:
        >>> target_band_gap(12.0, 10.0), target_band_gap(0.4, 0.0)
        (0.8, 0.8)
    """
    if not math.isfinite(value) or not math.isfinite(target):
        return math.nan
    return abs(value - target) / max(rel * abs(target), abs_tol)
