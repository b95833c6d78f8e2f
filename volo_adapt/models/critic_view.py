"""What a critic sees: its input plus each channel's high-pass residual, amplified.

A depth sensor's signature lives in small, high-frequency differences: range-dependent noise of a few millimetres
(a few thousandths of the encoded depth range), 1 mm quantisation steps, ramps at edges, speckled holes, colour
noise and JPEG blocks. In the raw input those are tiny against the scene's own structure, and a critic learns to
look at them only slowly; the classifier two-sample test (``volo_adapt/metrics/c2st.py``) separates clean renders
from sensor images mostly through an amplified high-pass view of the same kind. :class:`HighPassView` hands every
critic that view from the first step: the image and ``gain * (x - box3(x))`` per channel, where ``box3`` is
kornia's 3x3 box blur with replicated borders (the classifier's own view, so the critic is asked the question the
evaluation asks).
"""

from __future__ import annotations

import kornia
import torch
from torch import nn


def highpass_residual(x: torch.Tensor) -> torch.Tensor:
    """``x - box3(x)``: each channel minus its 3x3 mean (replicated borders). ``(B, C, H, W)`` -> same shape.

    Example:
        >>> bool(highpass_residual(torch.full((1, 2, 5, 5), 0.7)).abs().max() < 1e-6)
        True
    """
    return x - kornia.filters.box_blur(x, (3, 3), border_type="replicate")


class HighPassView(nn.Module):
    """Wraps a critic built for ``2 * channels`` inputs; feeds it ``cat([x, gain * highpass_residual(x)])``.

    Args:
        critic: any critic from the registry, built with ``in_channels = 2 * channels``.
        gain: the residual's amplification (encoded depth noise of 0.004 becomes 0.08 at a gain of 20).

    Shapes:
        ``forward(x)``: ``(B, channels, H, W)`` float in [0, 1] -> the wrapped critic's outputs.
    """

    def __init__(self, critic: nn.Module, gain: float) -> None:
        super().__init__()
        if gain <= 0:
            raise ValueError(f"HighPassView: gain must be > 0, got {gain}")
        self.critic = critic
        self.gain = float(gain)
        self.n_outputs: int = critic.n_outputs  # the wrapped critic's outputs, unchanged

    def forward(self, x: torch.Tensor):  # noqa: ANN201 - whatever the wrapped critic returns
        return self.critic(torch.cat([x, self.gain * highpass_residual(x)], dim=1))
