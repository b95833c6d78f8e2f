from __future__ import annotations

import pytest
import torch

from volo_adapt.data.augment import SHIFT_PAD_H, SHIFT_PAD_W, JointAugment

S = 20


def _batch(b: int = 16, invalid_frac: float = 0.3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Network tensors with distinct depth codes, 0 in every channel where invalid."""
    g = torch.Generator().manual_seed(seed)
    valid = torch.rand(b, 1, S, S, generator=g) >= invalid_frac
    rgb = torch.rand(b, 3, S, S, generator=g) * 0.9 + 0.05
    depth = 0.05 + 0.95 * torch.randint(1, 200, (b, 1, S, S), generator=g).float() / 200
    x = torch.where(valid, torch.cat([rgb, depth], 1), torch.zeros(()))
    return x, valid


def _assert_invariant(x: torch.Tensor, valid: torch.Tensor) -> None:
    assert x.shape[1] == 4 and valid.dtype == torch.bool and valid.shape == (x.shape[0], 1, *x.shape[2:])
    assert (x[~valid.expand_as(x)] == 0).all(), "a channel is non-zero where valid is False"
    assert ((x[:, 3:4] > 0) == valid).all(), "depth channel and valid mask disagree"
    assert x.min() >= 0 and x.max() <= 1


CONFIGS = {
    "flip": {"hflip": True, "shift_prob": 0.0},
    "shift": {"hflip": False, "shift_prob": 1.0},
    "resized_crop": {"hflip": False, "shift_prob": 0.0, "resized_crop_prob": 1.0},
    "jitter": {"hflip": False, "shift_prob": 0.0, "color_jitter": 0.4},
    "all": {"hflip": True, "shift_prob": 0.5, "resized_crop_prob": 0.5, "color_jitter": 0.3},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_smoke_shapes_invariant_and_no_invented_depth(name: str) -> None:
    torch.manual_seed(1)
    x, valid = _batch()
    y, v = JointAugment(**CONFIGS[name])(x, valid)
    assert y.shape == x.shape and y.dtype == x.dtype and v.shape == valid.shape
    _assert_invariant(y, v)
    # Nearest resampling: every output depth code is one of the input's (or 0 for invalid).
    assert set(y[:, 3].unique().tolist()) <= set(x[:, 3].unique().tolist()) | {0.0}
    assert not torch.equal(y, x), "the augmentation did nothing"


def test_disabled_is_identity() -> None:
    x, valid = _batch()
    aug = JointAugment(hflip=False, shift_prob=0.0, resized_crop_prob=0.0, color_jitter=0.0)
    assert not aug.enabled
    y, v = aug(x, valid)
    assert torch.equal(y, x) and torch.equal(v, valid)


def test_flip_moves_all_channels_together() -> None:
    torch.manual_seed(0)
    # Asymmetric pattern: a ramp along W, identical in every channel, and a valid left half only.
    ramp = torch.linspace(0.1, 1.0, S).expand(S, S)
    valid = torch.zeros(32, 1, S, S, dtype=torch.bool)
    valid[..., : S // 2] = True
    x = torch.where(valid, ramp.expand(32, 4, S, S), torch.zeros(()))
    y, v = JointAugment(hflip=True, shift_prob=0.0)(x, valid)
    flipped = (y[:, 0, 0, -1] > 0).tolist()
    assert any(flipped) and not all(flipped), "with 32 samples some should flip and some not"
    for i, f in enumerate(flipped):
        want_x, want_v = (x[i].flip(-1), valid[i].flip(-1)) if f else (x[i], valid[i])
        assert torch.equal(y[i], want_x) and torch.equal(v[i], want_v)
        assert torch.equal(y[i, 0], y[i, 3]) and torch.equal(y[i, 1], y[i, 3])


def test_shift_pads_bottom_right_with_invalid() -> None:
    torch.manual_seed(0)
    b = 32
    x = torch.full((b, 4, S, S), 0.5)
    valid = torch.ones(b, 1, S, S, dtype=torch.bool)
    y, v = JointAugment(hflip=False, shift_prob=1.0)(x, valid)
    pad_h, pad_w = round(SHIFT_PAD_H * S), round(SHIFT_PAD_W * S)
    _assert_invariant(y, v)
    assert v[:, :, : S - pad_h, : S - pad_w].all(), "the top-left part always comes from the image"
    invalid_rows = (~v).all(dim=-1).sum(dim=(1, 2))  # fully invalid rows per sample (bottom padding)
    invalid_cols = (~v).all(dim=-2).sum(dim=(1, 2))  # fully invalid columns per sample (right padding)
    assert invalid_rows.max() <= pad_h and invalid_cols.max() <= pad_w
    assert (~v).any(), "some samples must show padding"
    for i in range(b):
        r, c = int(invalid_rows[i]), int(invalid_cols[i])
        expect = torch.ones(S, S, dtype=torch.bool)
        if r:
            expect[S - r :, :] = False
        if c:
            expect[:, S - c :] = False
        assert torch.equal(v[i, 0], expect), "invalid area must be a bottom/right band"


def test_shift_probability_is_per_sample() -> None:
    torch.manual_seed(3)
    x = torch.full((64, 4, S, S), 0.5)
    valid = torch.ones(64, 1, S, S, dtype=torch.bool)
    _, v = JointAugment(hflip=False, shift_prob=0.5)(x, valid)
    shifted = (~v).flatten(1).any(1)
    assert 0 < int(shifted.sum()) < 64


def test_jitter_changes_rgb_only_and_keeps_background() -> None:
    torch.manual_seed(0)
    x, valid = _batch()
    y, v = JointAugment(hflip=False, shift_prob=0.0, color_jitter=0.5)(x, valid)
    assert torch.equal(v, valid) and torch.equal(y[:, 3], x[:, 3])
    assert not torch.equal(y[:, :3], x[:, :3])
    _assert_invariant(y, v)


def test_seeded_is_reproducible() -> None:
    x, valid = _batch()
    aug = JointAugment(**CONFIGS["all"])
    torch.manual_seed(5)
    a = aug(x, valid)
    torch.manual_seed(5)
    b = aug(x, valid)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_exception_wrong_shapes() -> None:
    aug = JointAugment()
    with pytest.raises(AssertionError, match="B,4,H,W"):
        aug(torch.zeros(2, 3, S, S), torch.ones(2, 1, S, S, dtype=torch.bool))
    with pytest.raises(AssertionError, match="valid"):
        aug(torch.zeros(2, 4, S, S), torch.ones(2, 1, S, S))
