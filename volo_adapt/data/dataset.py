"""Map-style dataset of RGB-D samples, brought to a square training size and encoded for the network.

Size policy (documented, never silent): the shorter side is resized to ``image_size`` keeping the aspect
ratio (RGB antialiased; depth and the valid mask NEAREST, so no depth is invented), then a square
``image_size x image_size`` window is cut: centred (validation) or at a random position (training).
Images smaller than ``image_size`` are upsampled the same way (nearest for depth).

Errors in DataLoader worker processes: torch re-raises a worker exception in the main process wrapped in
a multi-line message ("Caught DataError in DataLoader worker process 0. Original Traceback ..."), which is
not the one-line error the CLI promises. So inside a worker :meth:`RGBDDataset.__getitem__` catches a
:class:`~volo_adapt.errors.DataError` and returns a :class:`BadItem` carrying its message;
:func:`collate_rgbd` turns a batch containing one into that :class:`BadItem`; and the main process calls
:func:`raise_if_bad` on every batch (the DataModule does this in ``on_after_batch_transfer``), which raises
the original one-line ``DataError``. Without workers the ``DataError`` is raised directly. Training also
validates every file at start (see :mod:`volo_adapt.data.check`), so this path is rare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Dataset, default_collate, get_worker_info

from volo_adapt.data.align import resize_depth_nearest, resize_rgb
from volo_adapt.data.sample import DepthCodec, RGBDSample, to_network
from volo_adapt.data.sources import SampleRef, read_sample
from volo_adapt.errors import DataError


@dataclass(frozen=True)
class BadItem:
    """Stands in for a sample (or a whole batch) that could not be read inside a DataLoader worker.

    Attributes:
        message: the one-line :class:`~volo_adapt.errors.DataError` message (names the file).
    """

    message: str


def resized_size(height: int, width: int, image_size: int) -> tuple[int, int]:
    """``(H, W)`` after resizing the shorter side to ``image_size`` keeping the aspect ratio.

    The longer side is rounded to the nearest pixel and is never shorter than ``image_size``.

    Example:
        >>> resized_size(480, 640, 256)
        (256, 341)
    """
    assert height > 0 and width > 0 and image_size > 0
    if height <= width:
        return image_size, max(image_size, round(width * image_size / height))
    return max(image_size, round(height * image_size / width)), image_size


def fit_square(sample: RGBDSample, image_size: int, *, random_crop: bool, generator: torch.Generator | None = None
               ) -> RGBDSample:
    """Resize the shorter side to ``image_size`` and cut an ``image_size`` square window.

    Args:
        sample: RGB ``(3, H, W)`` in ``[0, 1]``, depth ``(1, H, W)`` metres, valid ``(1, H, W)`` bool.
        image_size: side ``S`` of the output square, pixels.
        random_crop: random window position (training) instead of the centre (validation).
        generator: RNG of the random position (default: torch's global RNG, which DataLoader seeds per worker).

    Returns:
        A sample of size ``(S, S)``: RGB antialiased, depth and valid resampled nearest; depth is 0 where
        invalid; ``meta`` gains ``crop = (top, left, S, S)`` in the resized image and ``resized = (H', W')``.
    """
    h, w = sample.size
    rh, rw = resized_size(h, w, image_size)
    rgb, depth, valid = sample.rgb, sample.depth, sample.valid
    if (rh, rw) != (h, w):
        rgb = resize_rgb(rgb, (rh, rw)).clamp(0, 1)
        depth = resize_depth_nearest(depth, (rh, rw))
        valid = resize_depth_nearest(valid.to(torch.float32), (rh, rw)) > 0.5
    if random_crop:
        top = int(torch.randint(0, rh - image_size + 1, (), generator=generator))
        left = int(torch.randint(0, rw - image_size + 1, (), generator=generator))
    else:
        top, left = (rh - image_size) // 2, (rw - image_size) // 2
    win = (slice(None), slice(top, top + image_size), slice(left, left + image_size))
    valid = valid[win].contiguous()
    depth = torch.where(valid, depth[win], torch.zeros((), dtype=depth.dtype)).contiguous()
    meta = {**sample.meta, "crop": (top, left, image_size, image_size), "resized": (rh, rw)}
    return RGBDSample(rgb=rgb[win].contiguous(), depth=depth, valid=valid, meta=meta)


class RGBDDataset(Dataset):
    """Map-style dataset over a list of :class:`~volo_adapt.data.sources.SampleRef`.

    Args:
        refs: the samples, in index order.
        codec: metres <-> network depth channel.
        image_size: side ``S`` of the square output, pixels.
        train: random window position (training) instead of the centre (validation).
        depth_scale: units per metre of integer depth files (1000 = millimetres).
        pixel_limit: refuse images with more pixels than this (None: the readers' default).

    An item is ``{"image": (4, S, S) float32 in [0, 1], "valid": (1, S, S) bool, "index": int}``, with
    every channel of ``image`` 0 where ``valid`` is False (see :func:`~volo_adapt.data.sample.to_network`).

    Example (one ``(H, W, 4)`` array sample, RGB then depth in metres, written to a temporary folder first):
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> folder = tempfile.TemporaryDirectory()
        >>> np.save(Path(folder.name) / "0001.npy", np.full((48, 64, 4), 0.5, np.float32))
        >>> refs = [SampleRef(key="0001", source=folder.name, array_path=Path(folder.name) / "0001.npy")]
        >>> item = RGBDDataset(refs, DepthCodec(), image_size=32, train=False)[0]
        >>> item["image"].shape, item["valid"].shape, bool(item["valid"].all())
        (torch.Size([4, 32, 32]), torch.Size([1, 32, 32]), True)
        >>> folder.cleanup()
    """

    def __init__(
        self,
        refs: Sequence[SampleRef],
        codec: DepthCodec,
        image_size: int,
        *,
        train: bool,
        depth_scale: float = 1000.0,
        pixel_limit: int | None = None,
    ) -> None:
        assert image_size > 0
        self.refs = list(refs)
        self.codec = codec
        self.image_size = int(image_size)
        self.train = bool(train)
        self.depth_scale = float(depth_scale)
        self.pixel_limit = pixel_limit

    def __len__(self) -> int:
        return len(self.refs)

    def load(self, index: int) -> dict[str, Any]:
        """Read, resize, crop and encode sample ``index``; raises DataError on a bad file."""
        ref = self.refs[index]
        kwargs: dict[str, Any] = {"depth_scale": self.depth_scale}
        if self.pixel_limit is not None:
            kwargs["pixel_limit"] = self.pixel_limit
        sample = read_sample(ref, **kwargs)
        sample = fit_square(sample, self.image_size, random_crop=self.train)
        x, valid = to_network(sample, self.codec)
        return {"image": x, "valid": valid, "index": index}

    def __getitem__(self, index: int) -> dict[str, Any] | BadItem:
        try:
            return self.load(index)
        except DataError as e:
            if get_worker_info() is None:
                raise
            return BadItem(str(e))
        except OSError as e:  # e.g. a file deleted or made unreadable after the start-up check
            ref = self.refs[index]
            path = next((p for p in (ref.array_path, ref.rgb_path, ref.depth_path) if p is not None), ref.source)
            err = DataError(f"{path}: cannot read ({e.strerror or e})")
            if get_worker_info() is None:
                raise err from e
            return BadItem(str(err))


def collate_rgbd(items: list[Any]) -> Any:
    """``default_collate``, except that a batch containing a :class:`BadItem` becomes that BadItem."""
    for item in items:
        if isinstance(item, BadItem):
            return item
    return default_collate(items)


def raise_if_bad(batch: Any) -> None:
    """Raise the original one-line DataError if ``batch`` (possibly a nested dict/list) holds a BadItem."""
    if isinstance(batch, BadItem):
        raise DataError(batch.message)
    if isinstance(batch, Mapping):
        for v in batch.values():
            raise_if_bad(v)
    elif isinstance(batch, list | tuple):
        for v in batch:
            raise_if_bad(v)
