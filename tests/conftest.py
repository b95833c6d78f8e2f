"""Shared, generic test fixtures (keep them small and format-agnostic)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from volo_adapt.data.formats import write_depth, write_rgb


def _make_rgbd_folder(
    root: Path,
    keys: tuple[str, ...] = ("0000", "0001", "0002"),
    size: tuple[int, int] = (24, 32),
    depth_size: tuple[int, int] | None = None,
    rgb_suffix: str = ".png",
    depth_suffix: str = ".png",
    depth_scale: float = 1000.0,
    seed: int = 0,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Write a folder source ``root/rgb/KEY.ext`` + ``root/depth/KEY.ext`` and return what was written.

    Colour is a random 8-bit image (exact in PNG), depth random millimetres in ``[0.3, 6]`` m with a few
    invalid (0) pixels, quantised to ``1 / depth_scale`` so that 16-bit PNG stores it exactly.

    Returns:
        key -> ``(rgb (3,H,W) float32 [0,1], depth (1,h,w) float32 metres)`` as stored.
    """
    g = torch.Generator().manual_seed(seed)
    dh, dw = depth_size or size
    truth = {}
    for key in keys:
        rgb = torch.randint(0, 256, (3, *size), generator=g).float() / 255.0
        units = torch.randint(int(0.3 * depth_scale), int(6 * depth_scale), (1, dh, dw), generator=g).float()
        units[torch.rand(units.shape, generator=g) < 0.1] = 0.0
        depth = units / depth_scale
        write_rgb(root / "rgb" / f"{key}{rgb_suffix}", rgb)
        write_depth(root / "depth" / f"{key}{depth_suffix}", depth, depth_scale=depth_scale)
        truth[key] = (rgb, depth)
    return truth


@pytest.fixture
def make_rgbd_folder() -> Callable[..., dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Factory fixture: ``make_rgbd_folder(root, keys=..., size=(H, W), depth_size=None, rgb_suffix=".png",
    depth_suffix=".png", depth_scale=1000.0, seed=0)`` writes a folder source and returns its ground truth."""
    return _make_rgbd_folder
