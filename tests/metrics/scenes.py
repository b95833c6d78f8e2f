"""Synthetic RGB-D batches whose statistics are known, for the metric tests (no files, no sensors)."""

from __future__ import annotations

import torch

from volo_adapt.data.sample import DepthCodec

CODEC = DepthCodec(near=0.25, far=5.0, gap=0.05)


def scenes(
    n: int = 8,
    size: int = 48,
    seed: int = 0,
    *,
    noise: float = 0.0,
    holes: float = 0.0,
    shift: int = 0,
    flying: bool = False,
    wall: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A disc "subject" (tilted plane near 1.5 m) in front of a background wall (3 m, slanted).

    Args:
        n: images.
        size: side in pixels.
        seed: randomness of radius/position/colour/noise.
        noise: Gaussian depth noise sigma in metres, added to every valid pixel.
        holes: fraction of subject pixels dropped (invalid), independently per pixel.
        shift: move the subject right by this many pixels.
        flying: put pixels at the mean of subject and wall depth on the ring just outside the subject.
        wall: the background wall is valid (else only the subject, and a flying ring, are valid).

    Returns:
        ``(rgb (n,3,S,S) [0,1], depth (n,1,S,S) metres, valid (n,1,S,S) bool)``.
    """
    g = torch.Generator().manual_seed(seed)  # geometry and colour: independent of noise/holes/flying
    gn = torch.Generator().manual_seed(seed + 7919)  # noise and holes
    yy, xx = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    rgb, depth, valid = [], [], []
    for _ in range(n):
        r = size * (0.22 + 0.06 * torch.rand((), generator=g))
        cy = size / 2 + size * 0.05 * (torch.rand((), generator=g) - 0.5)
        cx = size / 2 + size * 0.05 * (torch.rand((), generator=g) - 0.5) + shift
        dist = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
        disc = dist <= r
        wall_d = 3.0 + 0.004 * xx
        subj = 1.5 + 0.003 * (yy - cy)
        d = torch.where(disc, subj, wall_d)
        if flying:
            ring = (dist > r) & (dist <= r + 1.5)
            d = torch.where(ring, (subj + wall_d) / 2, d)
        d = d + noise * torch.randn(d.shape, generator=gn)
        v = torch.ones_like(d, dtype=torch.bool) if wall else disc.clone()
        if flying and not wall:
            v |= ring
        if holes > 0:
            v &= ~(disc & (torch.rand(d.shape, generator=gn) < holes))
        col = torch.rand(3, 1, 1, generator=g)
        im = torch.where(disc, col, torch.full((3, 1, 1), 0.3)) + 0.02 * yy / size
        rgb.append(im.clamp(0, 1))
        depth.append(torch.where(v, d, torch.zeros_like(d))[None])
        valid.append(v[None])
    return torch.stack(rgb), torch.stack(depth), torch.stack(valid)


def network(rgb: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor, codec: DepthCodec = CODEC) -> torch.Tensor:
    """Batched network encoding ``(n, 4, S, S)``: RGB then codec depth, all channels 0 where invalid."""
    ok = valid & codec.representable(depth)
    return torch.cat([torch.where(ok, rgb, torch.zeros_like(rgb)), codec.encode(depth)], dim=1)
