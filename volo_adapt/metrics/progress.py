"""Counting an evaluation's work for a progress bar: the total is known up front, units advance as work finishes.

A caller passes ``progress(advance, total)`` to :func:`~volo_adapt.metrics.evaluate.evaluate` (or
``evaluate_tensors``): it is called once with ``(0, total)`` before any work, then with ``(k, total)`` whenever
``k`` more units are done; the advances sum to ``total``. A unit is one translation batch, one C2ST training epoch
(``repeats x epochs`` per C2ST comparison) or one other metric on one comparison.

Deep code (the C2ST training loop) calls :func:`advance` without knowing who listens: the active
:class:`WorkCounter` is held in a context variable, so the call is a no-op outside :func:`counting`. Nothing here
touches a random generator or a tensor: a progress callback cannot change an evaluation's numbers.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

ProgressFn = Callable[[int, int], None]
"""``progress(advance, total)``: ``advance`` units just finished (0 on the first call), of ``total`` in all."""

_ACTIVE: contextvars.ContextVar[WorkCounter | None] = contextvars.ContextVar("volo_eval_progress", default=None)


class WorkCounter:
    """Done units of a known total, reported to a :data:`ProgressFn` (never beyond ``total``)."""

    def __init__(self, fn: ProgressFn | None, total: int) -> None:
        self.fn, self.total, self.done = fn, max(0, int(total)), 0
        if fn is not None:
            fn(0, self.total)

    def advance(self, n: int = 1) -> None:
        """``n`` more units finished (clipped at the total)."""
        self.reach(self.done + n)

    def reach(self, done: int) -> None:
        """At least ``done`` units finished (a plan's milestone; never goes back, clipped at the total)."""
        done = min(self.total, int(done))
        if done > self.done:
            step, self.done = done - self.done, done
            if self.fn is not None:
                self.fn(step, self.total)


@contextlib.contextmanager
def counting(counter: WorkCounter) -> Iterator[WorkCounter]:
    """Make ``counter`` the target of :func:`advance` inside the block."""
    token = _ACTIVE.set(counter)
    try:
        yield counter
    finally:
        _ACTIVE.reset(token)


def advance(n: int = 1) -> None:
    """``n`` units of the active counter finished; nothing when no counter is active."""
    counter = _ACTIVE.get()
    if counter is not None:
        counter.advance(n)
