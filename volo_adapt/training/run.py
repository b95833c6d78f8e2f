"""The library entry point of training: :func:`train` (what ``volo train`` wraps).

A run folder ``RUN_DIR`` holds::

    config.yaml                 resolved config (written at start, atomically)
    checkpoints/last.ckpt       always the newest state (periodic, end of training, interrupt, divergence)
    checkpoints/step_NNNNNNN.ckpt  every train.checkpoint_every_n_steps batches
    samples/step_NNNNNN.png     sample grids every train.sample_every_n_steps batches
    logs/tensorboard/, logs/csv/version_N/metrics.csv (one version per start or resume)

Step counts (``max_steps``, checkpoint and sample intervals) are in **batches**; Lightning's
``trainer.global_step`` counts optimiser steps (two per batch here) and is not used for them.

Stopping: SIGTERM, SIGINT (Ctrl-C) and SIGUSR1, to this process or its whole process group, end the run after the
current batch with ``last.ckpt`` written, and :func:`train` returns ``interrupted=True`` (``volo train`` exits 0).
After SIGUSR1 inside a SLURM job the job is requeued (``scontrol requeue``). See
:mod:`volo_adapt.training.preemption`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from volo_adapt.atomic import atomic_write_bytes, remove_leftover_partials
from volo_adapt.build import build_codec
from volo_adapt.config import RunConfig, validate
from volo_adapt.data.workers import fork_with_stop_signals_blocked
from volo_adapt.errors import CheckpointError, ConfigError, VoloError
from volo_adapt.training.callbacks import (
    BatchLimit,
    HealthMonitor,
    RunCheckpoints,
    SampleGrids,
    StartHook,
    StopOnSignal,
)
from volo_adapt.training.checkpoint import (
    AtomicCheckpointIO,
    check_resume_compatible,
    checkpoints_dir,
    choose_resume_checkpoint,
)
from volo_adapt.training.module import VoloGANModule
from volo_adapt.training.preemption import StopRequest, requeue_slurm_job, slurm_job_id, stop_signal_handlers

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a call to :func:`train` did.

    Attributes:
        run_dir: the run folder.
        config: the resolved config the run used.
        param_counts: trainable parameters per network (``gen_a2b``, ``gen_b2a``, ``critic_a``, ``critic_b``).
        dry_run: True when nothing was trained.
        batches_done: training batches completed (including those before a resume).
        last_checkpoint: ``RUN_DIR/checkpoints/last.ckpt`` when written.
        resumed_from: the checkpoint the run continued from, if any.
        interrupted: stopped by a signal (SIGTERM, Ctrl-C, SIGUSR1); ``last.ckpt`` holds the last batch.
        stop_signal: the signal that stopped the run (``"SIGTERM"``, ``"SIGINT"``, ``"SIGUSR1"``), else None.
        requeue: after SIGUSR1 in a SLURM job, the one-line outcome of ``scontrol requeue``; else None.
        samples: sample-grid PNGs written by this call.
        health: one-line health warnings raised during the run.
        skipped_steps: optimiser steps skipped for non-finite values.
        module: the trained LightningModule (None for a dry run).
        notes: human-readable remarks (e.g. "no checkpoint, starting fresh").
    """

    run_dir: Path
    config: RunConfig
    param_counts: dict[str, int]
    dry_run: bool = False
    batches_done: int = 0
    last_checkpoint: Path | None = None
    resumed_from: Path | None = None
    interrupted: bool = False
    stop_signal: str | None = None
    requeue: str | None = None
    samples: list[Path] = field(default_factory=list)
    health: list[str] = field(default_factory=list)
    skipped_steps: int = 0
    module: VoloGANModule | None = None
    notes: list[str] = field(default_factory=list)


def parameter_counts(module: VoloGANModule) -> dict[str, int]:
    """Trainable parameters of each trained network (EMA copies excluded: they are not trained)."""
    from volo_adapt.models import count_parameters

    return {name: count_parameters(getattr(module, name)) for name in ("gen_a2b", "gen_b2a", "critic_a", "critic_b")}


