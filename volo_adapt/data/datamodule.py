"""The unpaired two-domain RGB-D LightningDataModule.

Domain A (source, e.g. synthetic renders) and domain B (target, e.g. phone RGB + LiDAR) are listed,
validated, split into train/val per domain by a seeded permutation, and loaded by two independent
DataLoaders combined with ``CombinedLoader(mode="max_size_cycle")``: an epoch runs through the larger
training set once while the smaller one cycles; the two domains are shuffled independently (each
DataLoader has its own seeded ``torch.Generator``) and differently every epoch.

The batch reaching ``training_step`` / ``validation_step`` is the flat dict::

    {"A": (B, 4, S, S) float32, "B": (B, 4, S, S) float32,
     "valid_A": (B, 1, S, S) bool, "valid_B": (B, 1, S, S) bool}

Training augmentation (:class:`~volo_adapt.data.augment.JointAugment`) runs batched on the device in
``on_after_batch_transfer``, only while the trainer is training.

DDP: every rank must read a disjoint shard of each domain. Lightning would replace a plain loader's
sampler by a ``DistributedSampler`` seeded with the global seed, the *same* seed for both loaders; two
domains of equal size would then be permuted alike on every rank and every epoch, so sample ``i`` of A
would always meet sample ``i`` of B (a fixed pairing). So when :meth:`train_dataloader` runs inside a
multi-process trainer it gives each domain its own ``DistributedSampler`` (``num_replicas`` and ``rank``
from the trainer, a per-domain seed); Lightning keeps a sampler that already is a ``DistributedSampler``
and still calls ``set_epoch`` on it every epoch. Outside DDP no sampler is passed (``shuffle=True`` with a
per-domain generator), so Lightning stays free to insert its own wherever it needs one. Validation loaders
are plain and sharded by Lightning (order does not matter there).

Packed folders and object-store URIs (``s3://...``) are streamed instead: :meth:`UnpairedRGBDDataModule.from_config`
returns a :class:`~volo_adapt.data.stream_datamodule.StreamingRGBDDataModule` for them (same batches, same
augmentation; litdata shards, shuffles and resumes mid-epoch).

Debugging which samples each rank trained on: with ``stem_log=True`` every training batch appends one JSON line
``{"batch": N, "epoch": E, "A": [stems], "B": [stems]}`` to ``RUN_DIR/stems/rankR.jsonl`` (``N`` counts batches
from 1 across resumes; a batch replayed after a crash appears again with the same ``N``, and the last line
for a given ``N`` is the one that counts).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import torch
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from torch.utils.data import DataLoader, DistributedSampler

from volo_adapt.data.augment import JointAugment
from volo_adapt.data.check import validate_refs
from volo_adapt.data.dataset import RGBDDataset, collate_rgbd, raise_if_bad
from volo_adapt.data.pack_format import is_stream_spec
from volo_adapt.data.sample import DepthCodec
from volo_adapt.data.sources import SampleRef, open_source
from volo_adapt.data.workers import worker_init
from volo_adapt.directions import Domain
from volo_adapt.errors import ConfigError, DataError

if TYPE_CHECKING:
    from volo_adapt.config import DataConfig

DOMAINS: tuple[str, ...] = tuple(d.value for d in Domain)
"""Domain names, also the keys of the combined batch."""
MAX_LISTED_BAD = 3
"""How many unreadable files the start-up refusal names (the count is always given)."""
VAL_MODE = "max_size_cycle"
"""CombinedLoader mode of validation: every held-out sample of both domains is seen once per run, the
smaller domain cycling (so the A and B parts of the last batches may hold different numbers of samples)."""


def split_indices(n: int, val_fraction: float, seed: int, domain: int = 0) -> tuple[list[int], list[int]]:
    """Reproducible train/val split of ``range(n)`` by a seeded permutation.

    ``round(n * val_fraction)`` indices go to validation, at least one when ``val_fraction > 0`` and at
    most ``n - 1``. The permutation depends on ``seed`` and on ``domain`` (so two domains of equal size
    are not split alike). Both lists come back sorted.

    Example:
        >>> split_indices(5, 0.4, seed=10) == split_indices(5, 0.4, seed=10)
        True
    """
    assert n >= 0 and 0 <= val_fraction < 1
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    g = torch.Generator().manual_seed(int(seed) * len(DOMAINS) + int(domain))
    perm = torch.randperm(n, generator=g).tolist()
    return sorted(perm[n_val:]), sorted(perm[:n_val])


def check_train_size(domain: str, n_train: int, n_listed: int, data: DataConfig, world: int = 1) -> None:
    """Refuse a training split that gives some process no full batch (every process must train every batch).

    Under DDP each process reads ``ceil(n_train / world)`` samples of the domain (the DistributedSampler repeats a
    few to even out the shares) and drops an incomplete last batch.

    Raises:
        DataError: a process would get fewer than ``data.batch_size`` samples; the message names the domain, the
            counts and what to change.
    """
    per_process = math.ceil(n_train / max(1, world))
    if per_process >= data.batch_size:
        return
    counts = f"{n_train} training samples (of {n_listed} listed, val_fraction {data.val_fraction})"
    if world <= 1:
        raise DataError(f"domain {domain}: {counts} is fewer than data.batch_size {data.batch_size}")
    need = (data.batch_size - 1) * world + 1
    raise DataError(
        f"domain {domain}: {counts} give each of {world} processes {per_process}, fewer than data.batch_size "
        f"{data.batch_size}: give domain {domain} at least {need} training samples, lower data.batch_size, "
        "or use fewer processes (train.devices)"
    )


def _describe_bad(domain: str, bad: Sequence[Any], total: int) -> str:
    shown = "; ".join(b.reason for b in bad[:MAX_LISTED_BAD])  # each reason names its file
    more = f"; and {len(bad) - MAX_LISTED_BAD} more" if len(bad) > MAX_LISTED_BAD else ""
    return (
        f"domain {domain}: {len(bad)} of {total} samples cannot be read ({shown}{more}); "
        "fix or remove them, or skip them with --skip-bad (config: data.skip_bad=true)"
    )


class UnpairedRGBDDataModule(L.LightningDataModule):
    """Two unpaired RGB-D domains for translation training.

    Args:
        data: the run's data section: sources (``data_a``, ``data_b``; see
            :func:`~volo_adapt.data.sources.open_source`, concatenated per domain), ``image_size`` (side ``S`` of
            the square samples, pixels), ``batch_size`` (per domain, batch and device), ``num_workers`` (0 = load in
            the main process), ``val_fraction``, ``seed`` (split and the two shuffling generators), ``depth_scale``,
            the augmentation (``hflip``, ``shift_prob``, ``resized_crop_prob``, ``color_jitter``), ``skip_bad``
            (skip unreadable samples found at start, listed in :attr:`skipped`), ``stem_log`` (append each
            training batch's sample stems to ``RUN_DIR/stems/rankR.jsonl``) and, for streamed sources,
            ``stream_cache_dir`` / ``stream_cache_size``.
        codec: metres <-> network depth channel.
        data_a, data_b: sources replacing the config's (None: ``data.data_a`` / ``data.data_b``).
        validate: read every file once in :meth:`setup` (recommended; False skips the check).
        pixel_limit: refuse images with more pixels (None: the readers' default).
        pin_memory: pin loader memory (None: only when CUDA is available).
        progress: called as ``progress(domain, done, total)`` while :meth:`setup` validates the files.

    Attributes (after :meth:`setup`):
        train_sets, val_sets: ``{"A": RGBDDataset, "B": RGBDDataset}``.
        skipped: the ``BadSample`` records skipped with ``skip_bad`` (empty otherwise), for the caller to report.
    """

    def __init__(
        self,
        data: DataConfig,
        codec: DepthCodec,
        *,
        data_a: list[str] | None = None,
        data_b: list[str] | None = None,
        validate: bool = True,
        pixel_limit: int | None = None,
        pin_memory: bool | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        super().__init__()
        self.config = data
        self.specs = {Domain.A.value: list(data.data_a if data_a is None else data_a),
                      Domain.B.value: list(data.data_b if data_b is None else data_b)}
        self.codec = codec
        self.validate = bool(validate)
        self.pixel_limit = pixel_limit
        self.pin_memory = torch.cuda.is_available() if pin_memory is None else bool(pin_memory)
        self.progress = progress
        self.train_sets: dict[str, RGBDDataset] = {}
        self.val_sets: dict[str, RGBDDataset] = {}
        self.skipped: list[Any] = []
        self.augment = JointAugment(
            hflip=data.hflip,
            shift_prob=data.shift_prob,
            resized_crop_prob=data.resized_crop_prob,
            color_jitter=data.color_jitter,
        )
        # One generator per domain: independent shuffling, advanced (so reshuffled) every epoch.
        self._generators: dict[str, torch.Generator] = {}

    @classmethod
    def from_config(
        cls,
        data_cfg: DataConfig,
        codec: DepthCodec,
        data_a: list[str] | None = None,
        data_b: list[str] | None = None,
    ) -> UnpairedRGBDDataModule:
        """The DataModule for ``data_cfg``: a :class:`~volo_adapt.data.stream_datamodule.StreamingRGBDDataModule`
        when a source is streamed (packed folder, ``s3://``), else this class; ``data_a`` / ``data_b`` override its
        sources.

        Raises:
            ConfigError: a domain has no sources (the built-in demo set must be generated by the caller).
        """
        a = list(data_cfg.data_a if data_a is None else data_a)
        b = list(data_cfg.data_b if data_b is None else data_b)
        for key, specs in (("data.data_a", a), ("data.data_b", b)):
            if not specs:
                raise ConfigError(f"{key}: no data sources given")
        if cls is UnpairedRGBDDataModule and any(is_stream_spec(s) for s in a + b):
            from volo_adapt.data.stream_datamodule import StreamingRGBDDataModule

            cls = StreamingRGBDDataModule
        return cls(data_cfg, codec, data_a=a, data_b=b)

    # ----------------------------------------------------------------- setup

    def _list(self, domain: str) -> list[SampleRef]:
        specs = self.specs[domain]
        if not specs:
            raise DataError(f"domain {domain}: no data sources given")
        refs: list[SampleRef] = []
        for spec in specs:
            refs.extend(open_source(spec))
        if not refs:
            raise DataError(f"domain {domain}: no samples found in {', '.join(specs)}")
        return refs

    def _validate(self, domain: str, refs: list[SampleRef]) -> tuple[list[SampleRef], list[Any]]:
        kwargs: dict[str, Any] = {"depth_scale": self.config.depth_scale}
        if self.pixel_limit is not None:
            kwargs["pixel_limit"] = self.pixel_limit
        if self.progress is not None:
            report = self.progress
            kwargs["progress"] = lambda done, total: report(domain, done, total)
        good, bad = validate_refs(refs, **kwargs)
        if bad and not self.config.skip_bad:
            raise DataError(_describe_bad(domain, bad, len(refs)))
        return list(good), list(bad)

    def setup(self, stage: str | None = None) -> None:
        """List the sources, validate every file (unless ``validate=False``) and split each domain.

        The split is made on the listing *before* bad files are removed, so skipping a corrupt file never
        moves other samples between train and val. Idempotent (Lightning calls it once per stage).

        Raises:
            DataError: a source cannot be listed; a domain has unreadable files (without ``skip_bad``); a
                domain's training split gives a process fewer samples than ``batch_size``
                (:func:`check_train_size`; a validation split of any size works: Lightning's sampler repeats
                samples so that every process gets one).
        """
        if self.train_sets:
            return
        world = self.processes()[0]
        skipped: list[Any] = []
        for d, domain in enumerate(DOMAINS):
            refs = self._list(domain)
            train_idx, val_idx = split_indices(len(refs), self.config.val_fraction, self.config.seed, d)
            train_refs = [refs[i] for i in train_idx]
            val_refs = [refs[i] for i in val_idx]
            if self.validate:
                good, bad = self._validate(domain, refs)
                skipped.extend(bad)
                if bad:
                    keep = {(r.source, r.key) for r in good}
                    train_refs = [r for r in train_refs if (r.source, r.key) in keep]
                    val_refs = [r for r in val_refs if (r.source, r.key) in keep]
            check_train_size(domain, len(train_refs), len(refs), self.config, world)
            common = {"codec": self.codec, "image_size": self.config.image_size, "depth_scale": self.config.depth_scale,
                      "pixel_limit": self.pixel_limit}
            self.train_sets[domain] = RGBDDataset(train_refs, train=True, **common)
            self.val_sets[domain] = RGBDDataset(val_refs, train=False, **common)
            self._generators[domain] = torch.Generator().manual_seed(self.config.seed * len(DOMAINS) + d)
        self.skipped = skipped

    # ----------------------------------------------------------------- loaders

    def _loader(
        self,
        dataset: RGBDDataset,
        *,
        shuffle: bool,
        generator: torch.Generator | None,
        sampler: DistributedSampler | None = None,
    ) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            drop_last=shuffle,
            num_workers=self.config.num_workers,
            persistent_workers=self.config.num_workers > 0,
            pin_memory=self.pin_memory,
            collate_fn=collate_rgbd,
            generator=generator,
            worker_init_fn=worker_init if self.config.num_workers > 0 else None,  # workers leave stop signals to us
        )

    def _need_setup(self) -> None:
        if not self.train_sets:
            raise RuntimeError("UnpairedRGBDDataModule: call setup() before asking for a dataloader")

    def train_dataloader(self) -> CombinedLoader:
        """``CombinedLoader({"A": ..., "B": ...}, "max_size_cycle")`` over the training splits.

        Each loader: shuffled by its own generator (under DDP: its own per-domain-seeded DistributedSampler),
        ``drop_last=True``, ``batch_size`` samples per batch.
        """
        self._need_setup()
        loaders = {
            d: self._loader(
                self.train_sets[d], shuffle=True, generator=self._generators[d], sampler=self._ddp_sampler(d)
            )
            for d in DOMAINS
        }
        return CombinedLoader(loaders, mode="max_size_cycle")

    def processes(self) -> tuple[int, int]:
        """``(world_size, global_rank)`` of the trainer running this DataModule; ``(1, 0)`` outside a trainer."""
        trainer = self.trainer
        if trainer is None:
            return 1, 0
        return int(getattr(trainer, "world_size", 1) or 1), int(getattr(trainer, "global_rank", 0) or 0)

    def _ddp_sampler(self, domain: str) -> DistributedSampler | None:
        """A per-domain-seeded DistributedSampler when running in a multi-process trainer, else None."""
        world, rank = self.processes()
        if world <= 1:
            return None
        return DistributedSampler(
            self.train_sets[domain],
            num_replicas=world,
            rank=rank,
            shuffle=True,
            seed=self.config.seed * len(DOMAINS) + DOMAINS.index(domain),
            drop_last=False,  # as Lightning's own: pad so that every rank gets the same number of batches
        )

    def val_dataloader(self) -> CombinedLoader | list:
        """``CombinedLoader({"A": ..., "B": ...}, VAL_MODE)`` over the validation splits, in a fixed order.

        Returns an empty list (Lightning then skips validation) when ``val_fraction`` is 0 or a domain has
        no validation samples.
        """
        self._need_setup()
        if any(len(self.val_sets[d]) == 0 for d in DOMAINS):
            return []
        loaders = {d: self._loader(self.val_sets[d], shuffle=False, generator=None) for d in DOMAINS}
        return CombinedLoader(loaders, mode=VAL_MODE)

    # ----------------------------------------------------------------- checkpoint state

    def state_dict(self) -> dict[str, Any]:
        """The shuffling generators' states, stored in Lightning checkpoints so a resumed run keeps shuffling
        from where it stopped instead of repeating the first epoch's order."""
        return {"generators": {d: g.get_state() for d, g in self._generators.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (Lightning calls it after :meth:`setup`, before the loaders are built)."""
        for d, st in state_dict.get("generators", {}).items():
            if d in self._generators:
                self._generators[d].set_state(st)

    # ----------------------------------------------------------------- batches

    def _stems(self, domain: str, items: dict[str, Any]) -> list[str]:
        """``SOURCE_NAME/KEY`` of each sample of one domain's item batch."""
        refs = self.train_sets[domain].refs
        return [f"{Path(refs[int(i)].source).name}/{refs[int(i)].key}" for i in items["index"]]

    def _log_stems(self, batch: dict[str, Any]) -> None:
        """Append this training batch's stems to ``RUN_DIR/stems/rankR.jsonl`` (see the module docstring)."""
        trainer = self.trainer
        module = trainer.lightning_module
        line = {
            "batch": int(getattr(module, "batches_done", trainer.global_step)) + 1,
            "epoch": int(trainer.current_epoch),
            **{d: self._stems(d, batch[d]) for d in DOMAINS},
        }
        path = Path(trainer.default_root_dir) / "stems" / f"rank{int(trainer.global_rank)}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:  # a debug log, appended line by line (not atomic)
            f.write(json.dumps(line) + "\n")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> dict[str, torch.Tensor]:
        """``{"A": item-batch, "B": item-batch}`` -> the flat dict; augments while training.

        Raises:
            DataError: a worker could not read a file (the one-line message naming it).
        """
        raise_if_bad(batch)
        assert isinstance(batch, dict) and set(batch) == set(DOMAINS), (
            f"expected a batch with keys {DOMAINS}, got {type(batch).__name__} "
            f"{sorted(batch) if isinstance(batch, dict) else ''}"
        )
        trainer = self.trainer
        training = trainer is not None and bool(trainer.training)
        if training and self.config.stem_log:
            self._log_stems(batch)
        out: dict[str, torch.Tensor] = {}
        for d in DOMAINS:
            x, valid = batch[d]["image"], batch[d]["valid"]
            if training:
                x, valid = self.augment(x, valid)
            out[d] = x
            out[f"valid_{d}"] = valid
        return out
