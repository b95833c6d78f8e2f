"""Preview grid of paired samples: sensor A colour, A depth, sensor B colour, B depth per row (depth colour-mapped)."""

from __future__ import annotations

import io
import os

import numpy as np
import torch
from PIL import Image, ImageDraw

from volo_adapt.atomic import atomic_write_bytes

COLUMNS = ("A rgb", "A depth", "B rgb", "B depth")


def colourise_depth(depth: torch.Tensor, lo: float, hi: float, cmap: str = "turbo") -> np.ndarray:
    """Colour-map depth for display.

    Args:
        depth: ``(1, H, W)`` metres, ``0`` = invalid.
        lo, hi: metres mapped to the two ends of the colour map (values outside are clipped).
        cmap: matplotlib colour map name.

    Returns:
        ``(H, W, 3)`` uint8; invalid pixels black.
    """
    import matplotlib  # deferred: only previews need it (about 0.3 s to import)

    d = depth[0].double().numpy()
    x = np.clip((d - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    rgb = matplotlib.colormaps[cmap](x)[..., :3]
    rgb[d <= 0] = 0.0
    return (rgb * 255.0 + 0.5).astype(np.uint8)


def _rgb8(rgb: torch.Tensor) -> np.ndarray:
    return (rgb.clamp(0, 1).permute(1, 2, 0).double().numpy() * 255.0 + 0.5).astype(np.uint8)


def preview_grid(
    rgb_a: torch.Tensor, depth_a: torch.Tensor, rgb_b: torch.Tensor, depth_b: torch.Tensor, header: bool = True
) -> np.ndarray:
    """A grid image, one row per paired sample: A rgb | A depth | B rgb | B depth.

    Args:
        rgb_a, rgb_b: ``(N, 3, H, W)`` in ``[0, 1]`` from sensors A and B; depth_a, depth_b: ``(N, 1, H, W)``
            metres (0 = invalid). Each row's depth colours share one range (the 2nd-98th percentile of A's valid
            depth).
        header: draw the column names above the grid.

    Returns:
        ``(rows * H + header, 4 * W, 3)`` uint8.
    """
    rows = []
    for i in range(rgb_a.shape[0]):
        valid = depth_a[i][depth_a[i] > 0].double()
        if valid.numel():
            lo, hi = (float(torch.quantile(valid, q)) for q in (0.02, 0.98))
            lo, hi = lo - 0.1, hi + 0.1
        else:
            lo, hi = 0.0, 5.0
        tiles = [_rgb8(rgb_a[i]), colourise_depth(depth_a[i], lo, hi)]
        tiles += [_rgb8(rgb_b[i]), colourise_depth(depth_b[i], lo, hi)]
        rows.append(np.concatenate(tiles, axis=1))
    grid = np.concatenate(rows, axis=0)
    if not header:
        return grid
    w = grid.shape[1] // 4
    head = Image.new("RGB", (grid.shape[1], 14), (255, 255, 255))
    draw = ImageDraw.Draw(head)
    for k, name in enumerate(COLUMNS):
        draw.text((k * w + 3, 1), name, fill=(0, 0, 0))
    return np.concatenate([np.asarray(head), grid], axis=0)


def write_preview_png(path: str | os.PathLike, grid: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` uint8 image as PNG, atomically."""
    buf = io.BytesIO()
    Image.fromarray(grid, mode="RGB").save(buf, format="PNG", optimize=True)
    atomic_write_bytes(path, buf.getvalue())
