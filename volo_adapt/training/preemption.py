"""Stop signals during training: SIGTERM, SIGINT (Ctrl-C) and SIGUSR1 end the run at the next batch boundary with
``last.ckpt`` written, and SIGUSR1 under SLURM also requeues the job.

How a stop works:

1. :func:`stop_signal_handlers` installs one handler for the three signals in the main process, for the whole of
   :func:`~volo_adapt.training.run.train` (data checks included). The handler only records the request
   (:class:`StopRequest`): nothing is written from inside a signal handler, where the weights may be half-way
   through an optimiser step.
2. :class:`~volo_adapt.training.callbacks.StopOnSignal` looks at the request after every training (and validation)
   batch; under DDP the ranks agree through ``strategy.reduce_boolean_decision`` so that all of them stop at the
   same batch. It writes ``last.ckpt`` once, through the run's checkpoint machinery (atomic), then raises
   Lightning's own ``SIGTERMException``, so Lightning's usual interrupt path tears the run down (loggers, data
   workers) and :func:`~volo_adapt.training.run.train` returns normally with ``interrupted=True``.
3. DataLoader workers ignore the three signals, from the moment they are forked (:mod:`volo_adapt.data.workers`;
   SIGTERM from their parent still ends them): schedulers, ``timeout``, ``docker stop`` and SLURM signal the whole
   process group, and a worker killed by SIGTERM made the main process die with ``RuntimeError: DataLoader worker
   (pid N) is killed by signal: Terminated`` before it could save.

Why not Lightning's mechanisms alone: Lightning's SIGTERM handling (``trainer.received_sigterm``) knows nothing of
SIGINT or SIGUSR1, and it raises half-way through a validation and right after an epoch's last batch: Lightning 2.6
does not resume exactly from checkpoints written at those moments (the epoch counter ends up one behind after a
second resume, see :func:`volo_adapt.training.callbacks.ends_epoch`). So while training runs, our handler replaces
the one Lightning installs at the start of ``fit`` (:meth:`StopRequest.take_over`, called from
``StopOnSignal.on_train_start``; Lightning puts ours back at teardown), and only the batch-boundary check above
stops. DDP needs nothing from Lightning's handler either: the ranks agree at every check. Lightning's SLURM plugin
(``SLURMEnvironment(auto_requeue=True)``) saves ``hpc_ckpt_N.ckpt`` from *inside* the signal handler (mid-batch,
possibly between the generator and critic steps), into a file ``--resume auto`` does not read, and keeps training;
our SIGUSR1 handler comes first, so Lightning leaves SIGUSR1 alone. The requeue itself is the same call Lightning
makes (``scontrol requeue JOB``), done here after the checkpoint is on disk.

A second Ctrl-C aborts at once (``KeyboardInterrupt``), for a user who does not want to wait for the batch; it
writes nothing, since it may land half-way through a batch, so ``last.ckpt`` keeps the last complete state.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["STOP_SIGNALS", "StopRequest", "requeue_slurm_job", "slurm_job_id", "stop_signal_handlers"]

log = logging.getLogger(__name__)

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
"""Signals that stop training with a checkpoint (SIGUSR1: SLURM's warning before the time limit)."""


@dataclass
class StopRequest:
    """What the signal handler recorded.

    Attributes:
        signal_name: the first stop signal received (``"SIGTERM"``, ``"SIGINT"``, ``"SIGUSR1"``), None if none.
        count: stop signals received so far.
    """

    signal_name: str | None = None
    count: int = 0
    handler: Any = None
    """The installed handler (set by :func:`stop_signal_handlers`), for :meth:`take_over`."""

    @property
    def pending(self) -> bool:
        """True once any stop signal has arrived."""
        return self.signal_name is not None

    def take_over(self) -> None:
        """Install our handler again for the three signals (over the one Lightning installs in ``fit``); no-op
        outside the main thread or before :func:`stop_signal_handlers`."""
        if self.handler is not None and threading.current_thread() is threading.main_thread():
            for s in STOP_SIGNALS:
                signal.signal(s, self.handler)


_WHAT = {
    "SIGTERM": "SIGTERM (preemption / termination)",
    "SIGINT": "Ctrl-C (SIGINT)",
    "SIGUSR1": "SIGUSR1 (SLURM: time limit near)",
}


@contextlib.contextmanager
def stop_signal_handlers(request: StopRequest) -> Iterator[StopRequest]:
    """Record SIGTERM, SIGINT and SIGUSR1 in ``request`` for the duration of the block, then restore the handlers.

    Only the main thread can install handlers; elsewhere (a training call from a worker thread) the block runs
    without them and the process keeps its own signal behaviour.
    """
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        request.count += 1
        if request.signal_name is None:
            request.signal_name = name
            again = " (Ctrl-C again to abort)" if name == "SIGINT" else ""
            log.warning("%s: stopping after the current batch and writing last.ckpt%s", _WHAT[name], again)
        elif name == "SIGINT" and request.signal_name == "SIGINT":
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        # a repeated SIGTERM / SIGUSR1 (schedulers repeat them) changes nothing: the stop is already under way

    request.handler = handler
    request.take_over()
    try:
        yield request
    finally:
        request.handler = None
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def slurm_job_id() -> str | None:
    """The SLURM job to requeue (``ARRAYJOB_TASK`` for array jobs, as Lightning does), or None outside SLURM."""
    array_job, array_task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and array_task:
        return f"{array_job}_{array_task}"
    return os.environ.get("SLURM_JOB_ID") or None


def requeue_slurm_job(job_id: str, timeout_s: float = 60.0) -> str:
    """Run ``scontrol requeue JOB_ID`` and describe the outcome in one line (never raises).

    SLURM then ends this allocation and starts the job again later; the job script's ``volo train ...
    --resume auto`` continues from the checkpoint just written.
    """
    try:
        proc = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.SubprocessError) as e:
        return f"SLURM requeue of job {job_id} failed ({e}); resubmit the job, the checkpoint is written"
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).strip().splitlines()
        return (f"SLURM requeue of job {job_id} failed (scontrol exit {proc.returncode}"
                f"{': ' + why[0] if why else ''}); resubmit the job, the checkpoint is written")
    return f"SLURM job {job_id} requeued (scontrol requeue)"
