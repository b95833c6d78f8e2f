"""Training callbacks: batch limit, checkpoints (periodic, last, on interrupt), stop on a signal, sample grids,
health checks.

All step counts here are *batches* (:attr:`VoloGANModule.batches_done`), not ``trainer.global_step``,
which Lightning advances once per optimiser step (twice per batch here).
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from volo_adapt.atomic import atomic_path
from volo_adapt.training.logger_images import log_image
from volo_adapt.training.samples import make_grid, save_png

log = logging.getLogger(__name__)


def ends_epoch(trainer: L.Trainer, batch_idx: int) -> bool:
    """True in ``on_train_batch_end`` of an epoch's last batch.

    No checkpoint is written there: Lightning 2.6, resuming from a checkpoint saved at that moment, finishes the
    epoch but then skips the next epoch's start (``on_train_epoch_start`` and its epoch-progress counters), so every
    checkpoint written after that resume is off by one epoch, and a second resume from one of them continues with the
    wrong epoch (learning-rate schedule, sampler epoch): the weights drift from an uninterrupted run's. That
    checkpoint is written in ``on_train_epoch_end`` instead, after the epoch's validation, which resumes exactly
    (``benchmarks/soak_resume.py`` and ``tests/training/test_run.py`` check both).
    """
    n = trainer.num_training_batches
    return isinstance(n, int) and batch_idx + 1 >= n


class BatchLimit(L.Callback):
    """Stop after ``max_batches`` training batches (``train.max_steps``; -1 = no limit).

    Lightning's own ``max_steps`` counts optimiser steps; counting batches here keeps ``--max-steps N``
    meaning N batches whatever the number of optimisers or skipped steps.
    """

    def __init__(self, max_batches: int) -> None:
        self.max_batches = max_batches

    def _stop_when_reached(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.max_batches > 0 and pl_module.batches_done >= self.max_batches:
            trainer.should_stop = True

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        # a run resumed from a checkpoint that already holds max_batches (killed after its last batch, before it
        # exited) must not train one batch more: the fit loop checks should_stop before its first epoch
        self._stop_when_reached(trainer, pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        self._stop_when_reached(trainer, pl_module)


class RunCheckpoints(L.Callback):
    """``checkpoints/last.ckpt`` plus a periodic ``checkpoints/step_NNNNNNN.ckpt`` every ``every_n`` batches.

    ``last.ckpt`` is refreshed with every periodic checkpoint, at the end of training, and when training is
    stopped by a signal (SIGTERM, Ctrl-C, SIGUSR1: see :class:`StopOnSignal`) or on divergence. Writes go through
    the trainer's CheckpointIO (:class:`~volo_adapt.training.checkpoint.AtomicCheckpointIO`: temp file, fsync,
    rename), so an interrupted write leaves the previous file intact.

    Args:
        ckpt_dir: ``RUN_DIR/checkpoints``.
        every_n: periodic interval in batches (0 = only ``last.ckpt``).
    """

    def __init__(self, ckpt_dir: str | Path, every_n: int) -> None:
        self.ckpt_dir = Path(ckpt_dir)
        self.every_n = every_n
        self.last_saved_batch = -1
        self.start_batch: int | None = None
        self.saved: list[Path] = []

    @property
    def last_path(self) -> Path:
        return self.ckpt_dir / "last.ckpt"

    def save_last(self, trainer: L.Trainer, pl_module: Any) -> None:
        """Write ``last.ckpt`` unless it already holds this batch (so a stop writes it once)."""
        if pl_module.batches_done == self.last_saved_batch and self.last_path.exists():
            return
        trainer.save_checkpoint(self.last_path, weights_only=False)
        self.last_saved_batch = pl_module.batches_done

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.start_batch = pl_module.batches_done  # after a resume: the checkpoint's batch

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        n = pl_module.batches_done
        if self.every_n > 0 and n % self.every_n == 0 and not ends_epoch(trainer, batch_idx):
            self._save_periodic(trainer, n)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        n = pl_module.batches_done
        if self.every_n > 0 and n % self.every_n == 0 and n != self.last_saved_batch:
            self._save_periodic(trainer, n)  # the periodic checkpoint that fell on the epoch's last batch

    def _save_periodic(self, trainer: L.Trainer, n: int) -> None:
        path = self.ckpt_dir / f"step_{n:07d}.ckpt"
        trainer.save_checkpoint(path, weights_only=False)
        if trainer.is_global_zero:
            with atomic_path(self.last_path) as tmp:
                shutil.copyfile(path, tmp)
        trainer.strategy.barrier("volo_last_ckpt")
        self.last_saved_batch = n
        self.saved.append(path)

    def on_train_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.save_last(trainer, pl_module)

    def on_exception(self, trainer: L.Trainer, pl_module: Any, exception: BaseException) -> None:
        # SIGTERMException comes at a batch boundary (StopOnSignal, or Lightning's own SIGTERM check), so the state
        # is consistent. A KeyboardInterrupt (the second Ctrl-C: abort now) can land half-way through a batch, after
        # the generator step and before the critic step: writing that would break exact resumption, so last.ckpt
        # keeps the last complete state instead.
        if not isinstance(exception, SIGTERMException):
            return
        if self.start_batch is None or pl_module.batches_done == self.start_batch:
            return  # stopped before the first batch: nothing new to keep (a resumed run's checkpoint is on disk)
        if pl_module.batches_done != self.last_saved_batch:
            log.warning("interrupted: writing %s", self.last_path)
        self.save_last(trainer, pl_module)


class StopOnSignal(L.Callback):
    """End training at the next batch boundary once a stop signal was recorded (see
    :mod:`volo_adapt.training.preemption`): write ``last.ckpt`` (once, atomically, through ``checkpoints``), then
    raise Lightning's ``SIGTERMException``, which takes Lightning's interrupt path and which
    :func:`~volo_adapt.training.run.train` turns into ``interrupted=True``.

    Checked after every training batch (before that batch's validation, so the checkpoint is not delayed by it),
    except the last of an epoch, where the check waits for ``on_train_epoch_end`` (after the epoch's validation: see
    :func:`ends_epoch`), and when training starts (a signal during the data check stops before the first batch).
    Validation is not cut short: a checkpoint written half-way through it would resume the same way. Under DDP the
    ranks agree with ``strategy.reduce_boolean_decision``, so all stop at the same batch.

    Args:
        request: the :class:`~volo_adapt.training.preemption.StopRequest` the signal handler fills in.
        checkpoints: the run's :class:`RunCheckpoints`.
    """

    def __init__(self, request: Any, checkpoints: RunCheckpoints) -> None:
        self.request = request
        self.checkpoints = checkpoints

    def _stop_requested(self, trainer: L.Trainer) -> bool:
        return bool(trainer.strategy.reduce_boolean_decision(self.request.pending, all=False))

    def _stop(self, trainer: L.Trainer, pl_module: Any) -> None:
        if pl_module.batches_done != self.checkpoints.start_batch:
            self.checkpoints.save_last(trainer, pl_module)
        raise SIGTERMException

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        self.request.take_over()  # replace the SIGTERM handler Lightning installed in fit (see preemption.py)
        if self._stop_requested(trainer):
            raise SIGTERMException

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if not ends_epoch(trainer, batch_idx) and self._stop_requested(trainer):
            self._stop(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self._stop_requested(trainer):
            self._stop(trainer, pl_module)


class SampleGrids(L.Callback):
    """Every ``every_n`` batches, translate the current batch and write a grid (PNG + an image in each logger).

    PNG: ``RUN_DIR/samples/step_NNNNNN.png`` (atomic write). Loggers: image ``samples`` at step = batches.
    Uses the live generators in eval mode (no dropout), on rank 0 only.

    Args:
        out_dir: ``RUN_DIR/samples``.
        every_n: interval in batches (0 = off).
        max_items: examples per grid.
    """

    def __init__(self, out_dir: str | Path, every_n: int, max_items: int = 4) -> None:
        self.out_dir = Path(out_dir)
        self.every_n = every_n
        self.max_items = max_items
        self.written: list[Path] = []

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        n = pl_module.batches_done
        if self.every_n <= 0 or n % self.every_n != 0 or not trainer.is_global_zero:
            return
        self.write(trainer, pl_module, batch, n)

    def write(self, trainer: L.Trainer, pl_module: Any, batch: dict, step: int) -> Path:
        real_a, real_b = batch["A"][: self.max_items], batch["B"][: self.max_items]
        modes = [m.training for m in (pl_module.gen_a2b, pl_module.gen_b2a)]
        pl_module.gen_a2b.eval()
        pl_module.gen_b2a.eval()
        try:
            out = pl_module.translate_both_ways(real_a, real_b)
        finally:
            pl_module.gen_a2b.train(modes[0])
            pl_module.gen_b2a.train(modes[1])
        grid = make_grid({"real_A": real_a, "real_B": real_b, **out}, pl_module.codec, self.max_items)
        path = save_png(grid, self.out_dir / f"step_{step:06d}.png")
        self.written.append(path)
        log_image(trainer.loggers, "samples", grid, step)  # TensorBoard, wandb, MLflow (logger_images.py)
        return path


class HealthMonitor(L.Callback):
    """Watch for the two classic failure modes and say so in the logs (``health/...``) and once as a warning.

    * critic wins: a critic's loss, smoothed (EMA 0.98), stays below ``critic_floor`` after ``warmup`` batches;
      the generator then gets no useful gradient (``health/critic_A_stuck``, ``health/critic_B_stuck``).
    * collapse: translated images have (almost) no variation: per-batch pixel std below ``std_floor``, or,
      with batch > 1, every input mapped to the same output (``health/collapse``); judged only where the inputs had
      that variation (``source_std_*``, ``source_batch_spread`` when the module reports them).

    These are heuristics (thresholds chosen for the lsgan loss on [0, 1] images), meant to tell "stuck"
    from "slow" early; they never stop training.

    Args:
        warmup: batches before any verdict.
        critic_floor: smoothed critic loss below which the critic is considered to have won.
        std_floor: fakes' std below which the generator is considered collapsed.
        collapse_patience: consecutive collapsed batches before the warning (a single blank batch is normal for
            a range-limited sensor: a subject beyond its range gives no return, and the translation of such a scene
            is rightly blank).
        warn: called with a one-line message the first time each condition fires (default: ``logging``).
    """

    def __init__(
        self,
        warmup: int = 100,
        critic_floor: float = 1e-3,
        std_floor: float = 1e-3,
        collapse_patience: int = 10,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.warmup = warmup
        self.critic_floor = critic_floor
        self.std_floor = std_floor
        self.collapse_patience = collapse_patience
        self.collapsed_run = 0
        self.warn = warn or log.warning
        self.ema: dict[str, float] = {}
        self.fired: set[str] = set()
        self.messages: list[str] = []

    def _fire(self, key: str, message: str) -> None:
        if key not in self.fired:
            self.fired.add(key)
            self.messages.append(message)
            self.warn(message)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        stats = dict(pl_module.last_stats)
        if not stats:
            return
        for k in ("d_loss_A", "d_loss_B"):
            v = stats[k]
            self.ema[k] = v if k not in self.ema else 0.98 * self.ema[k] + 0.02 * v
        n = pl_module.batches_done
        flags = {"health/critic_A_stuck": 0.0, "health/critic_B_stuck": 0.0, "health/collapse": 0.0}
        if n >= self.warmup:
            for d in ("A", "B"):
                if self.ema[f"d_loss_{d}"] < self.critic_floor:
                    flags[f"health/critic_{d}_stuck"] = 1.0
                    self._fire(
                        f"critic_{d}",
                        f"health: critic_{d.lower()} loss stuck near 0 (smoothed {self.ema[f'd_loss_{d}']:.2e} at "
                        f"batch {n}): the critic wins and the generator gets little signal",
                    )
            spread = stats.get("fake_batch_spread")
            # only variation the inputs had counts: inputs without any return (a ToF subject beyond its range)
            # translate to blank images under validity "depth", from a healthy generator
            had = {d: stats.get(f"source_std_{d}", math.inf) >= self.std_floor for d in ("A", "B")}
            low = min([stats[f"fake_std_{d}"] for d in ("A", "B") if had[d]], default=math.inf)
            if stats.get("source_batch_spread", math.inf) < self.std_floor:
                spread = None
            collapsed = low < self.std_floor or (spread is not None and spread < self.std_floor)
            self.collapsed_run = self.collapsed_run + 1 if collapsed else 0
            flags["health/collapse"] = float(collapsed)
            if self.collapsed_run >= self.collapse_patience:
                self._fire(
                    "collapse",
                    f"health: generator collapse suspected at batch {n} ({self.collapsed_run} batches in a row; "
                    f"fakes' std {low:.2e}"
                    + (f", spread across batch {spread:.2e}" if spread is not None else "")
                    + ")",
                )
        logs = {f"health/{k}": v for k, v in stats.items()}
        logs.update({f"health/{k}_ema": v for k, v in self.ema.items()})
        logs.update(flags)
        pl_module.log_dict(logs, on_step=True, on_epoch=False, batch_size=1)


class StartHook(L.Callback):
    """Call ``fn(trainer, pl_module)`` once when training starts (rank 0), e.g. to print a summary table."""

    def __init__(self, fn: Callable[[L.Trainer, Any], None]) -> None:
        self.fn = fn

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.fn(trainer, pl_module)
