"""The two-domain DataModule over streamed sources (packed folders, ``s3://`` URIs): see :mod:`volo_adapt.data.stream`.

Batches, augmentation and the flat batch reaching ``training_step`` are those of
:class:`~volo_adapt.data.datamodule.UnpairedRGBDDataModule`; what differs:

* each domain is exactly one streamed source (pack several loose sources into one with ``volo data pack``);
* litdata shards each domain across ranks and loader workers (no ``DistributedSampler``), and shuffles A and B
  with their own seeds (``seed * 2 + domain``), so they are never paired by index;
* the train/val split is litdata's seeded ``train_test_split`` of each domain;
* under DDP litdata gives a process ``(n // batch_size) // processes`` batches of a split (the last process also the
  remainder of a validation split), so a small split can leave a process without a batch: :meth:`setup` counts
  every process's batches and refuses such a split on every process alike, before training
  (:meth:`StreamingRGBDDataModule.check_batches_per_process`);
* :meth:`state_dict` holds each training loader's litdata state *after the last trained batch* and the
  position in the epoch, so a run resumed mid-epoch continues with the next sample (no replay, no skip).

Files were validated when packed (``volo data pack`` lists and skips unreadable ones), so no start-up check.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.utilities.combined_loader import CombinedLoader

from volo_adapt.data.datamodule import DOMAINS, VAL_MODE, UnpairedRGBDDataModule
from volo_adapt.data.pack_format import is_remote, is_stream_spec, require_litdata
from volo_adapt.errors import DataError, first_line


def split_size(dataset: Any) -> int:
    """Samples in a litdata dataset or split, all processes together (``len()`` counts this process's share)."""
    return sum(int(end) - int(start) for start, end in dataset.region_of_interest)


class SelfShardedLoader:
    """A litdata loader as Lightning should see it: an iterable with a length (its batches on this process), no
    ``dataset`` attribute.

    litdata shards a split across processes and loader workers itself, so ``len()`` is exact. Shown a DataLoader over
    an ``IterableDataset``, Lightning would warn at every start that its length "could be inaccurate" with several
    loader workers, and would look for a sampler to replace; the training stream
    (:class:`~volo_adapt.data.stream.UnpairedStream`) is not a DataLoader for the same reason.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Any:
        return iter(self.loader)


class StreamingRGBDDataModule(UnpairedRGBDDataModule):
    """Two unpaired RGB-D domains streamed from packed shards; arguments (a ``DataConfig``, the codec, runtime options)
    as :class:`UnpairedRGBDDataModule`.

    Attributes (after :meth:`setup`):
        train_sets, val_sets: ``{"A": StreamingDataset, "B": ...}`` (``val_sets`` empty without a val split).
        stream: the :class:`~volo_adapt.data.stream.UnpairedStream` of the running fit (None before).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream: Any = None
        self._consumed: dict[str, Any] | None = None  # loader states after the last trained batch
        self._restored: dict[str, Any] | None = None  # from a checkpoint, applied when the loaders are built

    def _spec(self, domain: str) -> str:
        specs = self.specs[domain]
        if len(specs) != 1 or not is_stream_spec(specs[0]):
            listed = ", ".join(specs) or "none"
            raise DataError(
                f"domain {domain}: streamed data takes exactly one packed folder or s3:// URI per domain (got "
                f"{listed}); pack loose sources first: volo data pack SOURCE... OUT"
            )
        return specs[0]

    def setup(self, stage: str | None = None) -> None:
        """Open both domains' indexes and split them (idempotent).

        Raises:
            DataError: a domain mixes streamed and loose sources, has several sources, cannot be opened, or has
                fewer training samples than ``batch_size``; under DDP, a split gives some process no batch
                (:meth:`check_batches_per_process`).
        """
        if self.train_sets:
            return
        require_litdata()
        c = self.config
        kwargs = {"codec": self.codec, "image_size": c.image_size, "cache_dir": c.stream_cache_dir or None,
                  "max_cache_size": c.stream_cache_size or None}
        from volo_adapt.data.stream import stream_splits

        for d, domain in enumerate(DOMAINS):
            spec = self._spec(domain)
            try:
                train, val = stream_splits(spec, c.val_fraction, c.seed * len(DOMAINS) + d, **kwargs)
            except Exception as e:  # litdata/botocore raise many types (no index, no credentials, no bucket)
                where = "object store" if is_remote(spec) else "folder"
                raise DataError(f"{spec}: cannot open the packed {where} ({first_line(e)})") from e
            n_train = split_size(train)
            if n_train < c.batch_size:
                raise DataError(
                    f"domain {domain}: {n_train} training samples in {spec} (val_fraction {c.val_fraction}) "
                    f"is fewer than data.batch_size {c.batch_size}"
                )
            self.train_sets[domain] = train
            if val is not None and split_size(val) > 0:
                self.val_sets[domain] = val
        if self.processes()[0] > 1:
            self.check_batches_per_process()

    def check_batches_per_process(self) -> None:
        """Under DDP: raise on every process alike when a domain's training or validation split gives some process
        no batch (a process without batches would stop the others at their first collective). Reduces each
        process's batch counts to their minimum over all processes (a collective: call it on all of them).

        Raises:
            DataError: one line naming the domain, the split's size, the number of processes and what to change.
        """
        world = self.processes()[0]
        counts = [len(self._loader(self.train_sets[d], train=True)) for d in DOMAINS]
        counts += [len(self._loader(self.val_sets[d], train=False)) if d in self.val_sets else 0 for d in DOMAINS]
        strategy = self.trainer.strategy
        fewest = strategy.reduce(torch.tensor(counts, device=strategy.root_device), reduce_op="min").tolist()
        c, n = self.config, len(DOMAINS)
        need = c.batch_size * world
        for i, domain in enumerate(DOMAINS):
            spec = self.specs[domain][0]
            if fewest[i] == 0:
                raise DataError(
                    f"domain {domain}: {split_size(self.train_sets[domain])} training samples in {spec} (val_fraction "
                    f"{c.val_fraction}) leave a process without a batch of data.batch_size {c.batch_size} on "
                    f"{world} processes: give domain {domain} at least {need} training samples, lower "
                    "data.batch_size, or use fewer processes (train.devices)"
                )
            if domain in self.val_sets and fewest[n + i] == 0:
                raise DataError(
                    f"domain {domain}: the validation split of {spec} has {split_size(self.val_sets[domain])} "
                    f"samples, too few for a batch on each of {world} processes (data.batch_size {c.batch_size}): "
                    f"give validation at least {need} samples (data.val_fraction, now {c.val_fraction}) or set "
                    "data.val_fraction=0"
                )

    def _loader(self, dataset: Any, *, train: bool) -> Any:  # type: ignore[override]
        from volo_adapt.data.stream import stream_loader

        c = self.config
        return stream_loader(dataset, batch_size=c.batch_size, num_workers=c.num_workers, train=train,
                             pin_memory=self.pin_memory)

    def train_dataloader(self) -> Any:
        """An :class:`~volo_adapt.data.stream.UnpairedStream` over both domains' training loaders, restored to the
        checkpoint's position when resuming."""
        from volo_adapt.data.stream import UnpairedStream

        self._need_setup()
        loaders = {d: self._loader(self.train_sets[d], train=True) for d in DOMAINS}
        in_epoch = 0
        if self._restored is not None:
            for d in DOMAINS:
                loaders[d].load_state_dict(self._restored[d])
            in_epoch = int(self._restored.get("in_epoch", 0))
            self._consumed, self._restored = self._restored, None
        self.stream = UnpairedStream(loaders, in_epoch=in_epoch)
        return self.stream

    def val_dataloader(self) -> CombinedLoader | list:
        """``CombinedLoader({"A": ..., "B": ...}, VAL_MODE)`` over the validation splits (each rank its own shard),
        or ``[]`` (no validation) without a validation split in both domains (the same on every rank: under DDP
        :meth:`setup` refused splits that give some rank no batch)."""
        self._need_setup()
        if set(self.val_sets) != set(DOMAINS):
            return []
        loaders = {d: SelfShardedLoader(self._loader(self.val_sets[d], train=False)) for d in DOMAINS}
        if any(len(dl) == 0 for dl in loaders.values()):
            return []
        return CombinedLoader(loaders, mode=VAL_MODE)

    def _stems(self, domain: str, items: dict[str, Any]) -> list[str]:
        return list(items["key"])

    def state_dict(self) -> dict[str, Any]:
        """``{"stream": {"A": litdata loader state, "B": ..., "in_epoch": batches}}`` after the last trained batch."""
        return {"stream": self._consumed} if self._consumed is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Keep the stream position for :meth:`train_dataloader` (Lightning calls this before building loaders)."""
        self._restored = state_dict.get("stream")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> dict[str, torch.Tensor]:
        """Record the stream position of this (training) batch, then as the base class."""
        from volo_adapt.data.stream import SEQ_KEY

        if isinstance(batch, dict) and SEQ_KEY in batch:
            seq = batch.pop(SEQ_KEY)
            if self.stream is not None:
                self._consumed = self.stream.consumed(int(seq))
        return super().on_after_batch_transfer(batch, dataloader_idx)
