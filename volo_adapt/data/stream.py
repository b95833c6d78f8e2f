"""Streaming the two domains from packed shards (local folders or object storage) with litdata.

Each domain is one litdata ``StreamingDataset`` over a packed folder or ``s3://`` URI (see
:mod:`volo_adapt.data.pack_format`) read through its own ``StreamingDataLoader``. litdata does the distribution:
it assigns chunks to ranks and then to loader workers without overlap, shuffles chunks and items with the
dataset's seed and epoch, keeps a bounded local cache of remote chunks (``max_cache_size``), and can report
and restore how far a loader has got (``state_dict`` / ``load_state_dict``, elastic when the number of ranks
changes). Credentials for object storage come from the usual environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``...); nothing here reads or stores them.

:class:`UnpairedStream` is the training iterable. It pulls one batch from each domain's loader per step; an
epoch is as many batches as the longer domain has per rank, and the shorter domain simply starts its next
(reshuffled) pass when it runs out, so neither stream is ever cut short or paired with the other by index.
It is hand-written glue, for one reason: a resumed run must continue *after the last batch that was
trained*. Lightning fetches one batch ahead, so a loader's own ``state_dict`` taken when a checkpoint is
written already counts a batch that was never trained on, and restoring it would skip that batch. So the
stream takes each loader's litdata ``state_dict`` right after producing each batch and tags the batch with a
sequence number; the DataModule records the state of the batch that actually reached ``training_step``
(:meth:`UnpairedStream.consumed`) and puts that into the checkpoint. The stream is deliberately not
"stateful" for Lightning (no ``state_dict`` method), so Lightning does not also save its one-ahead state.

What a resume cannot reproduce: the random crop window and augmentation of the batches after the resume
point may differ from an uninterrupted run (their random numbers are drawn in a different order around the
prefetch); the *samples* and their order are the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from litdata import StreamingDataLoader, StreamingDataset, train_test_split

from volo_adapt.data.dataset import fit_square
from volo_adapt.data.pack_format import decode_item
from volo_adapt.data.sample import DepthCodec, to_network

__all__ = ["SEQ_KEY", "UnpairedStream", "make_stream_dataset", "stream_loader", "stream_splits"]

SEQ_KEY = "_stream_seq"
"""Key of the sequence number :class:`UnpairedStream` adds to each batch (removed before training_step)."""


def _plain(obj: Any) -> Any:
    """litdata's state with numpy scalars/arrays as Python numbers/lists: checkpoints load with weights_only=True."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _forget_past_epochs() -> None:
    """Work around litdata 0.2.76 keeping past epochs alive: ``functools.lru_cache`` decorates methods of its
    shufflers (``maxsize=10``) and item loaders (``maxsize=128``), so the caches hold ``self``, i.e. each past
    epoch's shuffler with its cache, chunk reader, downloader and decode buffers. The shorter domain starts a
    new epoch often, and the process grew by all of that every pass (measured: +2.5 MB per batch from S3,
    until the caches are full). The caches only memoise pure functions of their arguments (a string split,
    seeded chunk assignments), so clearing them when a domain starts a new epoch is safe. In loader worker
    processes (``num_workers > 0``) the caches stay bounded by those maxsizes."""
    import functools

    from litdata.streaming import item_loader, shuffle

    for module in (item_loader, shuffle):
        for cls in vars(module).values():
            if isinstance(cls, type) and cls.__module__ == module.__name__:
                for attr in vars(cls).values():
                    if isinstance(attr, functools._lru_cache_wrapper):
                        attr.cache_clear()


def _to_network_item(item: dict[str, Any], codec: DepthCodec, image_size: int, train: bool) -> dict[str, Any]:
    """A packed item -> ``{"image": (4, S, S) float32, "valid": (1, S, S) bool, "key": "SOURCE_NAME/KEY"}``."""
    sample = fit_square(decode_item(item), image_size, random_crop=train)
    x, valid = to_network(sample, codec)
    return {"image": x, "valid": valid, "key": f"{Path(str(item['source'])).name}/{item['key']}"}


