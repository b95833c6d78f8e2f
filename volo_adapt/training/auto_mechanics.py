"""``train.split_backward`` and ``train.batch_calls`` set to ``auto``: the step's mechanics chosen from the image size,
batch, device and compute dtype, from what the performance runner measured.

Back-propagating the generator loss in its three independent parts (``train.split_backward``) holds a third of the
activations, and at 512 px on a CPU it was also faster; at small sizes the part-by-part step makes smaller,
unbatched network calls and can be slower. Without the split, stacking a network's calls along the batch
(``train.batch_calls``) makes fewer, larger kernels, which was faster at some sizes and slower at others. Which
step is fastest depends on the size, the batch and the machine, so the choice comes from the step times the
performance runner measured (``benchmarks/bench_perf.py``, ``cyclegan`` preset, variants ``tuned`` = split,
``one_backward`` = one backward with batched calls, ``one_backward_unbatched`` = one call per input, beside the
``classic`` CycleGAN step; recorded in ``benchmarks/results/perf-auto/``): :data:`MEASURED` transcribes those rows
(``benchmarks/auto_table.py``), and a test checks it against the committed ``perf.json`` files.

Rule (:func:`choose_step`): take the measured row of the same device type and compute dtype (else of the device type)
whose pixel count (side^2 x batch) is nearest on a log scale; among the steps the config leaves open, in the order
split, one backward, one backward unbatched, take the first that ran within :data:`MARGIN` of the fastest there
(the split holds the least memory, so it wins ties). A device type without measured rows (a GPU, until a GPU run is
committed) splits from :data:`UNMEASURED_SPLIT_FROM_PIXELS` pixels per step up, with batched calls. The split is
never used under DDP or where it would keep recomputed activations
(:func:`volo_adapt.training.objective.splits_backward`).

Not switched by size, by measurement: activation checkpointing (slower in every measured row, 0.77-0.88x; a memory
setting the user turns on) and channels-last (``train.memory_format: auto``, see
:mod:`volo_adapt.training.step_mechanics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from volo_adapt.config import RunConfig


@dataclass(frozen=True)
class MeasuredStep:
    """One (device, dtype, size, batch) of the runner's table: median wall seconds of one training batch.

    Attributes:
        device: ``cpu`` or ``cuda``.
        dtype: compute dtype of the convolutions, ``fp32`` or ``bf16``.
        size: image side, px.
        batch: images per domain and step.
        split_s: the ``tuned`` variant (split backward, batched critic calls), s/step.
        one_s: the ``one_backward`` variant (one backward, batched calls), s/step.
        unbatched_s: the ``one_backward_unbatched`` variant (one call per input), s/step; None where not measured.
        classic_s: the classic CycleGAN step (``benchmarks/classic_cyclegan.py``, eager fp32), s/step.
    """

    device: str
    dtype: str
    size: int
    batch: int
    split_s: float
    one_s: float
    unbatched_s: float | None
    classic_s: float

    @property
    def pixels(self) -> int:
        """Pixels per domain and step: size^2 x batch."""
        return self.size * self.size * self.batch


@dataclass(frozen=True)
class StepChoice:
    """What ``auto`` resolved to: ``split_backward``, ``batch_calls`` and why (one line)."""

    split_backward: bool
    batch_calls: bool
    reason: str


STEPS = (("split", True, True), ("one backward", False, True), ("one backward unbatched", False, False))
"""The candidate steps in order of preference: (name, split_backward, batch_calls)."""

MARGIN = 0.03
"""A later candidate is chosen only where it was more than 3 % faster than every earlier one: closer than that is
within the runner's step-to-step noise, and the earlier ones hold less memory (the split a third of the
activations)."""

UNMEASURED_SPLIT_FROM_PIXELS = 512 * 512
"""Pixels per step (side^2 x batch) from which a device type without measured rows splits."""

MEASURED: tuple[MeasuredStep, ...] = (
    MeasuredStep('cpu', 'bf16', 64, 1, split_s=0.495, one_s=0.474,
                 unbatched_s=0.558, classic_s=0.712),
    MeasuredStep('cpu', 'bf16', 64, 2, split_s=0.646, one_s=0.636,
                 unbatched_s=0.701, classic_s=0.963),
    MeasuredStep('cpu', 'bf16', 128, 1, split_s=1.11, one_s=1.2,
                 unbatched_s=1.19, classic_s=1.96),
    MeasuredStep('cpu', 'bf16', 128, 2, split_s=2.41, one_s=2.27,
                 unbatched_s=2.23, classic_s=4.22),
    MeasuredStep('cpu', 'bf16', 256, 1, split_s=4.44, one_s=4.99,
                 unbatched_s=4.95, classic_s=9.24),
    MeasuredStep('cpu', 'fp32', 64, 1, split_s=0.661, one_s=0.654,
                 unbatched_s=0.722, classic_s=0.683),
    MeasuredStep('cpu', 'fp32', 64, 2, split_s=1.14, one_s=1.07,
                 unbatched_s=1.15, classic_s=1.17),
    MeasuredStep('cpu', 'fp32', 128, 1, split_s=1.75, one_s=1.81,
                 unbatched_s=1.86, classic_s=1.94),
    MeasuredStep('cpu', 'fp32', 128, 2, split_s=3.82, one_s=4.16,
                 unbatched_s=3.98, classic_s=3.83),
    MeasuredStep('cpu', 'fp32', 256, 1, split_s=6.72, one_s=8.68,
                 unbatched_s=7.53, classic_s=7.52),
    MeasuredStep('cpu', 'fp32', 512, 1, split_s=78.7, one_s=95.2,
                 unbatched_s=None, classic_s=91.5),
)
"""The runner's rows (from ``benchmarks/results/perf-auto`` and perf-512's 512 px rows, by
``benchmarks/auto_table.py``; a test checks the transcription)."""


def _open_steps(split: bool | None, batch_calls: bool | None) -> list[tuple[str, bool, bool]]:
    """The :data:`STEPS` a config leaves open, in order, as (name, split_backward, batch_calls): a fixed ``split``
    keeps only the steps that agree; a fixed ``batch_calls`` keeps the one-backward step that matches it and is
    taken over by the split step (its critic calls were measured batched, but any value is valid there)."""
    out = []
    for name, s, b in STEPS:
        if split is not None and s != split:
            continue
        if s:
            out.append((name, s, b if batch_calls is None else batch_calls))
        elif batch_calls is None or b == batch_calls:
            out.append((name, s, b))
    return out


def _times(row: MeasuredStep) -> dict[str, float | None]:
    return {"split": row.split_s, "one backward": row.one_s, "one backward unbatched": row.unbatched_s}


def choose_step(device: str, dtype: str, size: int, batch: int, split: bool | None = None,
                batch_calls: bool | None = None, table: tuple[MeasuredStep, ...] | None = None) -> StepChoice:
    """The step ``auto`` takes at ``size`` x ``batch`` on ``device`` in ``dtype``.

    Args:
        device: torch device type of the training (``cpu``, ``cuda``, ...).
        dtype: compute dtype of the convolutions: ``fp32`` or ``bf16`` (``fp16`` is looked up as ``bf16``).
        size: image side, px (>= 1). batch: images per domain and step (>= 1).
        split, batch_calls: a value the config fixes (None: ``auto``); only steps agreeing with it are candidates
            (the split step keeps a fixed ``batch_calls``: its critic calls were measured batched).
        table: the measured rows (default :data:`MEASURED`).

    Example:
        >>> rows = (MeasuredStep("cpu", "fp32", 64, 1, split_s=2.2, one_s=2.0, unbatched_s=2.3, classic_s=2.2),
        ...         MeasuredStep("cpu", "fp32", 512, 1, split_s=79.0, one_s=95.0, unbatched_s=None, classic_s=92.0))
        >>> c = choose_step("cpu", "fp32", 96, 1, table=rows)
        >>> c.split_backward, c.batch_calls
        (False, True)
        >>> choose_step("cpu", "fp32", 384, 1, table=rows).reason
        'split: nearest measured step cpu fp32 512 px batch 1: split 79 s, one backward 95 s'
    """
    rows = MEASURED if table is None else table
    dtype = "bf16" if dtype == "fp16" else dtype
    pixels = size * size * batch
    open_steps = _open_steps(split, batch_calls)
    mine = [r for r in rows if r.device == device and r.dtype == dtype] or [r for r in rows if r.device == device]
    if not mine:
        want_split = pixels >= UNMEASURED_SPLIT_FROM_PIXELS if split is None else split
        name, s, b = next(c for c in open_steps if c[1] == want_split)
        return StepChoice(s, b, f"{name}: no measured {device} rows ({'split' if want_split else 'one backward'} "
                                f"{'from' if want_split else 'below'} {UNMEASURED_SPLIT_FROM_PIXELS} pixels per step)")
    near = min(mine, key=lambda r: (abs(math.log(pixels / r.pixels)), -r.pixels))
    times = _times(near)
    timed = [(n, s, b, times[n]) for n, s, b in open_steps if times[n] is not None]
    if not timed:  # only an unmeasured step is open (e.g. unbatched where the row lacks it): the config's own
        name, s, b = open_steps[0]
        return StepChoice(s, b, f"{name}: the only step the config leaves open")
    fastest = min(t for *_, t in timed)
    name, s, b, _ = next(c for c in timed if c[3] <= (1 + MARGIN) * fastest)
    measured = ", ".join(f"{n} {t:.3g} s" for n, t in times.items() if t is not None)
    where = f"{near.device} {near.dtype} {near.size} px batch {near.batch}"
    return StepChoice(s, b, f"{name}: nearest measured step {where}: {measured}")


def compute_dtype(precision: str) -> str:
    """A Lightning precision string -> the convolutions' compute dtype: ``bf16``, ``fp16`` or ``fp32``."""
    return "bf16" if precision.startswith("bf16") else "fp16" if precision.startswith("16") else "fp32"


def resolve_step(cfg: RunConfig) -> StepChoice:
    """``train.split_backward`` and ``train.batch_calls`` of ``cfg`` as bools, and why (one line for ``volo
    train``'s summary): fixed values are kept, ``auto`` ones come from :func:`choose_step` for the training device
    type, the resolved ``train.precision``, ``data.image_size`` and ``data.batch_size``."""
    from volo_adapt.hardware import resolve_train_precision, train_device

    t = cfg.train
    split = t.split_backward if isinstance(t.split_backward, bool) else None
    batch_calls = t.batch_calls if isinstance(t.batch_calls, bool) else None
    if split is not None and batch_calls is not None:
        (name, _, _), = _open_steps(split, batch_calls)
        return StepChoice(split, batch_calls, f"{name}: train.split_backward={str(split).lower()}, "
                                              f"train.batch_calls={str(batch_calls).lower()}")
    dtype = compute_dtype(resolve_train_precision(t.precision, t.accelerator))
    return choose_step(train_device(t.accelerator), dtype, cfg.data.image_size, cfg.data.batch_size, split,
                       batch_calls)
