"""The built-in registered metrics (imported by the registry on first use).

Key conventions of the returned values, so every table row reads the same way:

* ``value``: the statistic of the judged set (translated images; the source for the identity baseline;
  target half 1 for the floor).
* ``target``: the same statistic of the reference (real target) set.
* ``abs_diff``: ``|value - target|``; ``w1_*`` / ``*_dist_*``: a distance between the two distributions.

Units are in the key: ``_mm`` millimetres, ``_mm_per_px`` millimetres of depth per pixel, fractions in
``[0, 1]`` otherwise, ``_per_1000`` per 1000 subject pixels. See ``depth_stats.py``, ``geometry.py``, ``c2st.py``,
``fid.py`` and ``speckle.py`` (``speckle_holes``, ``speckle_outliers``, ``colour_speckle``, registered there) for
the protocols.
"""

from __future__ import annotations

import math

import kornia
import torch

from volo_adapt.metrics import depth_stats as ds
from volo_adapt.metrics.c2st import c2st
from volo_adapt.metrics.fid import frechet_distance, inception_feature, inception_unavailable_reason, kernel_distance
from volo_adapt.metrics.geometry import geometry_errors, masked_median
from volo_adapt.metrics.registry import MetricInputs, MetricOptions, MetricResult, register_metric


def _nan_diff(a: float, b: float) -> float:
    return abs(a - b) if math.isfinite(a) and math.isfinite(b) else math.nan


def _per_set(inp: MetricInputs, stat) -> tuple[float, float]:
    """``stat(depth, valid)`` of the candidate and of the reference (memoised per set)."""
    out = []
    for name in ("candidate", "reference"):
        _, d, v = inp.decoded(name)
        out.append(inp.memo(name, stat.__name__, lambda d=d, v=v: stat(d, v)))
    return out[0], out[1]


def _invalid_fraction(depth: torch.Tensor, valid: torch.Tensor) -> float:
    return ds.invalid_fraction_in_subject(valid)


@register_metric(
    "depth_invalid_fraction_subject",
    description="Fraction of invalid depth inside the subject (closing of each set's own valid mask)",
    cheap=True,
)
def depth_invalid_fraction_subject(inp: MetricInputs) -> MetricResult:
    a, b = _per_set(inp, _invalid_fraction)
    return MetricResult({"value": a, "target": b, "abs_diff": _nan_diff(a, b)})


def _curve(inp: MetricInputs, name: str) -> dict:
    _, d, v = inp.decoded(name)
    edges = ds.depth_bins(inp.codec.near, inp.codec.far, inp.options.depth_bin_m)
    return inp.memo(name, f"noise_curve:{inp.options.depth_bin_m}", lambda: ds.noise_curve(d, v, edges))


def _noise_sigma(depth: torch.Tensor, valid: torch.Tensor) -> float:
    return ds.overall_noise_sigma(depth, valid)


@register_metric(
    "depth_noise_vs_range",
    description="Pixel-scale depth noise (robust std of a 3x3 high-pass residual), overall and per range bin",
    cheap=True,
)
def depth_noise_vs_range(inp: MetricInputs) -> MetricResult:
    a, b = _per_set(inp, _noise_sigma)
    ca, cb = _curve(inp, "candidate"), _curve(inp, "reference")
    dist = ds.curve_distance(ca["sigma_m"], cb["sigma_m"])
    return MetricResult(
        {
            "value_mm": a * 1000,
            "target_mm": b * 1000,
            "abs_diff_mm": _nan_diff(a, b) * 1000,
            "curve_dist_mm": dist * 1000,
        },
        details={"centers_m": ca["centers_m"], "sigma_m": ca["sigma_m"], "target_sigma_m": cb["sigma_m"],
                 "count": ca["count"], "target_count": cb["count"]},
    )


def _tail(depth: torch.Tensor, valid: torch.Tensor) -> float:
    return ds.tail_fraction(depth, valid)