def make_stream_dataset(
    spec: str,
    *,
    codec: DepthCodec,
    image_size: int,
    train: bool,
    seed: int,
    cache_dir: str | None = None,
    max_cache_size: str | None = None,
) -> StreamingDataset:
    """One domain's litdata dataset, items ready for the network (see :func:`_to_network_item`).

    Args:
        spec: a packed folder or an object-store URI (``s3://bucket/prefix``).
        train: shuffle (seeded by ``seed`` and the epoch) and random square crops; else fixed order, centre crops.
        cache_dir: where remote chunks are cached (None: litdata's default); local packs are read in place.
        max_cache_size: cache budget (``"50GB"``); older chunks are evicted beyond it.
    """
    return StreamingDataset(
        spec,
        cache_dir=cache_dir,
        shuffle=train,
        seed=seed,
        max_cache_size=max_cache_size,
        transform=partial(_to_network_item, codec=codec, image_size=image_size, train=train),
    )


def stream_splits(
    spec: str, val_fraction: float, seed: int, **kwargs: Any
) -> tuple[StreamingDataset, StreamingDataset | None]:
    """``(train, val)`` datasets of one domain: a seeded, disjoint split by litdata's ``train_test_split``.

    The training half shuffles and crops randomly, the validation half does neither; both come from the same
    seeded split (``seed``), so they never share a sample. ``val`` is None when ``val_fraction`` is 0.
    """
    train = make_stream_dataset(spec, train=True, seed=seed, **kwargs)
    if val_fraction <= 0:
        return train, None
    fractions = [1.0 - val_fraction, val_fraction]
    train_part = train_test_split(train, fractions, seed=seed)[0]
    val_part = train_test_split(make_stream_dataset(spec, train=False, seed=seed, **kwargs), fractions, seed=seed)[1]
    return train_part, val_part


def stream_loader(dataset: StreamingDataset, *, batch_size: int, num_workers: int, train: bool,
                  pin_memory: bool) -> StreamingDataLoader:
    """A litdata loader: ``batch_size`` items per batch, incomplete last batch dropped while training."""
    return StreamingDataLoader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        drop_last=train,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )


class UnpairedStream:
    """Steps of one batch from each domain's loader, resumable at the last trained batch (module docstring).

    Yields ``{"A": batch, "B": batch, SEQ_KEY: int}`` where each batch is
    ``{"image": (N, 4, S, S), "valid": (N, 1, S, S), "key": [N str]}``.

    Args:
        loaders: ``{"A": StreamingDataLoader, "B": StreamingDataLoader}``; already restored when resuming.
        in_epoch: batches of the current epoch already trained (from a checkpoint), else 0.
    """

    def __init__(self, loaders: dict[str, StreamingDataLoader], in_epoch: int = 0) -> None:
        self.loaders = loaders
        self._skip = int(in_epoch) if int(in_epoch) < len(self) else 0
        self._iters: dict[str, Iterator[Any]] = {}
        self._seq = 0
        self._states: dict[int, dict[str, Any]] = {}

    def __len__(self) -> int:
        """Batches per epoch: the longer domain's batches on this rank."""
        return max(len(loader) for loader in self.loaders.values())

    def _next(self, domain: str) -> Any:
        it = self._iters.get(domain)
        if it is not None:
            try:
                return next(it)
            except StopIteration:
                pass
        # this domain's pass is over (or never started): litdata begins its next, reshuffled epoch
        _forget_past_epochs()
        it = self._iters[domain] = iter(self.loaders[domain])
        return next(it)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        n = len(self)
        start, self._skip = self._skip, 0
        for i in range(start, n):
            batch = {d: self._next(d) for d in self.loaders}
            self._seq += 1
            state: dict[str, Any] = {d: _plain(loader.state_dict()) for d, loader in self.loaders.items()}
            state["in_epoch"] = i + 1  # == n after the epoch's last batch: the next epoch starts afresh
            self._states[self._seq] = state
            batch[SEQ_KEY] = self._seq
            yield batch

    def consumed(self, seq: int) -> dict[str, Any]:
        """The loaders' states right after batch ``seq`` (forgets older ones): what a checkpoint should hold."""
        state = self._states.pop(seq)
        for old in [s for s in self._states if s < seq]:
            del self._states[old]
        return state
