"""Tests for volo_adapt/inference/engine.py: padding to the size multiple, precision, devices."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from volo_adapt.errors import VoloError
from volo_adapt.inference import load_generator, translate_tensors
from volo_adapt.inference.engine import normalise_precision, padded_size, resolve_device


@pytest.fixture(scope="module")
def gen(tiny_ckpt):
    return load_generator(tiny_ckpt)


def _x(b, h, w, seed=0):
    return torch.rand(b, 4, h, w, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("size", [(33, 51), (16, 16), (7, 5), (64, 24)])
def test_cardinality_any_size_comes_back_at_its_size(gen, size):
    y = translate_tensors(gen, _x(2, *size))
    assert y.shape == (2, 4, *size) and y.dtype == torch.float32
    assert y.min() >= 0 and y.max() <= 1 and torch.isfinite(y).all()


def test_padding_is_zeros_bottom_right_and_cropped(gen):
    x = _x(1, 13, 21)
    hp, wp = padded_size(13, 21, gen.size_multiple, gen.requires_square, gen.min_size)
    assert (hp, wp) == (24, 24)
    with torch.no_grad():
        direct = gen.module(F.pad(x, (0, wp - 21, 0, hp - 13)))[..., :13, :21]
    assert torch.allclose(translate_tensors(gen, x), direct, atol=1e-6)


def test_sizes_already_multiples_get_no_padding(gen):
    x = _x(2, 16, 16)
    with torch.no_grad():
        direct = gen.module(x)
    assert torch.allclose(translate_tensors(gen, x), direct, atol=1e-6)


def test_batch_items_are_independent(gen):
    x = _x(3, 20, 20)
    together = translate_tensors(gen, x)
    alone = torch.cat([translate_tensors(gen, x[i : i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)


def test_non_square_generator_is_not_padded_to_square(resnet_ckpt):
    g = load_generator(resnet_ckpt)
    assert not g.requires_square and g.size_multiple == 4
    assert padded_size(13, 21, g.size_multiple, g.requires_square, g.min_size) == (16, 24)
    assert translate_tensors(g, _x(1, 13, 21)).shape == (1, 4, 13, 21)


def test_bf16_and_channels_last_stay_close_to_fp32(gen):
    x = _x(2, 24, 24)
    ref = translate_tensors(gen, x)
    y = translate_tensors(gen, x, precision="bf16-mixed", channels_last=True)
    assert y.dtype == torch.float32 and y.shape == ref.shape
    assert (y - ref).abs().max() < 0.1


def test_output_is_an_ordinary_tensor(gen):
    y = translate_tensors(gen, _x(1, 16, 16))
    assert not y.is_inference()
    y.mul_(2)  # in-place use outside inference mode must work


def test_exception_bad_shape_and_options(gen):
    with pytest.raises(ValueError, match=r"expected \(B, 4, H, W\)"):
        translate_tensors(gen, torch.rand(1, 3, 16, 16))
    with pytest.raises(VoloError, match="precision '64': must be one of"):
        normalise_precision("64")
    with pytest.raises(VoloError, match="device 'nonsense': not a device name"):
        resolve_device("nonsense")
    assert resolve_device("auto").type in ("cpu", "cuda")


def test_resolve_precision_auto_follows_the_hardware(monkeypatch):
    """auto: bf16 only where it is native (emulated bf16 is slower than fp32), TF32 as CUDA's next choice, exact
    fp32 on a CPU without bf16. The device capability is mocked: no GPU is needed."""
    import volo_adapt.hardware as hw
    from volo_adapt.inference.engine import auto_candidates, resolve_precision

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(hw, "fast_bf16", lambda device: False)
    assert (auto_candidates(cpu), auto_candidates(cuda)) == ([], ["tf32"])
    assert (resolve_precision("auto", cpu), resolve_precision("auto", cuda)) == ("32", "tf32")
    monkeypatch.setattr(hw, "fast_bf16", lambda device: True)
    assert (auto_candidates(cpu), auto_candidates(cuda)) == (["bf16"], ["bf16", "tf32"])
    assert (resolve_precision("auto", cpu), resolve_precision("auto", cuda)) == ("bf16", "bf16")
    assert resolve_precision("bf16-mixed", cpu) == "bf16" and resolve_precision("32", cuda) == "32"


def test_depth_difference_in_millimetres():
    from volo_adapt.data.sample import DepthCodec
    from volo_adapt.inference.engine import depth_difference, within_tolerance

    codec = DepthCodec(near=0.25, far=5.0, gap=0.05)  # 1 encoded unit = 5 m
    ref = torch.zeros(1, 4, 10, 10)
    ref[:, 3, :, :5] = 0.5  # half the pixels valid
    out = ref.clone()
    out[:, 3, :, :5] += 0.001  # 5 mm everywhere valid
    out[:, 3, 0, 9] = 0.5  # one pixel becomes valid
    d = depth_difference(out, ref, codec)
    assert d["max_mm"] == pytest.approx(5.0, rel=1e-4) and d["p999_mm"] == pytest.approx(5.0, rel=1e-4)
    assert d["flipped"] == pytest.approx(0.01)
    assert not within_tolerance(d, 10.0)  # 1 % flipped is over MAX_FLIPPED_FRACTION
    assert within_tolerance({**d, "flipped": 0.0}, 5.0) and not within_tolerance({**d, "flipped": 0.0}, 4.9)
