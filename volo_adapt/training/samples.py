"""Sample grids: real / translated / cycled images, RGB and colour-mapped depth, as one RGB image.

Layout: one block of two rows per example (top: RGB, bottom: depth through the ``turbo`` colour map with
invalid pixels black), six columns ``real A | A->B | A->B->A | real B | B->A | B->A->B``, separated by
2-pixel grey lines. Depth is shown from the network's encoded channel normalised to the codec's valid band,
so colours compare across columns (near = blue, far = red).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from volo_adapt.atomic import atomic_path
from volo_adapt.data.sample import DepthCodec

COLUMNS = ("real_A", "fake_B", "cyc_A", "real_B", "fake_A", "cyc_B")
_SEP = 2
_SEP_VALUE = 0.5


def _turbo_lut() -> torch.Tensor:
    import matplotlib

    return torch.from_numpy(matplotlib.colormaps["turbo"](np.linspace(0.0, 1.0, 256))[:, :3].astype(np.float32))


def colorize_depth(encoded: torch.Tensor, codec: DepthCodec) -> torch.Tensor:
    """Encoded depth ``(B, 1, H, W)`` in [0, 1] -> ``(B, 3, H, W)`` float RGB in [0, 1], invalid pixels black."""
    enc = encoded.detach().float().cpu()
    valid = codec.valid_from_encoded(enc)
    gap = float(codec.gap)
    t = ((enc - gap) / max(1e-6, 1.0 - gap)).clamp(0, 1)
    idx = (t * 255).round().long().squeeze(1)  # (B, H, W); display only, depth data never goes through 8 bits
    rgb = _turbo_lut()[idx].permute(0, 3, 1, 2)
    return rgb * valid.float()


def make_grid(images: dict[str, torch.Tensor], codec: DepthCodec, max_items: int = 4) -> torch.Tensor:
    """Assemble the grid.

    Args:
        images: ``real_A, fake_B, cyc_A, real_B, fake_A, cyc_B``, each ``(B, C, H, W)`` float in [0, 1] with
            RGB in channels 0-2 and encoded depth in the last channel.
        codec: the run's depth codec (for validity and the depth band).
        max_items: examples (block rows) to show.

    Returns:
        ``(3, H_grid, W_grid)`` float32 in [0, 1] on CPU.
    """
    n = min(max_items, min(int(images[c].shape[0]) for c in COLUMNS))
    rows = []
    for i in range(n):
        rgb_row, depth_row = [], []
        for c in COLUMNS:
            x = images[c][i : i + 1].detach().float().cpu().clamp(0, 1)
            rgb_row.append(x[0, :3])
            depth_row.append(colorize_depth(x[:, -1:], codec)[0])
        for row in (rgb_row, depth_row):
            rows.append(_hcat(row))
    return _vcat(rows)


def _cat_with_gaps(tiles: list[torch.Tensor], dim: int) -> torch.Tensor:
    """Concatenate ``(3, H, W)`` tiles along ``dim`` (2: side by side, 1: stacked) with separator strips."""
    shape = list(tiles[0].shape)
    shape[dim] = _SEP
    sep = torch.full(shape, _SEP_VALUE)
    out = [tiles[0]]
    for t in tiles[1:]:
        out += [sep, t]
    return torch.cat(out, dim)


def _hcat(tiles: list[torch.Tensor]) -> torch.Tensor:
    return _cat_with_gaps(tiles, 2)


def _vcat(rows: list[torch.Tensor]) -> torch.Tensor:
    return _cat_with_gaps(rows, 1)


def save_png(grid: torch.Tensor, path: str | Path) -> Path:
    """Write a ``(3, H, W)`` float [0, 1] grid as an 8-bit PNG (a preview picture, not data), atomically."""
    path = Path(path)
    arr = (grid.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    with atomic_path(path) as tmp:
        Image.fromarray(arr, mode="RGB").save(tmp, format="PNG")
    return path
