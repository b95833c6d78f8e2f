"""Tests for volo_adapt/training/image_pool.py: CycleGAN's history buffer."""

from __future__ import annotations

import torch

from volo_adapt.training.image_pool import ImagePool


def test_size_zero_is_a_passthrough():
    x = torch.rand(3, 4, 8, 8)
    assert ImagePool(0).query(x) is x


def test_fills_up_returning_the_new_images_then_mixes():
    torch.manual_seed(0)
    pool = ImagePool(4)
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 2, 2, 2).clone()
    out = pool.query(first)
    assert torch.equal(out, first) and len(pool) == 4
    seen_old = seen_new = 0
    for step in range(20):
        new = torch.full((2, 2, 2, 2), 100.0 + step)
        out = pool.query(new)
        assert out.shape == new.shape and len(pool) == 4
        for img in out:
            v = float(img[0, 0, 0])
            if v == 100.0 + step:
                seen_new += 1
            else:
                seen_old += 1
                assert v < 100.0 + step  # a stored (older) image
    assert seen_old > 5 and seen_new > 5  # about half and half


def test_state_round_trip_and_rng_determinism():
    def run(seed: int) -> list[float]:
        torch.manual_seed(seed)
        pool = ImagePool(3)
        vals = []
        for i in range(10):
            vals += [float(v[0, 0, 0]) for v in pool.query(torch.full((2, 1, 1, 1), float(i)))]
        return vals

    assert run(1) == run(1)
    pool = ImagePool(3)
    pool.query(torch.rand(3, 1, 2, 2))
    other = ImagePool(3)
    other.load_state_dict(pool.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(pool.images, other.images, strict=True))
