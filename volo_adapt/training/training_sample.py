"""The images a start-of-run estimate reads (``model.sensor.pinholes: auto``, ``model.sensor.birth_rings: auto``,
``loss.geometry_region: auto``): the first images of one training source at the training size, as evaluation reads
them, with a one-line error that says which estimate read the source. :class:`TrainingSamples` lets the estimates of
one start-up share a read instead of decoding the same images once per estimate."""

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


class TrainingSamples:
    """:func:`read_training_sample` for one start-up, remembering the largest read of each source.

    A request for at most as many images as an earlier read of the same source returns that read's first
    ``max_samples`` images (the same images: sources are read in key order), so ``birth_rings: auto`` (256 images) and
    ``geometry_region: auto`` (128) decode each domain once. Holds the tensors until it is dropped: at 512 px a
    256-image read is about 1 GiB per domain, so keep an instance for the start-up only.

    Example:
        >>> samples = TrainingSamples(DataConfig(image_size=16))  # doctest: +SKIP
        >>> a = samples.read("data/A", 256, "birth rings"); b = samples.read("data/A", 128, "edges")  # doctest: +SKIP
        >>> torch.equal(b, a[:128])  # doctest: +SKIP
        True
    """

    def __init__(self, data: DataConfig):
        self.data = data
        self._reads: dict[str, tuple[int, torch.Tensor]] = {}  # spec -> (images asked for, images read)

    def read(self, spec: str, max_samples: int, purpose: str) -> torch.Tensor:
        """The first ``max_samples`` images of ``spec`` (see :func:`read_training_sample`); ``purpose`` names the
        estimate in a read error."""
        asked, x = self._reads.get(spec, (0, None))
        if x is None or (max_samples > asked and len(x) >= asked):  # a larger request of a source not read to its end
            x = read_training_sample(spec, self.data, max_samples, purpose)
            self._reads[spec] = (max_samples, x)
        return x[:max_samples]
