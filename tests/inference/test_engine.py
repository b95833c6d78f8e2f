"""Tests for volo_adapt/inference/engine.py: padding to the size multiple, precision, devices."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from volo_adapt.errors import VoloError
from volo_adapt.inference import load_generator, translate_batch
from volo_adapt.inference.engine import normalise_precision, padded_size, resolve_device


@pytest.fixture(scope="module")
def gen(tiny_ckpt):
    return load_generator(tiny_ckpt)


def _x(b, h, w, seed=0):
    return torch.rand(b, 4, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", [(33, 51), (16, 16), (7, 5), (64, 24)])
def test_cardinality_any_size_comes_back_at_its_size(gen, size):
    y = translate_batch(gen, _x(2, *size))
    assert y.shape == (2, 4, *size) and y.dtype == torch.float32
    assert y.min() >= 0 and y.max() <= 1 and torch.isfinite(y).all()


def test_padding_is_zeros_bottom_right_and_cropped(gen):
    x = _x(1, 13, 21)
    hp, wp = padded_size(13, 21, gen.size_multiple, gen.requires_square, gen.min_size)
    assert (hp, wp) == (24, 24)
    with torch.no_grad():
        direct = gen.module(F.pad(x, (0, wp - 21, 0, hp - 13)))[..., :13, :21]
    assert torch.allclose(translate_batch(gen, x), direct, atol=1e-6)


def test_sizes_already_multiples_get_no_padding(gen):
    x = _x(2, 16, 16)
    with torch.no_grad():
        direct = gen.module(x)
    assert torch.allclose(translate_batch(gen, x), direct, atol=1e-6)


def test_batch_items_are_independent(gen):
    x = _x(3, 20, 20)
    together = translate_batch(gen, x)
    alone = torch.cat([translate_batch(gen, x[i : i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_non_square_generator_is_not_padded_to_square(resnet_ckpt):
    g = load_generator(resnet_ckpt)
    assert not g.requires_square and g.size_multiple == 4
    assert padded_size(13, 21, g.size_multiple, g.requires_square, g.min_size) == (16, 24)
    assert translate_batch(g, _x(1, 13, 21)).shape == (1, 4, 13, 21)


def test_bf16_and_channels_last_stay_close_to_fp32(gen):
    x = _x(2, 24, 24)
    ref = translate_batch(gen, x)
    y = translate_batch(gen, x, precision="bf16-mixed", channels_last=True)
    assert y.dtype == torch.float32 and y.shape == ref.shape
    assert (y - ref).abs().max() < 0.1


def test_output_is_an_ordinary_tensor(gen):
    y = translate_batch(gen, _x(1, 16, 16))
    assert not y.is_inference()
    y.mul_(2)  # in-place use outside inference mode must work


def test_exception_bad_shape_and_options(gen):
    with pytest.raises(ValueError, match=r"expected \(B, 4, H, W\)"):
        translate_batch(gen, torch.rand(1, 3, 16, 16))
    with pytest.raises(VoloError, match="--precision"):
        normalise_precision("64")
    with pytest.raises(VoloError, match="--device"):
        resolve_device("nonsense")
    assert resolve_device("auto").type in ("cpu", "cuda")