@register_metric(
    "depth_tail_fraction",
    description="Flying pixels (inside a depth ramp by > max(2 cm, 4 %)) / pixels near a > 0.2 m discontinuity",
    cheap=True,
)
def depth_tail_fraction(inp: MetricInputs) -> MetricResult:
    a, b = _per_set(inp, _tail)
    return MetricResult({"value": a, "target": b, "abs_diff": _nan_diff(a, b)})


def _grad(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    return ds.gradient_magnitudes(depth, valid)


@register_metric(
    "depth_gradient_w1",
    description="Wasserstein-1 between Sobel depth-gradient magnitude distributions (valid 3x3 windows)",
    cheap=True,
)
def depth_gradient_w1(inp: MetricInputs) -> MetricResult:
    a, b = _per_set(inp, _grad)
    return MetricResult({"w1_mm_per_px": ds.wasserstein1(a, b) * 1000})


@register_metric(
    "depth_histogram_w1",
    description="Wasserstein-1 between the distributions of valid depths",
    cheap=True,
)
def depth_histogram_w1(inp: MetricInputs) -> MetricResult:
    (_, da, va), (_, db, vb) = inp.decoded("candidate"), inp.decoded("reference")
    return MetricResult({"w1_mm": ds.wasserstein1(da[va], db[vb]) * 1000})


@register_metric(
    "geometry_vs_source_median5",
    description="Judged depth vs its own source after a 5x5 masked median: MAE, AbsRel, delta<1.25, valid IoU",
    requires=("source",),
    cheap=True,
)
def geometry_vs_source(inp: MetricInputs) -> MetricResult:
    _, dt, vt = inp.decoded("candidate")
    _, dsrc, vs = inp.decoded("source")
    r = geometry_errors(dt, vt, dsrc, vs)
    return MetricResult({k: r[k] for k in ("mae_mm", "absrel", "delta125", "valid_iou")}, {"pixels": r["pixels"]})


def _c2st_metric(channels: str):
    def fn(inp: MetricInputs) -> MetricResult:
        o = inp.options
        r = c2st(inp.candidate, inp.reference, channels=channels, seed=o.seed, epochs=o.c2st_epochs,
                 size=o.c2st_size, device=o.device, repeats=o.c2st_repeats)
        return MetricResult(r.as_dict())

    return fn


for _ch, _what in (("rgbd", "RGB-D"), ("rgb", "RGB only"), ("depth", "depth only")):
    register_metric(
        f"c2st_{_ch}_acc",
        description=f"Held-out accuracy of a small CNN telling judged from target images, {_what} (0.5 = chance)",
    )(_c2st_metric(_ch))


def _inception_reason(o: MetricOptions) -> str | None:
    return inception_unavailable_reason(o.inception_weights)


def _inception_features_net(inp: MetricInputs):
    key = ("net", "inception", str(inp.options.inception_weights))
    if key not in inp.cache:
        inp.cache[key] = (None, inception_feature(inp.options.inception_weights).to(inp.options.device))
    return inp.cache[key][1]


@register_metric(
    "fid_rgb_inception",
    description="FID of RGB (torchmetrics Inception-v3 pool3, 2048-d; biased upward for small sets, compare with "
    "the floor); needs the fid extra and local weights",
    unavailable=_inception_reason,
)
def fid_rgb_inception(inp: MetricInputs) -> MetricResult:
    net = _inception_features_net(inp)
    return MetricResult({"fid": frechet_distance(inp.reference[:, :3], inp.candidate[:, :3], net)})


@register_metric(
    "kid_rgb_inception",
    description="KID of RGB (torchmetrics Inception-v3 pool3, 100 subsets of min(1000, set size)); needs the fid "
    "extra and local weights",
    unavailable=_inception_reason,
)
def kid_rgb_inception(inp: MetricInputs) -> MetricResult:
    net = _inception_features_net(inp)
    mean, std = kernel_distance(inp.reference[:, :3], inp.candidate[:, :3], net, seed=inp.options.seed)
    return MetricResult({"kid_mean": mean, "kid_std": std})


@register_metric(
    "paired_depth_mae_mm",
    description="Per-pixel depth MAE of judged vs the true target rendering of the same scene (raw, and after a "
    "5x5 masked median of both: the systematic part); valid-mask IoU",
    requires=("paired",),
    cheap=True,
)
def paired_depth_mae(inp: MetricInputs) -> MetricResult:
    """``mae_mm``: over pixels valid in both. ``mae_median5_mm``: both maps through a 5x5 masked median first
    (:func:`~volo_adapt.metrics.geometry.masked_median`: valid pixels only, steps kept), over pixels valid in both
    filtered maps: noise drawn independently of the truth's own draw cannot match it pixel for pixel (a perfect
    translator of a noisy sensor reads about 1.4x the identity's raw MAE), the filtered MAE keeps only what the
    translation moved systematically. ``valid_iou``: IoU of the raw valid masks."""
    _, dc, vc = inp.decoded("paired_candidate")
    _, dt, vt = inp.decoded("paired_target")
    both = vc & vt
    union = int((vc | vt).sum())
    mae = float((dc[both] - dt[both]).abs().double().mean() * 1000) if bool(both.any()) else math.nan
    fc, okc = masked_median(dc, vc, 5)
    ft, okt = masked_median(dt, vt, 5)
    both5 = okc & okt
    mae5 = float((fc[both5] - ft[both5]).abs().double().mean() * 1000) if bool(both5.any()) else math.nan
    iou = float(both.sum()) / union if union else math.nan
    return MetricResult({"mae_mm": mae, "mae_median5_mm": mae5, "valid_iou": iou})


@register_metric(
    "paired_depth_stats_diff",
    description="Judged vs true target of the same scenes: hole-fraction and tail-fraction differences, "
    "noise-curve distance",
    requires=("paired",),
    cheap=True,
)
def paired_depth_stats_diff(inp: MetricInputs) -> MetricResult:
    _, dc, vc = inp.decoded("paired_candidate")
    _, dt, vt = inp.decoded("paired_target")
    subject = ds.subject_mask(vt)  # one region for both: the true target's silhouette
    area = subject.sum(dim=(1, 2, 3)).clamp_min(1).double()
    hole_c = (subject & ~vc).sum(dim=(1, 2, 3)).double() / area
    hole_t = (subject & ~vt).sum(dim=(1, 2, 3)).double() / area
    edges = ds.depth_bins(inp.codec.near, inp.codec.far, inp.options.depth_bin_m)
    curve = ds.curve_distance(ds.noise_curve(dc, vc, edges)["sigma_m"], ds.noise_curve(dt, vt, edges)["sigma_m"])
    return MetricResult(
        {
            "hole_frac_abs_diff": float((hole_c - hole_t).abs().mean()),
            "tail_frac_abs_diff": _nan_diff(ds.tail_fraction(dc, vc), ds.tail_fraction(dt, vt)),
            "noise_curve_dist_mm": curve * 1000,
        }
    )


@register_metric(
    "paired_rgb_psnr_ssim",
    description="RGB PSNR (dB, per image, capped at 100), SSIM (kornia, 7x7) and mean absolute error (0-1 "
    "units; also after a 5x5 box low-pass, which removes pixel noise) of judged vs true target",
    requires=("paired",),
    cheap=True,
)
def paired_rgb_psnr_ssim(inp: MetricInputs) -> MetricResult:
    rc, _, _ = inp.decoded("paired_candidate")
    rt, _, _ = inp.decoded("paired_target")
    mse = (rc.double() - rt.double()).pow(2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
    psnr = (10 * torch.log10(1.0 / mse)).mean()
    ssim = kornia.metrics.ssim(rc, rt, window_size=7, max_val=1.0).mean()
    mae = (rc.double() - rt.double()).abs().mean()
    # colour fidelity without pixel noise: two independent noisy captures differ by more than clean vs noisy
    low = (kornia.filters.box_blur(rc, (5, 5)).double() - kornia.filters.box_blur(rt, (5, 5)).double()).abs().mean()
    return MetricResult({"psnr_db": float(psnr), "ssim": float(ssim), "mae": float(mae), "mae_lowpass": float(low)})

from volo_adapt.metrics import speckle as _speckle  # noqa: E402, F401  (registers the speckle metrics, listed last)
