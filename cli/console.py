"""The CLI's consoles and progress displays: as readable in a log file or a pipe as on a terminal.

On a terminal every command looks as before (rich tables at the terminal's width, animated progress bars, a
spinner). When the output is a file or a pipe (``make demo > log``, a batch job's log, a test capturing output):

* tables are not folded at 80 columns: the console is :data:`WIDE` columns wide, or ``$COLUMNS`` when set;
* nothing is animated and no cursor-control codes are written: progress is a plain line every
  :data:`EVERY_S` seconds or :data:`EVERY_PERCENT` % (``translate: 120/400 (30 %), 2.10 img/s, 61 s``), and a
  status (``volo eval``) is one line per step.

Every command makes its consoles with :func:`make_console` and its progress with :func:`make_progress` /
:func:`make_status`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from rich.console import Console
from rich.progress import Progress, ProgressColumn

WIDE = 4096
"""Width of a console that is not a terminal (no table that fits a log line is folded), unless ``$COLUMNS``."""
EVERY_S = 10.0
"""Seconds between two plain progress lines (at most; a line is also written every :data:`EVERY_PERCENT` %)."""
EVERY_PERCENT = 10.0
"""Percent of the total between two plain progress lines."""


def is_launched_worker() -> bool:
    """True in the extra processes of a multi-process run on this machine (``LOCAL_RANK`` > 0, as Lightning's launcher
    and torchrun set it): every process runs the command, and only local rank 0 prints its outcome line (``done:``,
    ``error:``) so that a 2-process run does not print each line twice. The exit code is the same on every rank."""
    return os.environ.get("LOCAL_RANK", "0").strip() not in ("", "0")


def make_console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr): the terminal's as usual, else :data:`WIDE` (or ``$COLUMNS``) wide.

    The stream is looked up when the console writes (``sys.stdout`` / ``sys.stderr`` at that moment), as for a
    plain ``Console()``; whether it is a terminal is decided here, once.
    """
    console = Console(stderr=stderr)
    if console.is_terminal:
        return console
    columns = os.environ.get("COLUMNS", "")
    return Console(stderr=stderr, width=int(columns) if columns.isdigit() and int(columns) > 0 else WIDE)


class LineProgress:
    """A stand-in for :class:`rich.progress.Progress` that writes plain lines (for a console that is not a terminal).

    Supports what the commands use: the context manager, ``add_task(description, total=None, **fields)``,
    ``update(task, total=..., completed=..., **fields)`` and ``console``. A line is written when a task first gets a
    total, then whenever :data:`EVERY_S` seconds or :data:`EVERY_PERCENT` % have passed since the last one, and at the
    end (on leaving the block) if the last state was not written. Text fields (``rate="2.10 img/s"``) are appended.
    """

    def __init__(self, console: Console, every_s: float = EVERY_S, every_percent: float = EVERY_PERCENT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.every_s, self.every_percent, self.clock = console, every_s, every_percent, clock
        self.tasks: list[dict[str, Any]] = []
        self.start = clock()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.tasks:
            if task["written"] != (task["completed"], task["total"]) and task["total"] is not None:
                self._write(task)

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        self.tasks.append({"description": description, "total": total, "completed": 0, "fields": fields,
                           "written": None, "at_s": self.clock(), "at_percent": -math.inf})
        return len(self.tasks) - 1

    def update(self, task_id: int, *, total: float | None = None, completed: float | None = None,
               **fields: Any) -> None:
        task = self.tasks[task_id]
        first = task["total"] is None and total is not None
        task["total"] = total if total is not None else task["total"]
        task["completed"] = completed if completed is not None else task["completed"]
        task["fields"].update(fields)
        percent = self._percent(task)
        due = self.clock() - task["at_s"] >= self.every_s or (
            percent is not None and percent - task["at_percent"] >= self.every_percent)
        if first or due:
            self._write(task)

    @staticmethod
    def _percent(task: dict[str, Any]) -> float | None:
        total = task["total"]
        return 100.0 * task["completed"] / total if total else None

    def _write(self, task: dict[str, Any]) -> None:
        done, total, percent = task["completed"], task["total"], self._percent(task)
        parts = [f"{task['description']}: {_count(done)}" + (f"/{_count(total)} ({percent:.0f} %)" if total else "")]
        parts += [str(v) for v in task["fields"].values() if str(v)]
        parts.append(f"{self.clock() - self.start:.0f} s")
        self.console.print(", ".join(parts), highlight=False, markup=False, soft_wrap=True)
        task.update(written=(done, total), at_s=self.clock(), at_percent=percent if percent is not None else 0.0)


def _count(value: float) -> str:
    """``3`` for a whole number (however large), else ``2.5``."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def make_progress(*columns: str | ProgressColumn, console: Console, transient: bool = False,
                  disable: bool = False) -> Progress | LineProgress:
    """``rich.progress.Progress(*columns, ...)`` on a terminal, else a :class:`LineProgress` on ``console``."""
    if console.is_terminal:
        return Progress(*columns, console=console, transient=transient, disable=disable)
    return LineProgress(console)


class _LineStatus:
    """A stand-in for rich's status spinner off a terminal: each ``update(text)`` is one plain line."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def update(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)


@contextlib.contextmanager
def make_status(console: Console, text: str) -> Iterator[Any]:
    """``console.status(text)`` (a spinner) on a terminal; else ``text`` as one line, and one line per ``update``."""
    if console.is_terminal:
        with console.status(text) as status:
            yield status
        return
    status = _LineStatus(console)
    status.update(text)
    yield status


class WorkBar:
    """One progress bar over a whole job whose total is known once the work starts (``volo eval``).

    ``progress(advance, total)`` is the library's callback (:mod:`volo_adapt.metrics.progress`); ``log(text)``
    names the current step. On a terminal: a rich bar with elapsed and remaining time and the step. Off a terminal: a
    :class:`LineProgress` line now and then (``evaluating: 120/400 (30 %), c2st_rgbd_acc [model], 61 s``), and the
    steps before the total is known as plain lines (``evaluating: reading data at 96x96``).
    """

    def __init__(self, progress: Progress | LineProgress, description: str, console: Console) -> None:
        self.bar, self.description, self.console = progress, description, console
        self.task = progress.add_task(description, total=None, step="")
        self.completed = 0
        self.total: int | None = None

    def progress(self, advance: int, total: int) -> None:
        self.completed += advance
        self.total = total
        self.bar.update(self.task, total=total, completed=self.completed)

    def log(self, text: str) -> None:
        if self.total is None and not self.console.is_terminal:
            self.console.print(f"{self.description}: {text}", highlight=False, markup=False, soft_wrap=True)
        self.bar.update(self.task, step=text)


@contextlib.contextmanager
def make_work_bar(console: Console, description: str) -> Iterator[WorkBar]:
    """A :class:`WorkBar` on ``console`` for the duration of the block (off a terminal, ``description`` first)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[step]}", markup=False))
    if not console.is_terminal:
        console.print(description, highlight=False, markup=False, soft_wrap=True)
    with make_progress(*columns, console=console) as progress:
        yield WorkBar(progress, description, console)
