"""The library entry point of training: :func:`train` (what ``volo train`` wraps).

A run folder ``RUN_DIR`` holds::

    config.yaml                 resolved config (written at start, atomically)
    checkpoints/last.ckpt       always the newest state (periodic, end of training, interrupt, divergence)
    checkpoints/step_NNNNNNN.ckpt  every train.checkpoint_every_n_steps batches
    samples/step_NNNNNN.png     sample grids every train.sample_every_n_steps batches
    logs/tensorboard/, logs/csv/version_N/metrics.csv (one version per start or resume), or per train.logger
                                logs/wandb/ + wandb_run.json, logs/mlruns/ + mlflow_run.json (training/loggers.py)

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
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from volo_adapt.atomic import atomic_write_bytes, remove_leftover_partials
from volo_adapt.build import build_codec
from volo_adapt.config import RunConfig
from volo_adapt.data.workers import fork_with_stop_signals_blocked
from volo_adapt.directions import Direction, Domain
from volo_adapt.errors import CheckpointError, ConfigError, VoloError, first_line
from volo_adapt.training.callbacks import (
    BatchLimit,
    HealthMonitor,
    RunCheckpoints,
    SampleGrids,
    StartHook,
    StopOnSignal,
)
from volo_adapt.training.checkpoint import (
    check_resume_compatible,
    checkpoints_dir,
    choose_resume_checkpoint,
)
from volo_adapt.training.domain_births import ESTIMATED_RING_MODES
from volo_adapt.training.module import VoloGANModule
from volo_adapt.training.preemption import StopRequest, requeue_slurm_job, slurm_job_id, stop_signal_handlers
from volo_adapt.training.trainer_setup import lightning_strategy as _strategy  # noqa: F401 (tests import it here)
from volo_adapt.training.trainer_setup import make_trainer
from volo_adapt.training.training_sample import TrainingSamples

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
        keep_rates: with ``loss.return_rate_weight > 0``, the estimated share of the source's returns the target
            keeps per depth bin, one line (:func:`~volo_adapt.return_statistics.describe_keep_rates`); else None.
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
    keep_rates: str | None = None


def parameter_counts(module: VoloGANModule) -> dict[str, int]:
    """Trainable parameters of each trained network (EMA copies excluded: they are not trained)."""
    from volo_adapt.models import count_parameters

    names = [d.generator for d in Direction] + [d.critic for d in Domain]
    return {name: count_parameters(getattr(module, name)) for name in names}


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
    from volo_adapt.synth.demo_set import demo_splits

    demo = demo_splits(cfg.data.demo_size, cfg.data.demo_count)
    return [str(demo.train_a)], [str(demo.train_b)], str(demo.root)


def describe_run(trainer: L.Trainer, module: VoloGANModule, run_dir: Path, data: dict[str, list[str]]) -> dict:
    """Start-up facts for the summary table: sources and sample counts, model sizes, device, precision, run dir."""
    dm = trainer.datamodule
    domains = [d.value for d in Domain]
    counts: dict[str, str] = {}
    for d in domains:
        train_set = getattr(dm, "train_sets", {}).get(d)
        val_set = getattr(dm, "val_sets", {}).get(d)
        n_train = len(train_set) if train_set is not None else "?"
        n_val = len(val_set) if val_set is not None else 0
        counts[d] = f"{n_train} train / {n_val} val"
    skipped = len(getattr(dm, "skipped", []) or [])
    return {
        "run_dir": str(run_dir),
        "data": {d: {"sources": data[d], "samples": counts[d]} for d in domains},
        "skipped_bad_samples": skipped,
        "params": parameter_counts(module),
        "ema": module.ema_enabled,
        "device": f"{trainer.strategy.root_device} x{trainer.world_size} ({type(trainer.strategy).__name__})",
        "precision": str(trainer.precision),
        "step": module.step_choice.reason if module.splits_backward or not module.step_choice.split_backward
        else "one backward: the split needs one process and no checkpointing of shared weights",
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
        cfg: the resolved run config, validated where it was built (``load_config`` with the command line's
            values, ``RunConfig.with_overrides``) and not again here; frozen (the config actually used, with the
            demo set's or the resumed checkpoint's sources filled in, is ``TrainResult.config``).
        out_dir: the run folder (created).
        resume: None (fresh), ``"auto"`` (continue from ``RUN_DIR/checkpoints/last.ckpt``; if that is damaged,
            from the newest readable ``step_*.ckpt`` with a warning; with no checkpoint, start fresh and say so
            in ``notes``), or a checkpoint path.
        dry_run: build the networks and count parameters; read no data, write nothing.
        progress: show progress: Lightning's rich bar on a terminal, else plain lines on stderr
            (:mod:`volo_adapt.training.plain_progress`).
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


def _resume_checkpoint(run_dir: Path, resume: str | Path | None, notes: list[str]) -> Path | None:
    """The checkpoint to continue from (None: a fresh run); ``auto``'s warnings and remarks go to ``notes``.

    Raises:
        CheckpointError: an explicit ``resume`` path is not a file; with ``auto``, no checkpoint is readable.
    """
    if resume is None:
        return None
    if str(resume) == "auto":
        choice = choose_resume_checkpoint(run_dir)
        for w in choice.warnings:
            log.warning("warning: %s", w)
            notes.append(w)
        if choice.note:
            notes.append(choice.note)
        return choice.path
    path = Path(resume)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint (--resume)")
    return path


def _resume_data(cfg: RunConfig, ckpt_path: Path, notes: list[str]) -> RunConfig:
    """``cfg`` checked against the checkpoint's model; without data sources of its own, on the checkpoint's data.

    Raises:
        CheckpointError: the checkpoint is unreadable or from a different model config.
    """
    saved = check_resume_compatible(ckpt_path, cfg.to_dict()["model"])  # (native_cell_px is not among its keys)
    saved_sensor = saved.get("model", {}).get("sensor", {})  # estimates made when the run started hold on resume
    if cfg.model.sensor.native_grid == "auto":
        cfg = cfg.replace(model={"sensor": {"native_cell_px": float(saved_sensor.get("native_cell_px", 0.0))}})
    if cfg.model.sensor.pinholes == "auto":
        rates = [float(r) for r in saved_sensor.get("pinhole_rates", [])]
        cfg = cfg.replace(model={"sensor": {"pinhole_rates": rates}})
    if cfg.model.sensor.birth_rings in ESTIMATED_RING_MODES:
        counts = [int(n) for n in saved_sensor.get("birth_ring_counts", [])]
        powers = [[float(v) for v in p] for p in saved_sensor.get("birth_ring_powers", [])]
        cfg = cfg.replace(model={"sensor": {"birth_ring_counts": counts, "birth_ring_powers": powers}})
    if cfg.loss.geometry_region == "auto":
        estimate = str(saved.get("loss", {}).get("geometry_region_estimate", ""))
        cfg = cfg.replace(loss={"geometry_region_estimate": estimate})
    saved_data = saved.get("data", {})
    saved_a, saved_b = list(saved_data.get("data_a") or []), list(saved_data.get("data_b") or [])
    if not (cfg.data.data_a or cfg.data.data_b) and saved_a and saved_b:
        # resuming without data arguments continues on the run's own data, never silently on the demo set
        notes.append(f"resuming on the checkpoint's data: A {', '.join(saved_a)}; B {', '.join(saved_b)}")
        return cfg.replace(data={"data_a": saved_a, "data_b": saved_b})
    if (cfg.data.data_a, cfg.data.data_b) != (saved_a, saved_b):
        notes.append("resuming on different data than the checkpoint was trained on (fine-tuning)")
    return cfg


def _build_module(cfg: RunConfig) -> VoloGANModule:
    """The module of a run, its image size checked, with the in-training validation metrics attached."""
    module = VoloGANModule(cfg)
    _check_image_size(cfg, module)
    # in-training validation runs the same registered (cheap) metric functions as `volo eval`
    from volo_adapt.metrics.evaluate import make_val_metrics_fn

    module.val_metrics_fn = make_val_metrics_fn(module.codec)
    return module


@dataclass
class _RunCallbacks:
    """The callbacks of a run that :func:`train` reads back afterwards, and the full list for the trainer."""

    ckpts: RunCheckpoints
    samples: SampleGrids
    health: HealthMonitor
    all: list[L.Callback]


def _callbacks(cfg: RunConfig, run_dir: Path, progress: bool, start_hook: Callable[[L.Trainer, Any], None] | None,
               extra: list[L.Callback] | None, request: StopRequest) -> _RunCallbacks:
    """Batch limit, checkpoints, sample grids, health, progress bar, start hook, ``extra``, then the stop check."""
    t = cfg.train
    ckpts = RunCheckpoints(run_dir / "checkpoints", t.checkpoint_every_n_steps)
    samples = SampleGrids(run_dir / "samples", t.sample_every_n_steps)
    health = HealthMonitor()
    cbs: list[L.Callback] = [BatchLimit(t.max_steps), ckpts, samples, health]
    if progress:
        from volo_adapt.training.plain_progress import progress_callback

        cbs.append(progress_callback())  # rich bar on a terminal, plain lines in a log file or pipe
    if start_hook is not None:
        cbs.append(StartHook(start_hook))
    cbs.extend(extra or [])
    cbs.append(StopOnSignal(request, ckpts))  # last: the batch's samples and health logs come first
    return _RunCallbacks(ckpts, samples, health, cbs)


def _fit(trainer: L.Trainer, module: VoloGANModule, datamodule: Any, ckpt_path: Path | None) -> bool:
    """``trainer.fit``; True when a stop signal ended it (``last.ckpt`` then holds the last batch).

    Raises:
        CheckpointError: the resume checkpoint's state does not match this run.
    """
    # The EMA copies are kept in eval mode on purpose (never trained); Lightning would warn about them.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode at the start of training.*")
    try:
        with fork_with_stop_signals_blocked():  # DataLoader workers are born deaf to stop signals (data/workers.py)
            trainer.fit(module, datamodule=datamodule, ckpt_path=str(ckpt_path) if ckpt_path else None)
    except SIGTERMException:  # raised by StopOnSignal (or Lightning's own SIGTERM check) after last.ckpt is written
        return True
    except KeyError as e:
        if ckpt_path is not None:
            raise CheckpointError(f"{ckpt_path}: checkpoint does not match this run ({e})") from e
        raise
    except RuntimeError as e:
        if ckpt_path is not None and "state_dict" in str(e):
            raise CheckpointError(f"{ckpt_path}: checkpoint does not match this run ({first_line(e)})") from e
        raise
    return False


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
    ckpt_path = _resume_checkpoint(run_dir, resume, notes)
    if ckpt_path is not None:
        cfg = _resume_data(cfg, ckpt_path, notes)
    data_a, data_b, demo_root = resolve_data(cfg)
    if demo_root is not None:
        notes.append(f"no data given: training on the built-in demo set at {demo_root}")
        cfg = cfg.replace(data={"data_a": data_a, "data_b": data_b})
    if ckpt_path is None and cfg.model.sensor.native_grid == "auto":
        from volo_adapt.training.target_grid import estimate_target_cell

        found = estimate_target_cell(data_b, cfg.data.image_size)
        notes.append(found.note)
        cfg = cfg.replace(model={"sensor": {"native_cell_px": found.cell_px}})
    if ckpt_path is None:
        cfg = _estimate_from_domains(cfg, data_a, data_b, notes)
    if rank_zero_only.rank == 0:
        atomic_write_bytes(run_dir / "config.yaml", cfg.to_yaml().encode())

    from volo_adapt.data.datamodule import UnpairedRGBDDataModule

    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    datamodule = UnpairedRGBDDataModule.from_config(cfg.data, build_codec(cfg.data))
    module = _build_module(cfg)
    hook = None
    if on_start is not None:
        sources = {Domain.A.value: data_a, Domain.B.value: data_b}
        hook = lambda tr, m: on_start({**describe_run(tr, m, run_dir, sources), "notes": list(notes)})  # noqa: E731
    cbs = _callbacks(cfg, run_dir, progress, hook, callbacks, request)
    trainer = make_trainer(cfg, run_dir, cbs.all, progress)
    interrupted = _fit(trainer, module, datamodule, ckpt_path)
    return _result(cfg, run_dir, module, cbs, ckpt_path, request if interrupted else None, notes)


def _estimate_from_domains(cfg: RunConfig, data_a: list[str], data_b: list[str], notes: list[str]) -> RunConfig:
    """A fresh run's estimates from both domains' first training sources (``birth_rings``, ``geometry_region``,
    ``pinholes``: ``auto``), stored in the returned config; each adds its one-line note to ``notes``.

    They share one :class:`TrainingSamples`, largest read first (256, 128, 64 images), so each domain is decoded
    once; it is dropped on return (up to 1 GiB per domain at 512 px)."""
    samples = TrainingSamples(cfg.data)
    if cfg.model.sensor.birth_rings in ESTIMATED_RING_MODES:
        from volo_adapt.training.domain_births import estimate_birth_rings

        births = estimate_birth_rings(data_a, data_b, cfg.data, cfg.model.sensor.effective_reach(cfg.data.image_size),
                                      samples=samples, a2b_only=cfg.model.sensor.birth_rings == "auto_a2b")
        notes.append(births.note)
        cfg = cfg.replace(model={"sensor": {"birth_ring_counts": births.counts, "birth_ring_powers": births.powers}})
    if cfg.loss.geometry_region == "auto" and cfg.loss.geometry_weight > 0:
        from volo_adapt.training.domain_edges import estimate_geometry_region

        edges = estimate_geometry_region(data_a, data_b, cfg.data, samples=samples)
        notes.append(edges.note)
        cfg = cfg.replace(loss={"geometry_region_estimate": edges.region})
    if cfg.model.sensor.pinholes == "auto":
        from volo_adapt.training.domain_pinholes import estimate_domain_pinholes

        measured = estimate_domain_pinholes(data_a, data_b, cfg.data, samples=samples)
        notes.append(measured.note)
        cfg = cfg.replace(model={"sensor": {"pinhole_rates": measured.rates}})
    return cfg


def _result(cfg: RunConfig, run_dir: Path, module: VoloGANModule, cbs: _RunCallbacks, ckpt_path: Path | None,
            stopped_by: StopRequest | None, notes: list[str]) -> TrainResult:
    """The :class:`TrainResult` of a finished (or stopped) fit.

    Raises:
        VoloError: training diverged; the last good weights are in ``last.ckpt``.
    """
    ckpts = cbs.ckpts
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
        interrupted=stopped_by is not None,
        stop_signal=stopped_by.signal_name if stopped_by is not None else None,
        samples=list(cbs.samples.written),
        health=list(cbs.health.messages),
        skipped_steps=module.skipped_steps,
        module=module,
        notes=notes,
        keep_rates=_keep_rates(module),
    )


def _keep_rates(module: VoloGANModule) -> str | None:
    """The running keep-rate estimate of a translation into B, one line, or None without the return-rate term."""
    if module.return_reference is None:
        return None
    from volo_adapt.return_statistics import describe_keep_rates

    return describe_keep_rates(module.return_reference, module.codec.near, module.codec.far)
