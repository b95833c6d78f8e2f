"""Group read samples into network batches: equal sizes only, at most ``batch_size`` images and ``max_batch_pixels``
padded pixels per batch, and a bound on how many read images wait in memory."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from volo_adapt.inference.writers import OutputPlan

Size = tuple[int, int]


@dataclass
class PendingSample:
    """One read sample waiting for its batch.

    Attributes:
        index: position of the sample in its source (results are reported in this order).
        plan: its output files.
        x: ``(4, H, W)`` float32 network tensor in ``[0, 1]`` (RGB, then codec-encoded depth).
        rgb_size: ``(H, W)`` of the colour file, to restore after translation.
        depth_size: ``(H, W)`` of the depth file.
        out_of_range_px: pixels with valid depth outside the codec's ``[near, far]`` (they entered as invalid).
    """

    index: int
    plan: OutputPlan
    x: torch.Tensor
    rgb_size: Size
    depth_size: Size
    out_of_range_px: int = 0

    @property
    def size(self) -> Size:
        """``(H, W)`` the network runs at."""
        return int(self.x.shape[-2]), int(self.x.shape[-1])


class Batcher:
    """Collects samples per size and hands out full batches (see :meth:`add`), then the rest (:meth:`drain`).

    Args:
        batch_size: most images per batch, >= 1.
        max_batch_pixels: most padded pixels (``B * H' * W'``) per batch; a single image always makes a batch.
        padded_pixels: ``(H, W) -> H' * W'``, the pixels the network really runs for one image of that size.
    """

    def __init__(self, batch_size: int, max_batch_pixels: int, padded_pixels: Callable[[Size], int]) -> None:
        self.batch_size = batch_size
        self.max_batch_pixels = max_batch_pixels
        self.padded_pixels = padded_pixels
        self.pending: dict[Size, list[PendingSample]] = {}

    def capacity(self, size: Size) -> int:
        """Images of ``size`` per batch: ``batch_size``, fewer when they would pass ``max_batch_pixels``, >= 1."""
        return max(1, min(self.batch_size, self.max_batch_pixels // self.padded_pixels(size)))

    def held(self) -> int:
        """Samples waiting."""
        return sum(len(g) for g in self.pending.values())

    def add(self, sample: PendingSample) -> list[list[PendingSample]]:
        """Queue ``sample``; return the batches to run now (none, or one).

        A size whose queue reaches its capacity goes at once. With many sizes, when more than ``4 * batch_size``
        samples wait, the largest queue goes (so memory stays bounded whatever the mix of sizes).
        """
        size = sample.size
        self.pending.setdefault(size, []).append(sample)
        if len(self.pending[size]) >= self.capacity(size):
            return [self.pending.pop(size)]
        if self.held() > 4 * self.batch_size:
            return [self.pending.pop(max(self.pending, key=lambda s: len(self.pending[s])))]
        return []

    def drain(self) -> Iterator[list[PendingSample]]:
        """The remaining batches, oldest size first."""
        while self.pending:
            yield self.pending.pop(next(iter(self.pending)))