def resolve_data(cfg: RunConfig, allow_generate: bool = True) -> tuple[list[str], list[str], str | None]:
    """The two domains' sources: the config's, or the built-in demo set's training splits when both are empty.

    Returns:
        ``(data_a, data_b, demo_root)``; ``demo_root`` is None when the config names the data.

    Raises:
        ConfigError: exactly one domain is given.
    """
    a, b = list(cfg.data.data_a), list(cfg.data.data_b)
    if a and b:
        return a, b, None
    if a or b:
        missing = "data.data_b (--data-b)" if a else "data.data_a (--data-a)"
        raise ConfigError(f"{missing}: no sources given for this domain (give both domains, or neither for the demo)")
    if not allow_generate:
        return ["<built-in demo: A/train>"], ["<built-in demo: B/train>"], "<built-in demo>"
    from volo_adapt.synth.demo_set import ensure_demo_dataset

    root = Path(ensure_demo_dataset(size=cfg.data.demo_size, n_train=cfg.data.demo_count, seed=0))
    return [str(root / "A" / "train")], [str(root / "B" / "train")], str(root)


def _multi_device(cfg: RunConfig) -> bool:
    d = _devices(cfg.train.devices)
    if isinstance(d, int):
        return d > 1 or (d == -1 and cfg.train.accelerator != "cpu" and torch.cuda.device_count() > 1)
    if d == "auto":
        return cfg.train.accelerator in ("auto", "gpu", "cuda") and torch.cuda.device_count() > 1
    return len([x for x in str(d).split(",") if x.strip()]) > 1


def _strategy(cfg: RunConfig) -> str:
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


def _loggers(cfg: RunConfig, run_dir: Path) -> list[Any]:
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    kind = cfg.train.logger
    out: list[Any] = []
    if kind == "tensorboard":
        out.append(TensorBoardLogger(save_dir=str(run_dir / "logs"), name="", version="tensorboard",
                                     default_hp_metric=False))
    if kind in ("tensorboard", "csv"):  # the CSV log is always kept next to TensorBoard: easy to script
        # logs/csv/version_N/metrics.csv: a resumed run gets a new version (CSVLogger would overwrite the old file)
        out.append(CSVLogger(save_dir=str(run_dir / "logs"), name="csv"))
    return out


def describe_run(trainer: L.Trainer, module: VoloGANModule, run_dir: Path, data: dict[str, list[str]]) -> dict:
    """Start-up facts for the summary table: sources and sample counts, model sizes, device, precision, run dir."""
    dm = trainer.datamodule
    counts: dict[str, str] = {}
    for d in ("A", "B"):
        train_set = getattr(dm, "train_sets", {}).get(d)
        val_set = getattr(dm, "val_sets", {}).get(d)
        n_train = len(train_set) if train_set is not None else "?"
        n_val = len(val_set) if val_set is not None else 0
        counts[d] = f"{n_train} train / {n_val} val"
    skipped = len(getattr(dm, "skipped", []) or [])
    return {
        "run_dir": str(run_dir),
        "data": {d: {"sources": data[d], "samples": counts[d]} for d in ("A", "B")},
        "skipped_bad_samples": skipped,
        "params": parameter_counts(module),
        "ema": module.ema_enabled,
        "device": f"{trainer.strategy.root_device} x{trainer.world_size} ({type(trainer.strategy).__name__})",
        "precision": str(trainer.precision),
        "batches_per_epoch": trainer.num_training_batches,
        "planned_batches": module.planned_batches,
        "resumed_at_batch": module.batches_done,
    }


def _check_image_size(cfg: RunConfig, module: VoloGANModule) -> None:
    """Refuse a crop size the generator cannot take (it would fail at the first batch with a traceback)."""
    gen = module.gen_a2b
    multiple, smallest = int(getattr(gen, "size_multiple", 1)), int(getattr(gen, "min_size", 1))
    size = cfg.data.image_size
    if size % multiple or size < smallest:
        raise ConfigError(
            f"data.image_size: {size} does not fit generator {cfg.model.generator!r} "
            f"(gen_kwargs {cfg.model.gen_kwargs}): it needs a multiple of {multiple}, at least {smallest}"
        )


