"""Tests for volo_adapt/models/attention.py against a hand-written reference of the original's block."""

from __future__ import annotations

import math

import pytest
import torch

from volo_adapt.models.attention import GatedSelfAttention


def _conv1x1(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    # x (C, S, S), w (O, C, 1, 1) -> (O, S, S), loops written out
    o_ch, c_ch = w.shape[:2]
    s = x.shape[1]
    out = torch.zeros(o_ch, s, s, dtype=torch.float64)
    for o in range(o_ch):
        for c in range(c_ch):
            out[o] += w[o, c, 0, 0] * x[c]
    return out


def _layer_norm_channels(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float) -> torch.Tensor:
    out = torch.zeros_like(x)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            v = x[:, i, j]
            mu = v.mean()
            var = ((v - mu) ** 2).mean()
            out[:, i, j] = (v - mu) / math.sqrt(var + eps) * gamma + beta
    return out


def _reference(block: GatedSelfAttention, x: torch.Tensor) -> torch.Tensor:
    """The description, literally: f,g,h 1x1 + LN; softmax over H of (f transposed spatially) * g; * h; 1x1; LN."""
    x = x.double()[0]
    feats = {}
    for name in ("f", "g", "h"):
        seq = getattr(block, name)
        y = _conv1x1(x, seq[0].weight.detach().double())
        feats[name] = _layer_norm_channels(y, seq[1].weight.double(), seq[1].bias.double(), seq[1].eps)
    f, g, h = feats["f"], feats["g"], feats["h"]
    c, s, _ = f.shape
    beta = torch.zeros_like(f)
    for k in range(c):
        for j in range(s):  # column j (W index); softmax runs over the H index i
            logits = [f[k, j, i] * g[k, i, j] for i in range(s)]  # f transposed: f^T[i, j] = f[j, i]
            m = max(float(v) for v in logits)
            e = [math.exp(float(v) - m) for v in logits]
            for i in range(s):
                beta[k, i, j] = e[i] / sum(e)
    o = _conv1x1(beta * h, block.out[0].weight.detach().double())
    o = _layer_norm_channels(o, block.out[1].weight.double(), block.out[1].bias.double(), block.out[1].eps)
    return (x + block.gate.double() * o)[None]


def test_attention_matches_hand_written_reference():
    torch.manual_seed(0)
    block = GatedSelfAttention(16).eval()  # eval: spectral norm does no power iteration, weights stay fixed
    with torch.no_grad():  # non-trivial LN affine parameters and gate
        for ln in (block.f[1], block.g[1], block.h[1], block.out[1]):
            ln.weight.uniform_(0.5, 1.5)
            ln.bias.uniform_(-0.5, 0.5)
        block.gate_raw.fill_(0.3)
    x = torch.randn(1, 16, 3, 3)
    torch.testing.assert_close(block(x).double(), _reference(block, x), atol=1e-5, rtol=1e-5)


def test_gate_starts_at_one_and_stays_non_negative():
    block = GatedSelfAttention(8)
    assert block.gate.item() == pytest.approx(1.0)
    with torch.no_grad():
        block.gate_raw.fill_(-50.0)
    assert block.gate.item() >= 0.0
    assert sum(p.numel() for p in block.parameters()) == 4 * 8 * 1 + 3 * 2 * 1 + 2 * 8 + 1


def test_attention_needs_square_maps():
    with pytest.raises(ValueError, match="square"):
        GatedSelfAttention(8)(torch.randn(1, 8, 4, 6))
