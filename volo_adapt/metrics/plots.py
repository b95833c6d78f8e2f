"""PNG plots of an evaluation (``volo eval --plots DIR``), drawn with matplotlib's Agg renderer (no display).

* ``noise_vs_range.png``: pixel-scale depth noise against distance for source, translated and target.
* ``histograms.png``: distributions of valid depths and of depth-gradient magnitudes, three sets overlaid.
* ``pca.png``: the original VoloGAN's own view: PCA (5 components, ``torch.pca_lowrank``) of flattened real
  target and translated images (subsampled to at most 64 px), components 1 and 2 shown.
* ``samples.png``: source / translated / target RGB and colour-mapped depth with a colour bar in metres (the true
  target of the same scenes for paired data).

:mod:`volo_adapt.metrics.report_html` embeds these and the figures of ``plots_speckle.py`` and ``plots_cloud.py``
in one HTML file.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot global state) and written
atomically.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from matplotlib.figure import Figure

from volo_adapt.data.sample import from_network
from volo_adapt.metrics import depth_stats as ds
from volo_adapt.metrics.plots_grid import sample_grid, save_png

SET_STYLE = {
    "source": ("tab:blue", "source"),
    "translated": ("tab:orange", "translated"),
    "target": ("tab:green", "target"),
}


def _save(fig: Figure, path: Path) -> Path:
    return save_png(fig, path)


def _decoded(report: Any) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    return {k: from_network(report.tensors[k], report.codec) for k in SET_STYLE if k in report.tensors}


def plot_noise_curves(report: Any, path: Path, bin_m: float = 0.5) -> Path:
    """Noise sigma (mm) against depth (m) per set; bins with too few pixels are left out."""
    codec = report.codec
    edges = ds.depth_bins(codec.near, codec.far, bin_m)
    fig = Figure(figsize=(6, 4))
    ax = fig.add_subplot()
    for name, (_, d, v) in _decoded(report).items():
        c = ds.noise_curve(d, v, edges)
        xs = [x for x, s in zip(c["centers_m"], c["sigma_m"], strict=True) if math.isfinite(s)]
        ys = [s * 1000 for s in c["sigma_m"] if math.isfinite(s)]
        color, label = SET_STYLE[name]
        ax.plot(xs, ys, "o-", color=color, label=label)
    ax.set_xlabel("depth (m)")
    ax.set_ylabel("noise sigma (mm, robust std of 3x3 high-pass)")
    ax.set_title("depth noise against distance")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_histograms(report: Any, path: Path) -> Path:
    """Density histograms of valid depths (m) and of Sobel depth-gradient magnitudes (mm/px, log count)."""
    fig = Figure(figsize=(11, 4))
    ax_d, ax_g = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    codec = report.codec
    sets = _decoded(report)
    grads = {n: ds.gradient_magnitudes(d, v) * 1000 for n, (_, d, v) in sets.items()}
    gmax = max((float(g.quantile(0.995)) if g.numel() else 0.0) for g in grads.values()) or 1.0
    for name, (_, d, v) in sets.items():
        color, label = SET_STYLE[name]
        ax_d.hist(d[v].numpy(), bins=80, range=(codec.near, codec.far), density=True, histtype="step",
                  color=color, label=label)
        g = grads[name].clamp(max=gmax).numpy()
        ax_g.hist(g, bins=80, range=(0, gmax), density=True, histtype="step", color=color, label=label, log=True)
    ax_d.set_xlabel("depth (m)")
    ax_d.set_title("valid depths")
    ax_g.set_xlabel("depth gradient magnitude (mm / px, clipped at 99.5 %)")
    ax_g.set_title("depth gradients")
    for ax in (ax_d, ax_g):
        ax.legend()
        ax.grid(alpha=0.3)
    return _save(fig, path)


def pca_projection(a: torch.Tensor, b: torch.Tensor, q: int = 5, max_side: int = 64, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Project two image sets on the top-``q`` principal components of their union.

    Args:
        a: ``(N, C, H, W)`` float; b: ``(M, C, H, W)`` float.
        q: components (reduced to what the data allows).
        max_side: images are subsampled by an integer stride to at most this side first.
        seed: ``pca_lowrank`` is randomised; seeded without touching the global RNG.

    Returns:
        ``(N, q')`` and ``(M, q')`` coordinates.
    """
    s = max(1, math.ceil(max(a.shape[-2:]) / max_side))
    x = torch.cat([a[..., ::s, ::s], b[..., ::s, ::s]]).flatten(1).double()
    q = max(1, min(q, x.shape[0] - 1, x.shape[1]))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean = x.mean(dim=0, keepdim=True)
        _, _, v = torch.pca_lowrank(x - mean, q=q, center=False)
    z = (x - mean) @ v
    return z[: len(a)], z[len(a) :]


def plot_pca(report: Any, path: Path) -> Path:
    """Scatter of PCA components 1-2 of real target vs translated images (the original VoloGAN's view)."""
    za, zb = pca_projection(report.tensors["target"], report.tensors["translated"])
    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    ax.scatter(za[:, 0].numpy(), za[:, min(1, za.shape[1] - 1)].numpy(), s=12, alpha=0.7,
               color=SET_STYLE["target"][0], label="real target")
    ax.scatter(zb[:, 0].numpy(), zb[:, min(1, zb.shape[1] - 1)].numpy(), s=12, alpha=0.7,
               color=SET_STYLE["translated"][0], label="translated")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("PCA of flattened RGB-D images (5 components fitted)")
    ax.legend()
    return _save(fig, path)


def plot_samples(report: Any, path: Path, k: int = 4) -> Path:
    """Grid (:func:`~volo_adapt.metrics.plots_grid.sample_grid`): per column one sample; rows RGB and depth of
    source, translated and the true target of the same scene (paired data) or target images of other scenes."""
    t = report.tensors
    if "paired_source" in t:
        sets = [("source", t["paired_source"]), ("translated", t["paired_translated"]),
                ("target (same scene)", t["paired_target"])]
    else:
        sets = [("source", t["source"]), ("translated", t["translated"]), ("target (other scenes)", t["target"])]
    return _save(sample_grid(sets, report.codec, k), path)


def write_plots(report: Any, out_dir: str | Path) -> list[Path]:
    """Write all plots of ``report`` into ``out_dir``; returns the written paths."""
    out = Path(out_dir)
    return [
        plot_noise_curves(report, out / "noise_vs_range.png"),
        plot_histograms(report, out / "histograms.png"),
        plot_pca(report, out / "pca.png"),
        plot_samples(report, out / "samples.png"),
    ]
