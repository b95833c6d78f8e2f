"""Depth quantisation, noise versus range and range statistics, estimated from unpaired depth maps alone.

All depths are metres (``0`` = invalid). Estimators work on pooled values of many images; see each function for why
it works and when it fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

EDGE_REL = 0.05
"""A 3-pixel window whose outer depths differ by more than this fraction of its centre is a depth edge."""
MIN_STEP_M = 1e-5
"""Smallest metric step reported (10 um): below it the values are continuous (float storage)."""
MIN_COHERENCE = 0.8
"""Lattice coherence ``|mean exp(2 pi i v / step)|`` above which values count as quantised to ``step``."""
NOISE_BINS = 8
"""Depth bins of the noise-versus-range table (equal width between the 1st and 99th percentile)."""
MIN_BIN_COUNT = 100
"""Residuals a noise bin needs to be reported."""


@dataclass(frozen=True)
class Quantisation:
    """Depth quantisation of a source.

    Attributes:
        step_m: metric step (m) when the values lie on a lattice ``k * step_m``, else None. 16-bit millimetre PNG
            gives 0.001.
        step_coherence: lattice coherence of the metric step (dimensionless, 1 = every value on the lattice).
        disparity_step_per_m: step of ``1 / z`` (1/m) when, beyond the metric step, values lie on a lattice
            ``k * step`` in inverse depth (stereo / structured light: ``disparity_step_px / (f_px * baseline_m)``),
            else None.
        disparity_coherence: lattice coherence of the inverse-depth step (dimensionless).
        distinct_values: distinct valid depth values seen (count).
    """

    step_m: float | None
    step_coherence: float
    disparity_step_per_m: float | None
    disparity_coherence: float
    distinct_values: int


def _coherence(values: torch.Tensor, step: float) -> float:
    """``|mean exp(2 pi i v / step)|``: 1 when every value is a multiple of ``step``, about 0 for continuous ones."""
    if values.numel() == 0 or step <= 0:
        return 0.0
    ph = 2 * math.pi * torch.remainder(values / step, 1.0)
    return float(torch.hypot(torch.cos(ph).mean(), torch.sin(ph).mean()))


def strided(t: torch.Tensor, limit: int) -> torch.Tensor:
    """At most ``limit`` evenly strided elements of a 1-D tensor (all when it is short enough)."""
    return t if t.numel() <= limit else t[torch.linspace(0, t.numel() - 1, limit).long()]


def _refine_step(values: torch.Tensor, s0: float) -> tuple[float, float]:
    """The step in ``[0.7, 1.3] * s0`` of the highest lattice coherence: ``(step, coherence)``.

    A low gap percentile underestimates the step when the levels were rounded again (e.g. a disparity lattice
    stored as millimetres); the coherence peak is sharp (width ``~ step / max(values / step)``), so a coarse then
    a fine scan find it.
    """
    best, span = s0, 0.3
    for n in (601, 201):
        cand = best * (1 + torch.linspace(-span, span, n, dtype=torch.float64))
        cohs = torch.stack([torch.tensor(_coherence(values, float(c))) for c in cand])
        best = float(cand[int(cohs.argmax())])
        span = 2.5 * span / (n - 1)
    return best, _coherence(values, best)


def _bin_low_gaps(u: torch.Tensor, key: torch.Tensor, bins: int = 8) -> list[tuple[torch.Tensor, float, float]]:
    """Split sorted distinct values ``u`` into ``bins`` depth bins; per bin ``(values, low z gap, low 1/z gap)``."""
    out = []
    for chunk in torch.tensor_split(torch.arange(u.numel()), bins):
        if chunk.numel() < 8:
            continue
        v = u[chunk]
        gz = torch.diff(v)
        gw = -torch.diff(key[chunk])
        out.append((v, float(torch.quantile(gz, 0.1)), float(torch.quantile(gw, 0.1))))
    return out


def estimate_quantisation(values: torch.Tensor) -> Quantisation:
    """Find the metric step and an inverse-depth (disparity) lattice of pooled valid depths.

    **Why it works.** Quantised depths take few distinct values: consecutive distinct values differ by the step
    (when the levels are densely occupied), so a low percentile of the gaps estimates it, and the lattice coherence
    confirms it (a continuous distribution gives about 0). Stereo depth ``z = f B / (k s)`` is evenly spaced in
    ``1 / z``: per depth bin, the low gap of ``1 / z`` is constant, while a metric step gives ``1 / z`` gaps that
    shrink as ``1 / z^2``. Bins where the metric step is the limit (near range, gaps of ``z`` at the metric step)
    are left out of the inverse-depth estimate, so a 1 mm PNG does not hide a disparity lattice at range.

    **When it fails.** Sparse values (few pixels per level: the low gap is a multiple of the step), a noisy
    re-projection or resampling after quantisation (e.g. bilinear upsampling of quantised values), or a disparity
    lattice finer than the file's metric step at every depth.

    Args:
        values: ``(N,)`` float valid depths in metres (``> 0``), pooled over images.
    """
    u = torch.unique(values.double())
    n = u.numel()
    if n < 16:
        return Quantisation(None, 0.0, None, 0.0, n)
    gaps = torch.diff(u)
    step = float(torch.quantile(gaps, 0.02))
    coh = _coherence(values.double(), step) if step >= MIN_STEP_M else 0.0
    metric = step if coh >= MIN_COHERENCE else None
    bins = _bin_low_gaps(u, 1.0 / u)
    free = [(v, gw) for v, gz, gw in bins if metric is None or gz > 1.5 * metric]
    disp, dcoh = None, 0.0
    if len(free) >= 2:
        inv = strided(1.0 / torch.cat([v for v, _ in free]), 20_000)
        s0 = float(torch.tensor([gw for _, gw in free]).median())
        disp, dcoh = _refine_step(inv, s0) if s0 > 0 else (None, 0.0)
        disp = disp if dcoh >= MIN_COHERENCE else None
    return Quantisation(_sig(metric), round(coh, 4), _sig(disp), round(dcoh, 4), n)


def _sig(x: float | None, digits: int = 4) -> float | None:
    """``x`` to ``digits`` significant digits (None stays None)."""
    return None if x is None else float(f"{x:.{digits}g}")


def smooth_residuals(depth: torch.Tensor, limit: int = 50_000) -> tuple[torch.Tensor, torch.Tensor]:
    """High-pass residuals inside smooth surfaces of one ``(H, W)`` depth map (metres).

    ``r = z(x) - (z(x-1) + z(x+1)) / 2`` along rows and along columns, where all three pixels are valid and the
    window is not a depth edge (outer depths differ by less than :data:`EDGE_REL` of the centre).

    Returns:
        ``(z, r)``: ``(M,)`` float32 centre depths (m) and residuals (m), at most ``limit`` (evenly strided).
    """
    zs, rs = [], []
    for z in (depth, depth.T):
        left, mid, right = z[:, :-2], z[:, 1:-1], z[:, 2:]
        ok = (left > 0) & (mid > 0) & (right > 0) & ((right - left).abs() < EDGE_REL * mid)
        zs.append(mid[ok])
        rs.append((mid - 0.5 * (left + right))[ok])
    z, r = torch.cat(zs), torch.cat(rs)
    if z.numel() > limit:
        idx = torch.linspace(0, z.numel() - 1, limit).long()
        z, r = z[idx], r[idx]
    return z, r


@dataclass(frozen=True)
class NoiseBin:
    """Depth noise in one depth bin: ``z_m`` (bin centre, m), ``sigma_m`` (std, m), ``count`` (residuals)."""

    z_m: float
    sigma_m: float
    count: int


@dataclass(frozen=True)
class NoiseModel:
    """Local depth noise versus range.

    Attributes:
        bins: per depth bin, the noise std (see :class:`NoiseBin`), near to far.
        a_m: constant term of ``sigma(z) = a + b z + c z^2`` (m); None when no bin has enough residuals.
        b: linear term (m per m, dimensionless).
        c_per_m: quadratic term (1/m).
        grows_with_range: True when the fitted sigma at the farthest bin exceeds that at the nearest by 20 %.
    """

    bins: tuple[NoiseBin, ...]
    a_m: float | None
    b: float | None
    c_per_m: float | None
    grows_with_range: bool


def _robust_sigma(r: torch.Tensor) -> float:
    """Std of i.i.d. pixel noise from second-difference residuals: ``sqrt(pi/2) * mean|r| / sqrt(1.5)``.

    ``r = n0 - (n-1 + n+1) / 2`` has variance ``1.5 sigma^2``; the mean absolute value of a Gaussian is
    ``sqrt(2/pi)`` std. The top 2 % are trimmed (curvature at silhouettes, flying pixels). Unlike the median
    absolute deviation, the mean stays > 0 when most residuals are exactly 0 (coarse quantisation).
    """
    a = r.abs()
    a = a[a <= torch.quantile(a, 0.98)]
    return float(math.sqrt(math.pi / 2) * a.mean() / math.sqrt(1.5))


def _fit_law(bins: list[NoiseBin]) -> tuple[float, float, float]:
    """Weighted least squares of ``sigma = a + b z + c z^2`` (fewer terms when fewer than 3 bins)."""
    z = torch.tensor([b.z_m for b in bins], dtype=torch.float64)
    s = torch.tensor([b.sigma_m for b in bins], dtype=torch.float64)
    w = torch.tensor([b.count for b in bins], dtype=torch.float64).sqrt()
    terms = min(3, len(bins))
    basis = torch.stack([z**k for k in range(terms)], dim=1)
    coef = torch.linalg.lstsq(basis * w[:, None], (s * w)[:, None]).solution[:, 0].tolist()
    coef += [0.0] * (3 - terms)
    return coef[0], coef[1], coef[2]


def estimate_noise(z: torch.Tensor, r: torch.Tensor) -> NoiseModel:
    """Noise std per depth bin and the fitted law ``sigma = a + b z + c z^2``.

    **Why it works.** Inside a smooth surface the depth is locally linear, so the second-difference residual
    (:func:`smooth_residuals`) is the noise, up to the surface's curvature (small at the pixel scale).

    **When it fails.** Spatially correlated noise (depth upsampled from a coarser grid, or filtered) is
    underestimated, since neighbours share their error; quantisation adds ``step^2 / 12`` variance (0.3 mm std for
    1 mm); strongly curved or textured surfaces add their shape; a narrow depth range gives an ill-conditioned fit.

    Args:
        z: ``(M,)`` centre depths (m); r: ``(M,)`` residuals (m), from :func:`smooth_residuals` pooled over images.
    """
    empty = NoiseModel((), None, None, None, False)
    if z.numel() < MIN_BIN_COUNT:
        return empty
    lo, hi = (float(v) for v in torch.quantile(strided(z.float(), 1_000_000), torch.tensor([0.01, 0.99])))
    if hi <= lo:
        hi = lo + 1e-3
    idx = ((z - lo) / (hi - lo) * NOISE_BINS).floor().clamp(0, NOISE_BINS - 1).long()
    bins = []
    for k in range(NOISE_BINS):
        sel = idx == k
        if int(sel.sum()) >= MIN_BIN_COUNT:
            bins.append(NoiseBin(round(float(z[sel].mean()), 4), _sig(_robust_sigma(r[sel])), int(sel.sum())))
    if not bins:
        return empty
    a, b, c = _fit_law(bins)
    near, far = bins[0].z_m, bins[-1].z_m
    grows = len(bins) >= 2 and (a + b * far + c * far * far) > 1.2 * (a + b * near + c * near * near)
    return NoiseModel(tuple(bins), _sig(a), _sig(b), _sig(c), bool(grows))


@dataclass(frozen=True)
class DepthRange:
    """Valid depth statistics: ``min_m``, ``max_m`` and ``percentiles_m`` (``{"p1": m, "p5": ..., "p99": ...}``)
    of the valid depths (m); ``valid_fraction`` (mean over images of the valid pixel fraction, dimensionless)."""

    min_m: float | None
    max_m: float | None
    percentiles_m: dict[str, float]
    valid_fraction: float


def depth_range(values: torch.Tensor, valid_fractions: list[float]) -> DepthRange:
    """Range statistics of pooled valid depths ``values`` (m) and per-image valid fractions."""
    frac = round(sum(valid_fractions) / len(valid_fractions), 4) if valid_fractions else 0.0
    if values.numel() == 0:
        return DepthRange(None, None, {}, frac)
    ps = (1, 5, 25, 50, 75, 95, 99)
    q = torch.quantile(strided(values.float(), 1_000_000), torch.tensor([p / 100 for p in ps]))
    pct = {f"p{p}": round(float(v), 4) for p, v in zip(ps, q, strict=True)}
    return DepthRange(round(float(values.min()), 4), round(float(values.max()), 4), pct, frac)
