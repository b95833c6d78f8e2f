"""Training progress as plain lines, for logs that are files or pipes (batch jobs, ``make demo > log``).

Lightning's rich progress bar redraws one line with cursor-control codes; in a file that is unreadable. When the
output is not a terminal, :func:`progress_callback` gives :class:`PlainProgressBar` instead, which writes a line
every ``every_s`` seconds or ``every_percent`` % of the planned batches::

    train: batch 120/400 (30 %), 2.1 batch/s, G 1.23, D 0.45

It only reads counters and the metrics the module already puts on the progress bar (``G``, ``D``): training
computes exactly the same with either display.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import lightning as L
from lightning.pytorch.callbacks import ProgressBar

__all__ = ["PlainProgressBar", "output_is_terminal", "progress_callback"]


def output_is_terminal() -> bool:
    """True when stdout and stderr are both terminals (as rich judges them: ``FORCE_COLOR``/``TTY_*`` count)."""
    from rich.console import Console

    return Console().is_terminal and Console(stderr=True).is_terminal


class PlainProgressBar(ProgressBar):
    """Lightning progress bar that writes plain training progress lines (see the module docstring).

    Args:
        every_s: at most this many seconds between two lines (> 0).
        every_percent: a line at least every this many percent of the planned batches (or of the time budget).
        stream: where the lines go (default: ``sys.stderr`` at the time of writing).
        clock: seconds, monotonic (tests pass a fake).
    """

    def __init__(self, every_s: float = 30.0, every_percent: float = 10.0, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.every_s, self.every_percent, self.stream, self.clock = every_s, every_percent, stream, clock
        self.enabled = True
        self._start: tuple[float, int] = (0.0, 0)  # (time, batches) at the start of this fit
        self._last: tuple[float, float] = (-math.inf, -math.inf)  # (time, percent) of the last line
        self._written_at = -1  # batch count of the last line

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        print(*args, **{"file": self.stream or sys.stderr, "flush": True, **kwargs})

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = (self.clock(), _batches(trainer, pl_module))
        self._last, self._written_at = (self.clock(), -math.inf), -1

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        percent = _percent(trainer, pl_module)
        due = self.clock() - self._last[0] >= self.every_s or self._written_at < 0 or (
            percent is not None and percent - self._last[1] >= self.every_percent)
        if due:
            self._write(trainer, pl_module, percent)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._written_at != _batches(trainer, pl_module):
            self._write(trainer, pl_module, _percent(trainer, pl_module))

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule, percent: float | None) -> None:
        """One line: batches done (of planned), percent, rate since this fit started, the bar's metrics."""
        done, now = _batches(trainer, pl_module), self.clock()
        self._last, self._written_at = (now, percent if percent is not None else 0.0), done
        if not self.enabled:
            return
        planned = getattr(pl_module, "planned_batches", None)
        head = f"train: batch {done}" + (f"/{planned}" if planned and _time_fraction(pl_module) is None else "")
        parts = [head + (f" ({percent:.0f} %)" if percent is not None else "")]
        elapsed = now - self._start[0]
        if elapsed > 0:
            parts.append(f"{_num((done - self._start[1]) / elapsed)} batch/s")
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        # G is NaN while the critic warm-up trains the critics alone (no generator loss yet): say so, not "G nan"
        parts += [f"{k} {_metric(v)}" for k, v in metrics.items()]
        self.print(", ".join(parts))


def _metric(value: object) -> str:
    """A progress-bar metric: a number as :func:`_num`, a NaN as ``-`` (not computed this batch), else as given."""
    if isinstance(value, float):
        return "-" if math.isnan(value) else _num(value)
    return str(value)


def _num(value: float) -> str:
    """Three significant digits, trailing zeros kept (``5.00``, ``0.450``, ``17.3``, ``125``)."""
    return f"{value:#.3g}".rstrip(".")


def _batches(trainer: L.Trainer, pl_module: L.LightningModule) -> int:
    """Training batches done (the module's own counter, which survives a resume; else Lightning's)."""
    return int(getattr(pl_module, "batches_done", trainer.fit_loop.epoch_loop.batch_progress.total.completed))


def _time_fraction(pl_module: L.LightningModule) -> float | None:
    fraction = getattr(pl_module, "time_fraction", None)
    return fraction() if callable(fraction) else None


def _percent(trainer: L.Trainer, pl_module: L.LightningModule) -> float | None:
    """Percent of the time budget spent (``train.max_time``), else of the planned batches; None when unknown."""
    fraction = _time_fraction(pl_module)
    if fraction is not None:
        return 100.0 * fraction
    planned = getattr(pl_module, "planned_batches", None)
    return 100.0 * min(1.0, _batches(trainer, pl_module) / planned) if planned else None


def progress_callback() -> ProgressBar:
    """The run's progress display: Lightning's rich bar on a terminal, else a :class:`PlainProgressBar`."""
    if output_is_terminal():
        from lightning.pytorch.callbacks import RichProgressBar

        return RichProgressBar()
    return PlainProgressBar()
