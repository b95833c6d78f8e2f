"""One policy for RGB and depth images of different sizes (e.g. phone LiDAR: depth 256x192 beside RGB 1920x1440).

Policy (the only one used in volo-adapt; see ``docs/data-formats.md``):

1. The aspect ratios (``W / H``) of the two images must agree within 1 %; otherwise the pair is refused
   with a :class:`~volo_adapt.errors.DataError` naming both sizes (cropping would have to guess).
2. The common size is the *smaller* of the two resolutions (fewer pixels); nothing is up-sampled to
   invent detail.
3. RGB is resampled with antialiased area interpolation (``torch.nn.functional.interpolate(mode="area")``,
   i.e. averaging the source pixels each target pixel covers) when shrinking, and bilinear when growing.
4. Depth is resampled with nearest neighbour only (``mode="nearest-exact"``: pixel-centre aligned), so a
   depth value is never averaged across an edge or with an invalid (0) pixel and never invented.

:func:`restore_sizes` is the inverse used by ``translate`` to bring outputs back to the input files' sizes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from volo_adapt.errors import DataError

__all__ = ["ASPECT_TOLERANCE", "align_rgb_depth", "common_size", "resize_depth_nearest", "resize_rgb", "restore_sizes"]

ASPECT_TOLERANCE = 0.01
"""Largest accepted relative difference between the RGB and depth aspect ratios."""


def _batched(x: torch.Tensor, channels: int, name: str) -> tuple[torch.Tensor, bool]:
    """``(C,H,W)`` -> ``(1,C,H,W)``; ``(B,C,H,W)`` unchanged. Returns the tensor and whether it was unbatched."""
    assert x.ndim in (3, 4) and x.shape[-3] == channels, (
        f"{name} must be ({channels},H,W) or (B,{channels},H,W), got {tuple(x.shape)}"
    )
    return (x[None], True) if x.ndim == 3 else (x, False)


def resize_rgb(rgb: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample colour to ``size``.

    Args:
        rgb: ``(3, H, W)`` or ``(B, 3, H, W)`` float in ``[0, 1]``.
        size: target ``(H, W)`` in pixels.

    Returns:
        Same layout at ``size``, float32 in ``[0, 1]``. Shrinking uses area averaging (antialiased); growing
        (either axis) uses bilinear interpolation with ``align_corners=False``. Same size: returned as is.

    Example:
        >>> resize_rgb(torch.rand(3, 1440, 1920), (192, 256)).shape
        torch.Size([3, 192, 256])
    """
    h, w = int(size[0]), int(size[1])
    if tuple(rgb.shape[-2:]) == (h, w):
        return rgb
    x, unbatched = _batched(rgb.to(torch.float32), 3, "rgb")
    if h <= x.shape[-2] and w <= x.shape[-1]:
        y = F.interpolate(x, size=(h, w), mode="area")
    else:
        y = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
    return y[0] if unbatched else y


def resize_depth_nearest(depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample depth to ``size`` with nearest neighbour (pixel-centre aligned): every output value is a copy of
    one input value, so no depth is averaged across edges or with invalid pixels, and none is invented.

    Args:
        depth: ``(1, H, W)`` or ``(B, 1, H, W)`` float metres, 0 = invalid.
        size: target ``(H, W)``.

    Returns:
        Same layout at ``size``, same dtype.

    Example:
        >>> resize_depth_nearest(torch.tensor([[[1.0, 0.0], [2.0, 3.0]]]), (4, 4))[0, 0]
        tensor([1., 1., 0., 0.])
    """
    h, w = int(size[0]), int(size[1])
    if tuple(depth.shape[-2:]) == (h, w):
        return depth
    x, unbatched = _batched(depth, 1, "depth")
    y = F.interpolate(x, size=(h, w), mode="nearest-exact")
    return y[0] if unbatched else y


def common_size(rgb_size: tuple[int, int], depth_size: tuple[int, int], name: str = "") -> tuple[int, int]:
    """The size both images are brought to: the one with fewer pixels.

    Args:
        rgb_size, depth_size: ``(H, W)``.
        name: what to name in an error (a key or path).

    Raises:
        DataError: the aspect ratios differ by more than :data:`ASPECT_TOLERANCE` (1 %).
    """
    (hr, wr), (hd, wd) = rgb_size, depth_size
    ratio = (wr / hr) / (wd / hd)
    if abs(ratio - 1.0) > ASPECT_TOLERANCE:
        where = f"{name}: " if name else ""
        raise DataError(
            f"{where}RGB {wr}x{hr} and depth {wd}x{hd} (WxH) have aspect ratios differing by "
            f"{abs(ratio - 1.0):.1%} (> {ASPECT_TOLERANCE:.0%}); crop them to the same field of view"
        )
    return (int(hd), int(wd)) if hd * wd <= hr * wr else (int(hr), int(wr))


def align_rgb_depth(rgb: torch.Tensor, depth: torch.Tensor, name: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """Bring RGB and depth to one common size (the smaller resolution), following the module policy.

    Args:
        rgb: ``(3, H1, W1)`` float in ``[0, 1]``.
        depth: ``(1, H2, W2)`` float metres, 0 = invalid.
        name: what to name in an error.

    Returns:
        ``(rgb, depth)`` with shapes ``(3, H, W)`` and ``(1, H, W)``.

    Raises:
        DataError: aspect ratios differ by more than 1 %.

    Example:
        >>> rgb, depth = align_rgb_depth(torch.rand(3, 1440, 1920), torch.rand(1, 192, 256))
        >>> rgb.shape, depth.shape
        (torch.Size([3, 192, 256]), torch.Size([1, 192, 256]))
    """
    size = common_size(tuple(rgb.shape[-2:]), tuple(depth.shape[-2:]), name)
    return resize_rgb(rgb, size), resize_depth_nearest(depth, size)


def restore_sizes(
    rgb: torch.Tensor, depth: torch.Tensor, rgb_size: tuple[int, int], depth_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`align_rgb_depth` for outputs: colour back to ``rgb_size``, depth to ``depth_size``.

    Args:
        rgb: ``(3, H, W)`` or ``(B, 3, H, W)`` float in ``[0, 1]``.
        depth: ``(1, H, W)`` or ``(B, 1, H, W)`` float metres, 0 = invalid.
        rgb_size, depth_size: target ``(H, W)`` of the original files.

    Returns:
        ``(rgb, depth)`` at the requested sizes (colour: area down / bilinear up; depth: nearest only).
    """
    return resize_rgb(rgb, rgb_size), resize_depth_nearest(depth, depth_size)
