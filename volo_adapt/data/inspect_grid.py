"""Native depth grid: was the depth map upsampled from a coarser grid, and how coarse?

**Why it works.** A depth map resized from a ``g``-cell grid to ``S`` pixels is piecewise simple between the grid
nodes: constant plateaus for nearest upsampling (the first difference jumps at each cell boundary), straight lines
for bilinear (the second difference is non-zero only at the nodes), cubic pieces for bicubic, and so on. The noise of
each grid sample makes every node a small kink or step, while the surface between nodes is smooth. The relative
second difference ``|z(x-1) - 2 z(x) + z(x+1)| / z(x)`` averaged over every row of every image (inside surfaces,
depth edges excluded) is therefore a comb with ``g`` teeth across the ``S`` columns. Its discrete Fourier
spectrum peaks at the integer frequency ``g`` (and its harmonics, aliased above Nyquist); ``g / S`` is the grid
fraction. The same is done over columns for the vertical grid.

**Smooth upsamplers.** The ``(d+1)``-th difference of a piecewise polynomial of degree ``d`` vanishes between its
nodes. Bicubic upsampling is piecewise cubic with continuous slope, so its second difference carries no clean comb
(measured on phone LiDAR sets: its strongest second-difference peak is often the grid's aliased 3rd harmonic, e.g. 28
for 12 cells at 64 px) while its 4th difference does. Both orders are profiled (:data:`DIFFERENCE_ORDERS`); the
4th-order estimate is scored jointly over the two axes (:func:`estimate_joint`) and replaces the 2nd-order one
when that one found nothing, when its answer is the 4th-order grid's 2nd or 3rd (aliased) harmonic, or when
unrelated and weaker (:func:`choose_order`); the 2nd-order answer stays when the 4th-order one is its harmonic
(a linear grid's 4th difference shows its own harmonics).

**Harmonics.** A sharp comb has equally strong harmonics ``2g, 3g, ...``, which alias to ``S - 2g`` etc. when
``g > S / 4``, so the single largest bin can be a harmonic. Each candidate ``k`` is scored by the mean power of its
first three (aliased) harmonics: only the true fundamental has all of them strong.

**Coarse grids.** Below :data:`MIN_CELLS` cells per side (a multizone ToF's 4x4 zones at 64 px) the scene's own
shape has as much power as the grid, so the local-floor test cannot tell them apart. A coarse grid ``g`` in
``[LOW_CELLS, MIN_CELLS)`` is accepted only as a clean comb: the fundamental and its 2nd and 3rd harmonics each
stand at least :data:`LOW_COMB_RATIO` times above both neighbouring bins (a scene's smooth spectrum almost never
does that three times over). It replaces the fine estimate when that is its 2nd or 3rd harmonic and about as
strong (:data:`COARSE_POWER_SHARE`), or when no fine grid was found.

**Phase.** The complex spectrum at ``g`` gives where inside a cell the kinks (or plateau steps) sit, as a fraction
of a cell, counted from the first pixel's centre. For a resize that ignores the sensor's sampling position (plain
bilinear / nearest) this is the resize's own node position, not the scene sampling phase.

**When it fails.** Too few valid smooth pixels (a few hundred per column), grids finer than 4 cells per 3 pixels
(frequency above Nyquist), noise-free synthetic depth (no kinks), heavy smoothing after upsampling, and images of
mixed sizes (only the most common size is analysed). A native sensor gives no peak: ``detected`` is False.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from volo_adapt.data.inspect_depth import strided

EDGE_REL = 0.1
"""A 3-pixel window whose outer depths differ by more than this fraction of its centre depth is a depth edge."""
MIN_CONFIDENCE = 8.0
"""Peak power over the local spectral floor above which one axis counts as having a grid."""
MIN_CELLS = 6
"""Lowest grid frequency searched with the local-floor test, cells per image side (lower ones mix with the scene's
own shape; see LOW_CELLS)."""
LOW_CELLS = 3
"""Coarsest grid searched at all, cells per image side (below MIN_CELLS only as a clean comb, LOW_COMB_RATIO)."""
LOW_COMB_RATIO = 2.0
"""A coarse grid's fundamental and 2nd and 3rd harmonics must each have this many times the power of both
neighbouring bins. Measured on 64 training images of the zoo at 64 px: at most 0.91 on every native-resolution
sensor (and the built-in LiDAR's fine grid), 2.4-109 on multizone ToF sets with 4-6 zones."""
COARSE_POWER_SHARE = 0.25
"""A coarse grid replaces a fine one only when the fine frequency is its 2nd or 3rd harmonic and the coarse
fundamental has at least this share of the fine peak's power (a finer grid's comb has little power at a third of
its frequency; a coarse comb's fundamental is as strong as its harmonics)."""
STRONG_CONFIDENCE = 30.0
"""Above this confidence on both axes, the axes' phases need not agree (e.g. joint bilateral, own phases)."""
PHASE_TOLERANCE = 0.1
"""Largest phase difference (fraction of a cell) between the axes for a weaker grid: a separable resize puts its
nodes at the same phase along x and y; the scene's spurious peaks have unrelated phases."""
DIFFERENCE_ORDERS = (2, 4)
"""Difference orders profiled: 2 isolates the nodes of a piecewise-linear resize (bilinear; nearest's steps show
too), 4 those of a piecewise-cubic one (bicubic)."""
CUBIC_HARMONICS = 6
"""Highest harmonic checked when explaining a 4th-difference peak as a lower grid's harmonic: the 4th difference
is a high-pass filter (power x ``(2 sin(pi k / n))^8`` relative to the depth itself), so a grid's 4th-difference comb
can peak at a high harmonic (measured: a 7-zone ToF at 64 px peaks at 22, its aliased 6th harmonic)."""
HIGH_HARMONIC_SHARE = 0.5
"""A lower grid explains a 4th-difference peak as its 4th-6th harmonic only with at least this share of the peak's
power ratio (2nd/3rd: the usual floor). Measured at 64 px: the 7-zone ToF's fundamental has 0.62 of its 6th
harmonic's; chance alignments on bicubic phone sets (29 = 5 x 7, 14 = 6 x 13 aliased) have 0.28-0.29."""
CLIP_QUANTILE = 0.9
"""Per-image quantile of the activity at which it is clipped (robust to the scene's sharpest curvature)."""


@dataclass(frozen=True)
class GridAxis:
    """The grid estimate along one image axis.

    Attributes:
        detected: whether a periodic kink pattern was found.
        cells: estimated native grid cells along the axis (count), None when not detected.
        fraction: ``cells / pixels`` (dimensionless; 1 = native resolution), None when not detected.
        phase: kink position inside a cell, fraction of a cell in ``[0, 1)``, None when not detected.
        confidence: power at the peak over the median power 2-6 bins away (dimensionless; ``>= MIN_CONFIDENCE``
            = detected); for a coarse grid (fewer than :data:`MIN_CELLS` cells) the comb ratio instead (the smallest
            of its three harmonics' power over their neighbours', ``>= LOW_COMB_RATIO``).
        pixels: image side analysed, px.
    """

    detected: bool
    cells: int | None
    fraction: float | None
    phase: float | None
    confidence: float
    pixels: int


@dataclass(frozen=True)
class NativeGrid:
    """The native depth grid estimate of a source (both axes).

    Attributes:
        detected: True only when BOTH axes find a grid, their fractions agree within one cell and, unless both
            peaks are strong (:data:`STRONG_CONFIDENCE`), their cell counts round one fraction
            (:func:`same_fraction`) and their phases agree within :data:`PHASE_TOLERANCE` (per axis, the scene's
            own spectrum gives occasional false peaks; they rarely agree between the axes).
        fraction_x, fraction_y: native grid side / image side along x (columns) and y (rows), dimensionless.
        cells_x, cells_y: native grid cells across the analysed image width / height (count).
        phase_x, phase_y: kink position inside a cell, fraction of a cell in ``[0, 1)``.
        confidence: the smaller of the two axes' confidences (dimensionless; see :class:`GridAxis`).
        width_px, height_px: the analysed image size, px.
        order: the difference order whose comb gave the estimate (2: piecewise-linear nodes, e.g. nearest or
            bilinear upsampling; 4: piecewise-cubic, e.g. bicubic), None when not detected.
    """

    detected: bool
    fraction_x: float | None
    fraction_y: float | None
    cells_x: int | None
    cells_y: int | None
    phase_x: float | None
    phase_y: float | None
    confidence: float
    width_px: int
    height_px: int
    order: int | None = None


def combine_axes(x: GridAxis, y: GridAxis) -> NativeGrid:
    """Both axes' estimates -> :class:`NativeGrid` (``detected`` needs agreement within one cell)."""
    agree = x.detected and y.detected and x.fraction is not None and y.fraction is not None
    if agree:  # one cell at the smaller side, or 5 %
        agree = abs(x.fraction - y.fraction) <= max(1.5 / min(x.pixels, y.pixels), 0.05 * max(x.fraction, y.fraction))
    if agree and min(x.confidence, y.confidence) < STRONG_CONFIDENCE:  # weak peaks: one fraction, one phase
        assert x.phase is not None and y.phase is not None and x.cells is not None and y.cells is not None
        agree = same_fraction(x.cells, x.pixels, y.cells, y.pixels)
        agree &= abs((x.phase - y.phase + 0.5) % 1.0 - 0.5) <= PHASE_TOLERANCE
    if not agree:
        return NativeGrid(False, None, None, None, None, None, None, min(x.confidence, y.confidence),
                          x.pixels, y.pixels)
    return NativeGrid(True, x.fraction, y.fraction, x.cells, y.cells, x.phase, y.phase,
                      min(x.confidence, y.confidence), x.pixels, y.pixels, 2)


def same_fraction(cells_x: int, width: int, cells_y: int, height: int) -> bool:
    """Whether ``cells_x`` of ``width`` px and ``cells_y`` of ``height`` px can both be the nearest integer to one
    grid fraction ``f`` (``round(f * width)``, ``round(f * height)``): the fractions differ by less than the two
    roundings' half cells together. On a square image that means equal cell counts. A weak peak of the scene's own
    spectrum can pass the one-cell agreement and the phase test by chance (measured: an active-stereo zoo set at
    64 px, 7 x 6 cells at confidence 12, phases 0.86 / 0.82); every grid found on the zoo's resized sensors had
    equal counts, since a resize keeps the native grid's aspect."""
    return abs(cells_x / width - cells_y / height) < 0.5 / width + 0.5 / height


class GridProfile:
    """Accumulates the mean relative ``order``-th difference profile along one axis for images of one size."""

    def __init__(self, order: int = 2) -> None:
        self.order = order
        self.coefficients = [(-1) ** (order - i) * math.comb(order, i) for i in range(order + 1)]
        self.sums: dict[tuple[int, int], torch.Tensor] = {}
        self.counts: dict[tuple[int, int], torch.Tensor] = {}

    def add(self, depth: torch.Tensor, axis: int) -> None:
        """Add one ``(H, W)`` float depth map (metres, 0 = invalid); ``axis`` 1 = along rows, 0 = along columns.

        Each window of ``order + 1`` pixels adds its ``|order-th difference| / centre depth`` at its centre pixel
        when every pixel has a return and the outer two differ by less than :data:`EDGE_REL` of the centre.
        """
        z = depth if axis == 1 else depth.T
        key = tuple(depth.shape)
        k, half = self.order + 1, self.order // 2
        taps = [z[:, i:z.shape[1] - k + 1 + i] for i in range(k)]
        mid = taps[half]
        ok = torch.stack([t > 0 for t in taps]).all(0)
        ok &= (taps[-1] - taps[0]).abs() < EDGE_REL * mid
        act = sum(c * t for c, t in zip(self.coefficients, taps, strict=True)).abs() / mid.clamp_min(1e-6)
        if ok.any():  # clip the scene's own sharp curvature (limb silhouettes) at the 90th percentile
            clip = float(torch.quantile(strided(act[ok].float(), 200_000), CLIP_QUANTILE))
            if clip == 0:  # flat blocks (nearest upsampling of a coarse grid): kinks are rare
                moving = act[ok & (act > 0)]
                if moving.numel():
                    clip = float(torch.quantile(strided(moving.float(), 200_000), CLIP_QUANTILE))
            act = act.clamp_max(clip)
        act = torch.where(ok, act, torch.zeros_like(mid))
        s = torch.zeros(z.shape[1], dtype=torch.float64)
        c = torch.zeros(z.shape[1], dtype=torch.float64)
        s[half:half + act.shape[1]] = act.sum(0).double()
        c[half:half + act.shape[1]] = ok.sum(0).double()
        self.sums[key] = self.sums.get(key, 0) + s
        self.counts[key] = self.counts.get(key, 0) + c

    def common_size(self) -> tuple[int, int] | None:
        """The ``(H, W)`` with the most smooth windows, None when nothing was added."""
        return max(self.counts, key=lambda k: float(self.counts[k].sum())) if self.counts else None

    def estimate(self) -> GridAxis | None:
        """The grid estimate for the most common image size, None when nothing was added."""
        key = self.common_size()
        return None if key is None else estimate_axis(self.sums[key], self.counts[key])


def _aliased(k: int, n: int) -> int:
    k %= n
    return min(k, n - k)


def _local_ratio(power: torch.Tensor) -> torch.Tensor:
    """``(K,)`` power over the median of bins 2-6 away (a local noise floor: the scene's own spectrum is smooth)."""
    n = power.numel()
    ratio = torch.zeros_like(power)
    for k in range(MIN_CELLS, n):
        near = [j for j in range(k - 6, k + 7) if 2 <= abs(j - k) and MIN_CELLS <= j < n]
        ratio[k] = power[k] / (power[near].median() + 1e-30)
    return ratio


def _score(ratio: torch.Tensor, k: int, n: int) -> float:
    """Local ratio at ``k`` plus half the mean ratio of its 2nd and 3rd harmonics (aliased; low bins left out)."""
    harmonics = [a for a in (_aliased(2 * k, n), _aliased(3 * k, n)) if a >= MIN_CELLS and a != k]
    extra = sum(float(ratio[a]) for a in harmonics) / len(harmonics) if harmonics else 0.0
    return float(ratio[k]) + 0.5 * extra


def comb_ratio(power: torch.Tensor, g: int) -> float:
    """The smallest, over the harmonics ``g, 2g, 3g`` (aliased), of the power there over the larger of its two
    neighbouring bins' (dimensionless; ``power`` is the ``(n // 2 + 1,)`` rfft power of an ``n``-point profile)."""
    n = 2 * (power.numel() - 1)
    worst = math.inf
    for h in (1, 2, 3):
        a = _aliased(h * g, n)
        near = [power[j] for j in (a - 1, a + 1) if 1 <= j < power.numel()]
        worst = min(worst, float(power[a] / (max(near) + 1e-30)))
    return worst


def _coarse_grid(power: torch.Tensor, n: int) -> tuple[int, float] | None:
    """The clean comb in ``[LOW_CELLS, MIN_CELLS)`` with the largest :func:`comb_ratio` (``(g, ratio)``), if any
    reaches :data:`LOW_COMB_RATIO`."""
    found = [(g, comb_ratio(power, g)) for g in range(LOW_CELLS, min(MIN_CELLS, n // 6 + 1))]
    found = [(g, r) for g, r in found if r >= LOW_COMB_RATIO]
    return max(found, key=lambda t: t[1]) if found else None


def _phase(spec: torch.Tensor, k: int) -> float:
    return round((-math.atan2(float(spec[k].imag), float(spec[k].real)) / (2 * math.pi)) % 1.0, 4)


def _spectrum(sums: torch.Tensor, counts: torch.Tensor, min_count: int = 8) -> torch.Tensor | None:
    """The rfft of the mean-removed activity profile (positions with fewer than ``min_count`` windows set to 0),
    None when the profile is too short or too sparse to analyse."""
    n = sums.numel()
    good = counts >= min_count
    if n < 3 * MIN_CELLS or int(good.sum()) < n // 2:
        return None
    prof = torch.where(good, sums / counts.clamp_min(1), torch.zeros_like(sums))
    prof = torch.where(good, prof - prof[good].mean(), torch.zeros_like(prof))
    return torch.fft.rfft(prof)


def estimate_axis(sums: torch.Tensor, counts: torch.Tensor, min_count: int = 8) -> GridAxis:
    """Find the grid frequency of one accumulated profile.

    The candidate with the best harmonic score wins; a lower frequency ``g`` whose 2nd or 3rd (aliased) harmonic
    it is, and which is itself a clear peak, replaces it (a comb's harmonics can outscore its fundamental). A
    coarse grid (module docstring) replaces the result when that is its 2nd or 3rd harmonic and about as strong, or
    when nothing was found.

    Args:
        sums: ``(N,)`` float64, summed relative ``|second difference|`` per pixel position along the axis.
        counts: ``(N,)`` float64, number of smooth valid windows per position.
        min_count: positions with fewer windows are filled with the profile mean.

    Returns:
        :class:`GridAxis` (``detected`` False when the confidence stays below :data:`MIN_CONFIDENCE`).
    """
    n = sums.numel()
    spec = _spectrum(sums, counts, min_count)
    if spec is None:
        return GridAxis(False, None, None, None, 0.0, n)
    ratio = _local_ratio(spec.abs() ** 2)
    ks = list(range(MIN_CELLS, n // 2 + 1))
    best = max(ks, key=lambda k: (_score(ratio, k, n), -k))
    floor = max(MIN_CONFIDENCE, 0.1 * float(ratio[best]))
    under = [g for g in ks if g < best and float(ratio[g]) >= floor
             and best in (_aliased(2 * g, n), _aliased(3 * g, n))]
    best = min(under) if under else best
    confidence = float(ratio[best])
    power = spec.abs() ** 2
    coarse = _coarse_grid(power, n)
    fine = confidence >= MIN_CONFIDENCE
    if coarse is not None and fine:  # a fine comb's 2nd/3rd harmonic, and about as strong (a true comb's are)
        g = coarse[0]
        harmonic = best in {_aliased(h * g, n) for h in (2, 3)}
        coarse = coarse if harmonic and float(power[g]) >= COARSE_POWER_SHARE * float(power[best]) else None
    if coarse is not None:
        g, r = coarse
        return GridAxis(True, g, g / n, _phase(spec, g), round(r, 3), n)
    if not fine:
        return GridAxis(False, None, None, None, round(confidence, 3), n)
    return GridAxis(True, best, best / n, _phase(spec, best), round(confidence, 3), n)


def estimate_joint(x: GridProfile, y: GridProfile) -> NativeGrid:
    """Find one grid in both axes' profiles at once (used for the 4th-difference profiles).

    A candidate pairs ``kx`` cells along x with ``ky = round(kx * H / W)`` along y (a resize keeps the grid's
    aspect); it is scored by the smaller of the two axes' harmonic scores, so a peak must stand out in both axes at
    the same grid fraction (one axis' spurious peak cannot win). A lower pair whose 2nd or 3rd harmonic the winner
    is, and which is itself a clear peak, replaces it, as in :func:`estimate_axis`; so does one whose 4th-6th
    harmonic it is (:data:`CUBIC_HARMONICS`) when about as strong (:data:`HIGH_HARMONIC_SHARE`). Weak peaks (below
    :data:`STRONG_CONFIDENCE`) must have the same phase in both axes (:data:`PHASE_TOLERANCE`).

    Args:
        x, y: profiles of the same order along rows (x) and columns (y) of the same images.

    Returns:
        :class:`NativeGrid`; ``confidence`` is the smaller of the two axes' local power ratios at the pair.
    """
    key = x.common_size()
    if key is None or key not in y.sums:
        return NativeGrid(False, None, None, None, None, None, None, 0.0, 0, 0)
    h, w = key
    sx, sy = _spectrum(x.sums[key], x.counts[key]), _spectrum(y.sums[key], y.counts[key])
    if sx is None or sy is None:
        return NativeGrid(False, None, None, None, None, None, None, 0.0, w, h)
    rx, ry = _local_ratio(sx.abs() ** 2), _local_ratio(sy.abs() ** 2)
    pairs = [(kx, round(kx * h / w)) for kx in range(MIN_CELLS, w // 2 + 1)]
    pairs = [(kx, ky) for kx, ky in pairs if MIN_CELLS <= ky <= h // 2]
    if not pairs:
        return NativeGrid(False, None, None, None, None, None, None, 0.0, w, h)

    def ratio(p: tuple[int, int]) -> float:
        return min(float(rx[p[0]]), float(ry[p[1]]))

    best = max(pairs, key=lambda p: (min(_score(rx, p[0], w), _score(ry, p[1], h)), -p[0]))
    floor = max(MIN_CONFIDENCE, 0.1 * ratio(best))
    high_floor = max(floor, HIGH_HARMONIC_SHARE * ratio(best))
    under = [p for p in pairs if p[0] < best[0] and (
        (ratio(p) >= floor and _harmonic_of(best[0], p[0], w) and _harmonic_of(best[1], p[1], h))
        or (ratio(p) >= high_floor and _harmonic_of(best[0], p[0], w, CUBIC_HARMONICS)
            and _harmonic_of(best[1], p[1], h, CUBIC_HARMONICS)))]
    best = min(under) if under else best
    kx, ky = best
    confidence = round(ratio(best), 3)
    phase_x, phase_y = _phase(sx, kx), _phase(sy, ky)
    agree = confidence >= STRONG_CONFIDENCE or abs((phase_x - phase_y + 0.5) % 1.0 - 0.5) <= PHASE_TOLERANCE
    if confidence < MIN_CONFIDENCE or not agree:
        return NativeGrid(False, None, None, None, None, None, None, confidence, w, h)
    return NativeGrid(True, kx / w, ky / h, kx, ky, phase_x, phase_y, confidence, w, h, x.order)


def _harmonic_of(cells: int, fundamental: int, n: int, highest: int = 3) -> bool:
    """Whether ``cells`` is the 2nd ... ``highest``-th harmonic of ``fundamental`` (aliased into ``n`` points)."""
    return cells in {_aliased(h * fundamental, n) for h in range(2, highest + 1)}


def choose_order(linear: NativeGrid, cubic: NativeGrid, x: GridAxis, y: GridAxis) -> NativeGrid:
    """The 2nd-difference (``linear``) or the 4th-difference (``cubic``) estimate (module docstring).

    The cubic one wins when the linear found nothing, when the linear one's cells are the cubic's 2nd or 3rd
    (aliased) harmonic along x, or when neither is the other's harmonic and the cubic is more confident; the
    linear one stays when the cubic is its 2nd or 3rd harmonic, or for a coarse linear grid (fewer than
    :data:`MIN_CELLS` cells: the 4th difference's gain ``(2 sin(pi k / n))^8`` is ~1e-3 there and ~1e2 at its
    high harmonics) its 4th to :data:`CUBIC_HARMONICS`-th; higher harmonics of a fine grid alias onto unrelated
    grids at small sizes (10 x 5 = 50 -> 14 at 64 px). When the
    linear estimate found nothing but one of its axes found a coarse grid (fewer than :data:`MIN_CELLS` cells, a
    clean comb) whose 2nd to :data:`CUBIC_HARMONICS`-th harmonic the cubic is, nothing is reported: the cubic peak
    is that coarse grid's harmonic, which the axes do not agree on.

    Args:
        linear: the 2nd-difference estimate (:func:`combine_axes` of ``x`` and ``y``).
        cubic: the 4th-difference estimate (:func:`estimate_joint`).
        x, y: the 2nd-difference per-axis estimates.
    """
    if not cubic.detected:
        return linear
    assert cubic.cells_x is not None and cubic.cells_y is not None
    if not linear.detected:
        coarse = [a for a, k in ((x, cubic.cells_x), (y, cubic.cells_y))
                  if a.detected and a.cells is not None and a.cells < MIN_CELLS
                  and _harmonic_of(k, a.cells, a.pixels, CUBIC_HARMONICS)]
        return linear if coarse else cubic
    assert linear.cells_x is not None
    w = linear.width_px
    if linear.cells_x == cubic.cells_x or _harmonic_of(cubic.cells_x, linear.cells_x, w):
        return linear
    if _harmonic_of(linear.cells_x, cubic.cells_x, w):
        return cubic
    if linear.cells_x < MIN_CELLS and _harmonic_of(cubic.cells_x, linear.cells_x, w, CUBIC_HARMONICS):
        return linear  # a coarse comb's 4th difference peaks at a high harmonic (a 5-zone ToF: 25 = 5 x 5)
    return cubic if cubic.confidence > linear.confidence else linear


class GridEstimator:
    """Accumulates every profile the native-grid estimate needs (both axes, every difference order)."""

    def __init__(self) -> None:
        self.profiles = {(order, axis): GridProfile(order) for order in DIFFERENCE_ORDERS for axis in (0, 1)}

    def add(self, depth: torch.Tensor) -> None:
        """Add one ``(H, W)`` float depth map (metres, 0 = invalid)."""
        for (_, axis), profile in self.profiles.items():
            profile.add(depth, axis)

    def estimate(self) -> NativeGrid:
        """The native grid of the most common image size (not detected when nothing was added)."""
        gx, gy = self.profiles[(2, 1)].estimate(), self.profiles[(2, 0)].estimate()
        if gx is None or gy is None:
            return NativeGrid(False, None, None, None, None, None, None, 0.0, 0, 0)
        cubic = estimate_joint(self.profiles[(4, 1)], self.profiles[(4, 0)])
        return choose_order(combine_axes(gx, gy), cubic, gx, gy)
