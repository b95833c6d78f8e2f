"""DataLoader worker processes leave stop signals (SIGTERM, SIGINT, SIGUSR1) to the main process.

``timeout -s TERM``, ``docker stop``, SLURM and most schedulers signal the whole process group, DataLoader
workers included. torch installs a SIGTERM handler in each worker that kills it when the signal does not come
from its parent, and the main process then died with ``RuntimeError: DataLoader worker (pid N) is killed by
signal: Terminated`` before it could write a checkpoint; Ctrl-C and SIGUSR1 reach the workers too. So a worker
ignores SIGINT and SIGUSR1, and ignores SIGTERM *unless its parent sends it*: the main process alone decides
when to stop (see :mod:`volo_adapt.training.preemption`), and it can still end its workers.

Two details make this hold at every moment:

* The parent's SIGTERM must keep working: ``multiprocessing`` ends daemon children with ``terminate()`` (SIGTERM)
  at interpreter exit and joins them, so a worker that ignored every SIGTERM could hang the exit. Python's signal
  handlers do not see the sender, so SIGTERM stays blocked in the worker and a small thread takes it with
  ``sigwaitinfo``, which does: from the parent it exits at once (as torch's own handler does), from anyone else it
  is dropped. A worker whose parent dies (``kill -9``) is still ended by torch's watchdog within seconds.
* A worker is born before :func:`worker_init` runs, and a group signal can arrive in between (validation workers
  start right after a batch, for instance). While :func:`fork_with_stop_signals_blocked` is active, a process
  forked by Python starts with the three signals blocked (``os.register_at_fork``), so they stay pending until
  :func:`worker_init` has decided what to do with them. The parent blocks them only for the instant of the fork
  and then receives them as usual.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

__all__ = ["STOP_SIGNALS", "fork_with_stop_signals_blocked", "worker_init"]

STOP_SIGNALS: frozenset[signal.Signals] = frozenset({signal.SIGTERM, signal.SIGINT, signal.SIGUSR1})
"""Signals that stop training; workers ignore SIGINT and SIGUSR1, and SIGTERM unless their parent sends it."""

_state = {"active": 0, "registered": False}
_saved_mask = threading.local()  # the forking thread's signal mask, between the before- and after-fork hooks


def _before_fork() -> None:
    if _state["active"]:
        _saved_mask.value = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _after_fork_in_parent() -> None:
    mask = getattr(_saved_mask, "value", None)
    if mask is not None:
        _saved_mask.value = None
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # signals that came meanwhile are delivered now


def _after_fork_in_child() -> None:
    _saved_mask.value = None  # the child keeps the stop signals blocked: worker_init takes over


@contextlib.contextmanager
def fork_with_stop_signals_blocked() -> Iterator[None]:
    """While active, every process this one forks from Python starts with SIGTERM, SIGINT and SIGUSR1 blocked.

    Meant to surround the part of training that starts DataLoader workers (whose :func:`worker_init` then
    handles the signals). Other ``os.fork()`` children started meanwhile would keep them blocked; training starts
    none (``subprocess`` does not run fork hooks).
    """
    if not _state["registered"]:
        os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                            after_in_child=_after_fork_in_child)
        _state["registered"] = True
    _state["active"] += 1
    try:
        yield
    finally:
        _state["active"] -= 1


def _take_sigterm(parent: int) -> None:
    """Worker thread: wait for SIGTERM; exit the worker if the parent sent it, drop it otherwise."""
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        if info.si_pid == parent:
            os._exit(0)  # what torch's worker handler does for its parent's SIGTERM


def worker_init(worker_id: int) -> None:
    """``DataLoader(worker_init_fn=...)``: leave stop signals to the main process, then seed as Lightning would.

    Runs first thing in the worker, while it has a single thread, so that every thread started later inherits
    the blocked SIGTERM and only the waiting thread receives it.

    A DataLoader with its own ``worker_init_fn`` does not get Lightning's (``seed_everything(workers=True)`` sets
    ``PL_SEED_WORKERS=1`` and Lightning adds ``pl_worker_init_function`` only to loaders without one), so it is
    called here under the same condition: the workers' numpy/python/torch seeds do not change.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=_take_sigterm, args=(os.getppid(),), name="volo-sigterm", daemon=True).start()
    for s in STOP_SIGNALS - {signal.SIGTERM}:
        signal.signal(s, signal.SIG_IGN)  # a pending one (blocked since the fork) is discarded here
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS - {signal.SIGTERM})
    if int(os.environ.get("PL_SEED_WORKERS", "0")):
        from lightning.fabric.utilities.seed import pl_worker_init_function

        pl_worker_init_function(worker_id)
