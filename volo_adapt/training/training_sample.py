"""The images a start-of-run estimate reads (``model.sensor.pinholes: auto``, ``model.sensor.birth_rings: auto``):
the first images of one training source at the training size, as evaluation reads them, with a one-line error that
says which estimate read the source."""

from __future__ import annotations

import torch

from volo_adapt.config import DataConfig
from volo_adapt.errors import DataError, first_line


def read_training_sample(spec: str, data: DataConfig, max_samples: int, purpose: str) -> torch.Tensor:
    """``(N, C, H, W)`` float network tensors in [0, 1] (encoded depth last, invalid = 0) of the first
    ``max_samples`` images of ``spec`` at ``data.image_size``.

    Raises:
        DataError: the source cannot be read (one line, ending in ``(purpose)``).
    """
    from volo_adapt.build import build_codec
    from volo_adapt.data.eval_sets import load_network_tensors

    try:
        x, _ = load_network_tensors([spec], data.image_size, build_codec(data), data.depth_scale, max_samples)
    except DataError as e:
        raise DataError(f"{first_line(e)} ({purpose})") from e
    return x
