"""Run the generator on the batches of a translation: device, precision (with ``auto``'s depth check on the first
batch), one noise seed per sample, and the time spent in the network."""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from typing import Any

import torch

from volo_adapt.inference.engine import (
    auto_candidates,
    fastest_within_tolerance,
    padded_size,
    prepare,
    resolve_precision,
    translate_tensors,
)
from volo_adapt.inference.loading import LoadedGenerator
from volo_adapt.inference.options import TranslateOptions


def sample_seed(seed: int, key: str) -> int:
    """A 63-bit seed for one sample from the run's ``seed`` and the sample's key (stable across runs and machines)."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class Runner:
    """The generator of one translation run, ready on its device.

    Construction moves ``loaded``'s module to ``device`` (in place, optionally channels-last) and, with
    ``options.compile``, wraps a ``torch.compile``-d copy.

    Attributes:
        loaded: the generator actually run (the compiled copy with ``compile``).
        precision: the mode in use; with ``auto`` the fastest candidate until the first batch's check decides.
        depth_check: the ``auto`` check's record once made (see
            :attr:`~volo_adapt.inference.translate.TranslateReport.depth_check`), else None.
        compute_s: seconds spent in successful network calls.
    """

    def __init__(self, loaded: LoadedGenerator, device: torch.device, options: TranslateOptions) -> None:
        requested = options.requested_precision
        self.options = options
        self.candidates = auto_candidates(device) if requested == "auto" else []
        self.precision = self.candidates[0] if self.candidates else resolve_precision(requested, device)
        self.depth_check: dict[str, Any] | None = None
        self.compute_s = 0.0
        self._check_pending = bool(self.candidates)
        prepare(loaded, device, options.channels_last)
        if options.compile:
            loaded = dataclasses.replace(loaded, module=torch.compile(loaded.module))
        self.loaded = loaded

    def padded_pixels(self, size: tuple[int, int]) -> int:
        """Pixels the network runs for one ``(H, W)`` image (after padding to the generator's multiple/square)."""
        hp, wp = padded_size(*size, self.loaded.size_multiple, self.loaded.requires_square, self.loaded.min_size)
        return hp * wp

    def __call__(self, x: torch.Tensor, keys: Sequence[str]) -> torch.Tensor:
        """Translate ``x`` ``(B, 4, H, W)`` (float32 ``[0, 1]``, network encoding) whose samples are named ``keys``.

        Returns:
            ``(B, 4, H, W)`` float32 in ``[0, 1]`` on ``x``'s device.

        Raises:
            RuntimeError, ValueError: the network failed (e.g. out of memory); the caller reports the batch.
        """
        t0 = time.perf_counter()
        seeds = [sample_seed(self.options.seed, k) for k in keys]
        if self._check_pending:
            self._check_pending = False
            y = self._checked(x, seeds)
        else:
            y = self._run(x, seeds, self.precision)
        self.compute_s += time.perf_counter() - t0
        return y

    def _run(self, x: torch.Tensor, seeds: list[int], precision: str) -> torch.Tensor:
        return translate_tensors(self.loaded, x, precision=precision, channels_last=self.options.channels_last,
                                 seeds=seeds)

    def _checked(self, x: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """``--precision auto``, first batch: the fastest mode within the tolerance of exact fp32 on this batch."""
        y, self.precision, self.depth_check = fastest_within_tolerance(
            lambda mode: self._run(x, seeds, mode), self.candidates, self.loaded.codec, self.options.depth_tolerance_mm
        )
        return y