def _make_trainer(cfg: RunConfig, run_dir: Path, cbs: list[L.Callback], progress: bool, val_kwargs: dict) -> L.Trainer:
    t = cfg.train
    budget = None
    if t.max_time:
        from volo_adapt.duration import parse_duration

        budget = parse_duration(t.max_time, "train.max_time")  # Lightning's Timer callback stops the run
    return L.Trainer(
        accelerator=t.accelerator,
        devices=_devices(t.devices),
        num_nodes=t.num_nodes,
        strategy=_strategy(cfg),
        precision=_precision(t.precision, t.accelerator),
        max_epochs=-1 if budget is not None else t.max_epochs,  # a time budget alone decides the length
        max_time=budget,
        max_steps=-1,  # batches are limited by BatchLimit (Lightning's max_steps counts optimiser steps)
        logger=_loggers(cfg, run_dir) or False,
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


def train(
    cfg: RunConfig,
    out_dir: str | Path,
    resume: str | Path | None = None,
    dry_run: bool = False,
    progress: bool = True,
    on_start: Callable[[dict], None] | None = None,
    callbacks: list[L.Callback] | None = None,
) -> TrainResult:
    """Train (or, with ``dry_run``, only build and count) a VoloGAN/CycleGAN model.

    Args:
        cfg: the resolved run config (``load_config(...)`` plus any command-line changes); not modified (the
            config actually used, with the demo set's paths filled in, is ``TrainResult.config``).
        out_dir: the run folder (created).
        resume: None (fresh), ``"auto"`` (continue from ``RUN_DIR/checkpoints/last.ckpt``; if that is damaged,
            from the newest readable ``step_*.ckpt`` with a warning; with no checkpoint, start fresh and say so
            in ``notes``), or a checkpoint path.
        dry_run: build the networks and count parameters; read no data, write nothing.
        progress: show Lightning's rich progress bar.
        on_start: called on rank 0 with :func:`describe_run`'s dict (plus ``notes``) when training starts.
        callbacks: extra Lightning callbacks.

    Returns:
        A :class:`TrainResult` (``interrupted=True`` after a stop signal: see the module docstring).

    Raises:
        ConfigError: invalid config / data arguments.
        CheckpointError: the resume checkpoint is missing, unreadable, or from a different model config; with
            ``resume="auto"``, no checkpoint of the run is readable.
        VoloError: training diverged (non-finite values ``train.max_bad_steps`` batches in a row); the last
            good state is in ``last.ckpt``.
    """
    validate(cfg)
    cfg = RunConfig.from_dict(cfg.to_dict())  # a private copy: the demo data paths are filled in below
    run_dir = Path(out_dir)
    if dry_run:
        torch.manual_seed(cfg.train.seed)
        module = VoloGANModule(cfg)
        return TrainResult(run_dir=run_dir, config=cfg, param_counts=parameter_counts(module), dry_run=True)
    # installed before anything slow (data checks can take minutes): a stop signal is recorded from the start
    with stop_signal_handlers(StopRequest()) as request:
        result = _train(cfg, run_dir, resume, progress, on_start, callbacks, request)
    if result.stop_signal == "SIGUSR1" and rank_zero_only.rank == 0 and (job := slurm_job_id()) is not None:
        result.requeue = requeue_slurm_job(job)
    return result


def _remove_leftover_partials(run_dir: Path) -> list[str]:
    """Rank 0: delete what writers killed mid-write left in the run folder (see ``remove_leftover_partials``)."""
    if rank_zero_only.rank != 0:
        return []
    removed = [p for d in (run_dir, checkpoints_dir(run_dir), run_dir / "samples") for p in remove_leftover_partials(d)]
    return [f"removed {len(removed)} partial file(s) a crash left behind: {', '.join(p.name for p in removed)}"] \
        if removed else []


def _train(
    cfg: RunConfig,
    run_dir: Path,
    resume: str | Path | None,
    progress: bool,
    on_start: Callable[[dict], None] | None,
    callbacks: list[L.Callback] | None,
    request: StopRequest,
) -> TrainResult:
    """:func:`train` after the dry-run case, with the stop-signal handlers in place."""
    notes: list[str] = _remove_leftover_partials(run_dir)
    ckpt_path: Path | None = None
    if resume is not None and str(resume) == "auto":
        choice = choose_resume_checkpoint(run_dir)
        ckpt_path = choice.path
        for w in choice.warnings:
            log.warning("warning: %s", w)
            notes.append(w)
        if choice.note:
            notes.append(choice.note)
    elif resume is not None:
        ckpt_path = Path(resume)
        if not ckpt_path.is_file():
            raise CheckpointError(f"{ckpt_path}: no such checkpoint (--resume)")
    if ckpt_path is not None:
        saved_data = check_resume_compatible(ckpt_path, cfg.to_dict()["model"]).get("data", {})
        saved_a, saved_b = list(saved_data.get("data_a") or []), list(saved_data.get("data_b") or [])
        if not (cfg.data.data_a or cfg.data.data_b) and saved_a and saved_b:
            # resuming without data arguments continues on the run's own data, never silently on the demo set
            cfg.data.data_a, cfg.data.data_b = saved_a, saved_b
            notes.append(f"resuming on the checkpoint's data: A {', '.join(saved_a)}; B {', '.join(saved_b)}")
        elif (cfg.data.data_a, cfg.data.data_b) != (saved_a, saved_b):
            notes.append("resuming on different data than the checkpoint was trained on (fine-tuning)")

    data_a, data_b, demo_root = resolve_data(cfg)
    if demo_root is not None:
        notes.append(f"no data given: training on the built-in demo set at {demo_root}")
        cfg.data.data_a, cfg.data.data_b = data_a, data_b
        validate(cfg)
    if rank_zero_only.rank == 0:
        atomic_write_bytes(run_dir / "config.yaml", cfg.to_yaml().encode())

    from volo_adapt.data.datamodule import UnpairedRGBDDataModule

    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    datamodule = UnpairedRGBDDataModule.from_config(cfg.data, build_codec(cfg.data))
    module = VoloGANModule(cfg)
    _check_image_size(cfg, module)
    # in-training validation runs the same registered (cheap) metric functions as `volo eval`
    from volo_adapt.metrics.evaluate import make_val_metrics_fn

    module.val_metrics_fn = make_val_metrics_fn(module.codec)
    t = cfg.train
    ckpts = RunCheckpoints(run_dir / "checkpoints", t.checkpoint_every_n_steps)
    samples = SampleGrids(run_dir / "samples", t.sample_every_n_steps)
    health = HealthMonitor()
    cbs: list[L.Callback] = [BatchLimit(t.max_steps), ckpts, samples, health]
    if progress:
        from lightning.pytorch.callbacks import RichProgressBar

        cbs.append(RichProgressBar())
    if on_start is not None:
        cbs.append(StartHook(lambda tr, m: on_start(
            {**describe_run(tr, m, run_dir, {"A": data_a, "B": data_b}), "notes": list(notes)})))
    cbs.extend(callbacks or [])
    cbs.append(StopOnSignal(request, ckpts))  # last: the batch's samples and health logs come first

    val_kwargs: dict[str, Any] = {"limit_val_batches": t.val_batches}
    if t.val_every_n_steps > 0:
        val_kwargs.update(val_check_interval=t.val_every_n_steps, check_val_every_n_epoch=None)
    try:
        trainer = _make_trainer(cfg, run_dir, cbs, progress, val_kwargs)
    except (ValueError, TypeError, MisconfigurationException) as e:  # Lightning judges these values: one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(
            f"train.accelerator={t.accelerator!r}, train.devices={t.devices!r}, train.strategy={t.strategy!r}, "
            f"train.precision={t.precision!r}: refused by Lightning ({first})"
        ) from e
    # The EMA copies are kept in eval mode on purpose (never trained); Lightning would warn about them.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
    interrupted = False
    try:
        with fork_with_stop_signals_blocked():  # DataLoader workers are born deaf to stop signals (data/workers.py)
            trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_path) if ckpt_path else None)
    except SIGTERMException:  # raised by StopOnSignal (or Lightning's own SIGTERM check) after last.ckpt is written
        interrupted = True
    except KeyError as e:
        if ckpt_path is not None:
            raise CheckpointError(f"{ckpt_path}: checkpoint does not match this run ({e})") from e
        raise
    except RuntimeError as e:
        if ckpt_path is not None and "state_dict" in str(e):
            first = str(e).strip().splitlines()[0]
            raise CheckpointError(f"{ckpt_path}: checkpoint does not match this run ({first})") from e
        raise

    last = ckpts.last_path if ckpts.last_path.is_file() else None
    if module.diverged:
        raise VoloError(
            f"training diverged: {module.bad_in_row} batches in a row had non-finite losses or gradients "
            f"(at batch {module.batches_done}); the last good weights are in {last or ckpts.last_path} "
            "(try a lower learning rate, optim.grad_clip, or precision 32-true)"
        )
    return TrainResult(
        run_dir=run_dir,
        config=cfg,
        param_counts=parameter_counts(module),
        batches_done=module.batches_done,
        last_checkpoint=last,
        resumed_from=ckpt_path,
        interrupted=interrupted,
        stop_signal=request.signal_name if interrupted else None,
        samples=list(samples.written),
        health=list(health.messages),
        skipped_steps=module.skipped_steps,
        module=module,
        notes=notes,
    )
