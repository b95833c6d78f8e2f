"""Per-sample random streams: every sample's randomness derives from ``(seed, stream, index)`` only.

This makes a generated data set independent of batch size, worker count and generation order: sample ``i`` of
stream ``"A/train"`` is the same whether it is rendered alone or in a batch of 64.
"""

from __future__ import annotations

import zlib

import numpy as np
import torch


def stream_id(stream: str) -> int:
    """Stable 32-bit id of a stream name (CRC-32 of its UTF-8 bytes; Python's ``hash`` is salted per process)."""
    return zlib.crc32(stream.encode("utf-8"))


def numpy_rng(seed: int, stream: str, index: int, purpose: str) -> np.random.Generator:
    """A numpy generator for one sample and one purpose (``"scene"``, ``"sensor_b"``, ...)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), stream_id(stream), int(index), stream_id(purpose)]))


def torch_generator(seed: int, stream: str, index: int, purpose: str) -> torch.Generator:
    """A CPU ``torch.Generator`` for one sample and one purpose."""
    ss = np.random.SeedSequence([int(seed), stream_id(stream), int(index), stream_id(purpose)])
    return torch.Generator().manual_seed(int(ss.generate_state(1, dtype=np.uint64)[0] >> 1))
