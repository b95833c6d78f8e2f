"""Sample grids: RGB and colour-mapped depth of aligned image sets (source / translated / target), one column per
sample, with a depth colour bar in metres. Used by ``samples.png`` of ``volo eval``, its HTML report and
``make readme-grid`` (``docs/images/demo_grid.png``, :func:`readme_grid`).

Depth uses one fixed colour map for every panel (:data:`DEPTH_CMAP` over the codec's ``near``-``far`` range, so
the same colour is the same distance everywhere); invalid pixels (no depth) are :data:`INVALID_COLOUR`, a grey that
viridis never takes.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import torch
from matplotlib.figure import Figure

from volo_adapt.atomic import atomic_path
from volo_adapt.data.sample import DepthCodec, from_network

DEPTH_CMAP = "viridis"
"""Colour map of depth panels (perceptually uniform; dark = near, yellow = far)."""
INVALID_COLOUR = "#c8c8c8"
"""Colour of invalid depth pixels (light grey: not in :data:`DEPTH_CMAP`)."""


def depth_cmap() -> matplotlib.colors.Colormap:
    """:data:`DEPTH_CMAP` with NaN (invalid) drawn as :data:`INVALID_COLOUR`."""
    return matplotlib.colormaps[DEPTH_CMAP].with_extremes(bad=INVALID_COLOUR)


def depth_image(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``(1, H, W)`` metres and bool -> ``(H, W)`` float metres with NaN where invalid (for :func:`depth_cmap`)."""
    return torch.where(valid[0], depth[0].float(), torch.tensor(math.nan))


def sample_grid(sets: Sequence[tuple[str, torch.Tensor]], codec: DepthCodec, k: int = 4, title: str = "") -> Figure:
    """A figure with two rows per set (RGB, depth) and one column per sample, plus a depth colour bar (m).

    Args:
        sets: ``(label, network tensor (N, 4, H, W) float in [0, 1])`` in row order; the first ``k`` of each.
        codec: decodes depth; the colour bar spans ``codec.near`` to ``codec.far`` metres.
        k: columns (at most the smallest set's size).
        title: figure title (the colour-map note is appended).

    Returns:
        the :class:`~matplotlib.figure.Figure` (Agg; save with :func:`save_png` or :func:`png_bytes`).
    """
    k = max(1, min(k, *(len(x) for _, x in sets)))
    rows = []
    for label, x in sets:
        rgb, d, v = from_network(x[:k].float(), codec)
        rows += [(f"{label} RGB", rgb, None), (f"{label} depth", d, v)]
    fig = Figure(figsize=(2.1 * k + 1.0, 2.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), k, squeeze=False)
    cmap, shown = depth_cmap(), None
    for r, (label, img, valid) in enumerate(rows):
        for c in range(k):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if valid is None:
                ax.imshow(img[c].permute(1, 2, 0).clamp(0, 1).numpy())
            else:
                shown = ax.imshow(depth_image(img[c], valid[c]).numpy(), cmap=cmap, vmin=codec.near,
                                  vmax=codec.far, interpolation="nearest")
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    bar = fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.6)
    bar.set_label("depth (m)")
    note = f"depth: {DEPTH_CMAP} {codec.near:g}-{codec.far:g} m, grey = invalid (no depth)"
    fig.suptitle(f"{title}\n{note}" if title else note, fontsize=9)
    return fig


def save_png(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Write ``fig`` as PNG atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path


def png_bytes(fig: Figure, dpi: int = 90) -> bytes:
    """``fig`` as PNG bytes (for embedding)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def readme_grid(ckpt: str | Path, out: str | Path, k: int = 4, device: str = "cpu") -> Path:
    """``make readme-grid``: the demo benchmark's first ``k`` paired test scenes (``paired/A``) translated by the
    checkpoint's A->B generator, with their true sensor-B renderings, as a grid PNG at ``out``.

    The demo set is the checkpoint's own (``data.demo_size``, ``data.demo_count``; generated on first use). The
    title names the checkpoint and its training step, so a grid from a short run says so.
    """
    from volo_adapt.data.eval_sets import EvalSources, load_eval_set
    from volo_adapt.inference import load_generator
    from volo_adapt.inference.engine import translate_tensors
    from volo_adapt.metrics.evaluate import checkpoint_step, default_demo_sources, translate_all

    loaded = load_generator(Path(ckpt), direction="a2b")
    cfg = loaded.config.data
    src, tgt, paired = default_demo_sources(cfg.demo_size, cfg.demo_count)
    data = load_eval_set(EvalSources(src, tgt, paired, True), "a2b", cfg.image_size, loaded.codec, cfg.depth_scale,
                         max(k, 2))
    loaded.module.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fake = translate_all(lambda x: translate_tensors(loaded, x.to(device)), data.paired_source[:k], k)
    step = checkpoint_step(Path(ckpt))
    title = f"demo benchmark, A -> B by {Path(ckpt).name}" + (f" (global step {step})" if step is not None else "")
    sets = [("source (A)", data.paired_source), ("translated", fake), ("target (B, same scene)", data.paired_target)]
    return save_png(sample_grid(sets, loaded.codec, k, title), out)


if __name__ == "__main__":  # python -m volo_adapt.metrics.plots_grid CKPT OUT.png
    import sys

    print(readme_grid(sys.argv[1], sys.argv[2]))
