"""The Lightning ``Trainer`` of a run, from the ``train`` section: devices, strategy, precision, loggers, budget.

Step counts are not given to Lightning (its ``max_steps`` counts optimiser steps, two per batch here): the batch
limit is a callback (:class:`~volo_adapt.training.callbacks.BatchLimit`); checkpoints are written by
:class:`~volo_adapt.training.callbacks.RunCheckpoints` through :class:`AtomicCheckpointIO`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException

from volo_adapt.config import RunConfig
from volo_adapt.errors import ConfigError, first_line
from volo_adapt.training.checkpoint import AtomicCheckpointIO
from volo_adapt.training.loggers import make_loggers


def _multi_device(cfg: RunConfig) -> bool:
    d = _devices(cfg.train.devices)
    if isinstance(d, int):
        return d > 1 or (d == -1 and cfg.train.accelerator != "cpu" and torch.cuda.device_count() > 1)
    if d == "auto":
        return cfg.train.accelerator in ("auto", "gpu", "cuda") and torch.cuda.device_count() > 1
    return len([x for x in str(d).split(",") if x.strip()]) > 1


def lightning_strategy(cfg: RunConfig) -> str:
    """``ddp`` (or ``auto`` on several devices or nodes) -> ``ddp_find_unused_parameters_true``.

    Each backward only reaches part of the module (critics are frozen during the generator step, the
    generators are detached from the critic step, EMA copies never train), so plain DDP stops with
    "parameters that were not used in producing the loss". (``fsdp`` never gets here: config validation refuses it.)
    """
    s = cfg.train.strategy
    if s == "ddp" or (s == "auto" and (_multi_device(cfg) or cfg.train.num_nodes > 1)):
        return "ddp_find_unused_parameters_true"
    return s


def _devices(value: str) -> Any:
    v = str(value).strip()
    return int(v) if v.lstrip("-").isdigit() else v


def _precision(value: str, accelerator: str = "auto") -> str:
    from volo_adapt.hardware import resolve_train_precision

    return resolve_train_precision(value, accelerator)


def make_trainer(cfg: RunConfig, run_dir: Path, cbs: list[L.Callback], progress: bool) -> L.Trainer:
    """The Lightning trainer of a run: ``train.*`` settings, the run folder's loggers, ``cbs``, our checkpoint IO.

    Raises:
        ConfigError: Lightning refuses the accelerator, devices, strategy or precision (one line naming them).
    """
    t = cfg.train
    budget = None
    if t.max_time:
        from volo_adapt.duration import parse_duration

        budget = parse_duration(t.max_time, "train.max_time")  # Lightning's Timer callback stops the run
    # data.val_fraction 0 holds no samples out: no validation loop (Lightning would ask for the empty loader and warn
    # that its "total length across ranks is zero")
    val_kwargs: dict[str, Any] = {"limit_val_batches": t.val_batches if cfg.data.val_fraction > 0 else 0}
    if t.val_every_n_steps > 0:
        val_kwargs.update(val_check_interval=t.val_every_n_steps, check_val_every_n_epoch=None)
    try:
        return L.Trainer(
            accelerator=t.accelerator,
            devices=_devices(t.devices),
            num_nodes=t.num_nodes,
            strategy=lightning_strategy(cfg),
            precision=_precision(t.precision, t.accelerator),
            max_epochs=-1 if budget is not None else t.max_epochs,  # a time budget alone decides the length
            max_time=budget,
            max_steps=-1,  # batches are limited by BatchLimit (Lightning's max_steps counts optimiser steps)
            logger=make_loggers(cfg, run_dir) or False,
            callbacks=cbs,
            plugins=[AtomicCheckpointIO()],
            enable_checkpointing=False,  # RunCheckpoints writes the checkpoints
            enable_progress_bar=progress,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=t.log_every_n_steps,
            deterministic=t.deterministic,
            default_root_dir=str(run_dir),
            **val_kwargs,
        )
    except (ValueError, TypeError, MisconfigurationException) as e:  # Lightning judges these values: one line
        raise ConfigError(
            f"train.accelerator={t.accelerator!r}, train.devices={t.devices!r}, train.strategy={t.strategy!r}, "
            f"train.precision={t.precision!r}: refused by Lightning ({first_line(e)})"
        ) from e
