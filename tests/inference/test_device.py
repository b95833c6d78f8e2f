"""CUDA checks for translate (skipped without a GPU): the device path writes what the CPU path writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from volo_adapt.data.formats import load_rgb, read_depth_raw, write_depth, write_rgb
from volo_adapt.inference import load_generator, translate_source, translate_tensors

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_translate_source_matches_cpu(tiny_ckpt, tmp_path):
    src = tmp_path / "in"
    for i, (h, w) in enumerate([(33, 51), (40, 40), (33, 51)]):
        write_rgb(src / f"rgb/{i}.png", torch.rand(3, h, w))
        write_depth(src / f"depth/{i}.png", 0.5 + 3 * torch.rand(1, h, w))
    # exact mode on both: the default (auto) may use TF32 on the GPU, within its 10 mm tolerance (tested below)
    translate_source(src, tmp_path / "cpu", load_generator(tiny_ckpt), device="cpu", batch_size=2, precision="32")
    rep = translate_source(src, tmp_path / "gpu", load_generator(tiny_ckpt), device="cuda", batch_size=2,
                           precision="32")
    assert rep.device.startswith("cuda") and len(rep.translated) == 3
    for i in range(3):
        a = read_depth_raw(tmp_path / f"cpu/depth/{i}.png").astype(np.int64)
        b = read_depth_raw(tmp_path / f"gpu/depth/{i}.png").astype(np.int64)
        assert np.abs(a - b).max() <= 1, f"depth units differ by up to {np.abs(a - b).max()}"
        ca, cb = load_rgb(tmp_path / f"cpu/rgb/{i}.png")[0], load_rgb(tmp_path / f"gpu/rgb/{i}.png")[0]
        assert (ca - cb).abs().max() <= 1.5 / 255, f"colour differs by up to {float((ca - cb).abs().max()) * 255} codes"


@pytest.mark.parametrize("precision", ["bf16", "16"])
def test_cuda_autocast_runs_and_stays_close(tiny_ckpt, precision):
    g = load_generator(tiny_ckpt, map_location="cuda")
    x = torch.rand(2, 4, 33, 51, device="cuda")
    ref = translate_tensors(g, x)
    y = translate_tensors(g, x, precision=precision, channels_last=True)
    assert y.device.type == "cuda" and y.dtype == torch.float32
    diff = (y - ref).abs()
    assert diff.mean() < 0.01 and diff.max() < 0.5, (float(diff.mean()), float(diff.max()))


def test_cuda_exact_fp32_turns_tf32_off_for_the_call_only(tiny_ckpt):
    g = load_generator(tiny_ckpt, map_location="cuda")
    saved = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        x = torch.rand(1, 4, 16, 16, device="cuda")
        exact = translate_tensors(g, x, precision="32")
        with torch.no_grad():
            torch.backends.cudnn.allow_tf32 = False
            ref = g.module(x)
        torch.backends.cudnn.allow_tf32 = True
        assert torch.allclose(exact, ref, atol=1e-5)
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = saved


def test_cuda_precision_auto_is_checked_and_within_tolerance(tiny_ckpt, tmp_path):
    """On a GPU the default tries the fast modes against exact fp32 on the first batch and reports the check."""
    src = tmp_path / "in"
    for i in range(2):
        write_rgb(src / f"rgb/{i}.png", torch.rand(3, 32, 32))
        write_depth(src / f"depth/{i}.png", 0.5 + 3 * torch.rand(1, 32, 32))
    rep = translate_source(src, tmp_path / "out", load_generator(tiny_ckpt), device="cuda", batch_size=2)
    check = rep.depth_check
    assert check is not None and check["tried"] and check["used"] == rep.precision
    used = [t for t in check["tried"] if t["mode"] == rep.precision]
    assert rep.precision == "32" or (used and used[0]["within"] and used[0]["p999_mm"] <= check["tolerance_mm"])
