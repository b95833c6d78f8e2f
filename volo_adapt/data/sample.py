"""The in-memory RGB-D sample and the exact mapping between metric depth and the network tensor.

Conventions used everywhere in volo-adapt:

* ``rgb``: ``(3, H, W)`` float32 in ``[0, 1]`` (sRGB values as stored in the file, not linearised).
* ``depth``: ``(1, H, W)`` float32 in **metres**; ``0`` marks an invalid pixel (no return, background).
* ``valid``: ``(1, H, W)`` bool, ``True`` where ``depth`` is a finite measurement ``> 0``.
* network tensor: ``(4, H, W)`` float32 in ``[0, 1]``: RGB, then depth encoded by :class:`DepthCodec`.
  Invalid pixels are ``0`` in **every** channel (the original VoloGAN's background convention).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from volo_adapt.errors import ConfigError


@dataclass
class RGBDSample:
    """One RGB-D image in memory.

    Attributes:
        rgb: ``(3, H, W)`` float32 in ``[0, 1]``.
        depth: ``(1, H, W)`` float32 in metres, ``0`` where invalid.
        valid: ``(1, H, W)`` bool, ``depth > 0`` and finite.
        meta: free-form provenance (source paths, file formats, depth units on disk, original sizes).
    """

    rgb: torch.Tensor
    depth: torch.Tensor
    valid: torch.Tensor
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.rgb.ndim == 3 and self.rgb.shape[0] == 3, f"rgb must be (3,H,W), got {tuple(self.rgb.shape)}"
        assert self.depth.shape == (1, *self.rgb.shape[1:]), (
            f"depth must be (1,{self.rgb.shape[1]},{self.rgb.shape[2]}), got {tuple(self.depth.shape)}"
        )
        assert self.valid.shape == self.depth.shape and self.valid.dtype == torch.bool

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[2])

    @staticmethod
    def from_depth(rgb: torch.Tensor, depth: torch.Tensor, meta: dict | None = None) -> RGBDSample:
        """Build a sample, marking non-finite or non-positive depth invalid (and setting it to 0).

        Args:
            rgb: ``(3, H, W)`` float in ``[0, 1]``.
            depth: ``(1, H, W)`` or ``(H, W)`` float in metres; ``<= 0``, NaN and inf become invalid.
        """
        if depth.ndim == 2:
            depth = depth[None]
        depth = depth.to(torch.float32)
        valid = torch.isfinite(depth) & (depth > 0)
        depth = torch.where(valid, depth, torch.zeros_like(depth))
        return RGBDSample(rgb=rgb.to(torch.float32), depth=depth, valid=valid, meta=dict(meta or {}))


@dataclass(frozen=True)
class DepthCodec:
    """Maps metric depth to the network's 4th channel and back, exactly (to float32 precision).

    A valid depth ``d`` in ``[near, far]`` metres is encoded as ``gap + (1 - gap) * (d - near) / (far - near)``,
    so valid pixels occupy ``[gap, 1]`` and ``[0, gap)`` is reserved for *invalid* (encoded as exactly ``0``,
    like the original's background). Decoding treats values below ``gap / 2`` as invalid; anything else
    maps back to ``[near, far]``. Depth outside ``[near, far]`` cannot be represented and is encoded as
    invalid (never clamped, which would invent a surface at the range limit).

    Compared with the original VoloGAN (plain ``[0, 1]`` depth with 0 = background) the gap makes
    "nearest valid depth" and "no depth" distinguishable in generator outputs. ``gap=0`` reproduces the
    original mapping (then a decoded 0 is invalid and ``near`` itself is not representable).

    Attributes:
        near: smallest representable depth, metres (``>= 0``).
        far: largest representable depth, metres (``> near``).
        gap: width of the reserved invalid band in encoded units, ``[0, 0.5)``.

    Example:
        >>> codec = DepthCodec(near=0.25, far=5.0)
        >>> d = torch.tensor([[[0.0, 0.25, 1.0, 5.0, 7.0]]])
        >>> codec.decode(codec.encode(d))
        tensor([[[0.0000, 0.2500, 1.0000, 5.0000, 0.0000]]])
    """

    near: float = 0.25
    far: float = 5.0
    gap: float = 0.05

    def __post_init__(self) -> None:
        if not (self.near >= 0):
            raise ConfigError(f"data.near: must be >= 0 metres, got {self.near}")
        if not (self.far > self.near):
            raise ConfigError(f"data.far: must be greater than data.near ({self.near}), got {self.far}")
        if not (0 <= self.gap < 0.5):
            raise ConfigError(f"data.depth_gap: must be in [0, 0.5), got {self.gap}")

    def representable(self, depth: torch.Tensor) -> torch.Tensor:
        """Bool mask of pixels that are valid (``> 0``, finite) and inside ``[near, far]``."""
        return torch.isfinite(depth) & (depth > 0) & (depth >= self.near) & (depth <= self.far)

    def encode(self, depth: torch.Tensor) -> torch.Tensor:
        """Metres -> encoded ``[0, 1]``; any shape, float; invalid or out-of-range -> 0."""
        ok = self.representable(depth)
        t = (depth.to(torch.float32) - self.near) / (self.far - self.near)
        v = self.gap + (1.0 - self.gap) * t
        return torch.where(ok, v, torch.zeros_like(v))

    def decode(self, encoded: torch.Tensor) -> torch.Tensor:
        """Encoded ``[0, 1]`` -> metres; values below ``gap / 2`` (or non-finite) -> 0 (invalid)."""
        e = encoded.to(torch.float32)
        ok = torch.isfinite(e) & (e >= self.gap / 2) & (e > 0)
        t = ((e - self.gap) / (1.0 - self.gap)).clamp(0.0, 1.0)
        d = self.near + t * (self.far - self.near)
        return torch.where(ok, d, torch.zeros_like(d))

    def valid_from_encoded(self, encoded: torch.Tensor) -> torch.Tensor:
        """Bool mask of the pixels :meth:`decode` treats as valid."""
        return torch.isfinite(encoded) & (encoded >= self.gap / 2) & (encoded > 0)


def to_network(sample: RGBDSample, codec: DepthCodec) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample -> ``(x, valid)``.

    Returns:
        x: ``(4, H, W)`` float32 in ``[0, 1]``; every channel is 0 where the depth is not representable.
        valid: ``(1, H, W)`` bool, the representable-depth mask actually used.
    """
    valid = sample.valid & codec.representable(sample.depth)
    d = codec.encode(sample.depth)
    rgb = torch.where(valid, sample.rgb.clamp(0, 1), torch.zeros_like(sample.rgb))
    return torch.cat([rgb, d], dim=0), valid


def from_network(x: torch.Tensor, codec: DepthCodec) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Network tensor(s) -> ``(rgb, depth_m, valid)``.

    Args:
        x: ``(..., 4, H, W)`` float in ``[0, 1]``.

    Returns:
        rgb ``(..., 3, H, W)`` clamped to ``[0, 1]``, depth ``(..., 1, H, W)`` metres (0 invalid),
        valid ``(..., 1, H, W)`` bool.
    """
    assert x.shape[-3] == 4, f"expected 4 channels at dim -3, got shape {tuple(x.shape)}"
    rgb = x[..., :3, :, :].clamp(0, 1)
    enc = x[..., 3:4, :, :]
    return rgb, codec.decode(enc), codec.valid_from_encoded(enc)
