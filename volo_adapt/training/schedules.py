"""Learning-rate schedules as pure functions of (fractional) epoch.

Each schedule maps a position in training, measured in *schedule epochs* (a float in ``[0, max_epochs]``),
to a multiplier of the base learning rate in ``[0, 1]``. :func:`lr_multiplier` dispatches on the config
name; :func:`batch_to_epoch` turns a batch counter into schedule epochs.

How training uses them (see :class:`volo_adapt.training.module.VoloGANModule`): the multiplier is
evaluated **once per batch**, at the midpoint of the batch, through a ``LambdaLR``
(:class:`~volo_adapt.training.optimizers.BatchLambdaLR`, ``last_epoch`` = batches done, also in batches where its
optimiser did not step). Progress is defined by the *planned* number of batches of the run,
``planned = min(max_epochs * batches_per_epoch, max_steps)``, and is stretched onto ``max_epochs``
schedule epochs. A full run therefore follows the schedule epoch by epoch, and a run cut short by
``max_steps`` still warms up and decays to 0 over the batches it will actually do (compressed).
Evaluating at the midpoint means neither the first step (warm-up) nor the last step (decay) gets a
learning rate of exactly 0.
"""

from __future__ import annotations

import math

SCHEDULES = ("warmup_cosine", "linear_decay", "constant")


def warmup_cosine(epoch: float, max_epochs: float, warmup_epochs: float) -> float:
    """The original VoloGAN schedule: linear warm-up for ``warmup_epochs``, then half-cosine decay to 0.

    Args:
        epoch: position in schedule epochs, ``0 <= epoch <= max_epochs`` (clamped).
        max_epochs: length of the schedule in epochs (the original: 60).
        warmup_epochs: warm-up length in epochs (the original: 10); 0 = no warm-up.

    Returns:
        Multiplier in ``[0, 1]``: ``epoch / W`` during warm-up, ``0.5 (1 + cos(pi (epoch - W) / (max - W)))`` after.

    Example:
        >>> warmup_cosine(5, 60, 10), warmup_cosine(10, 60, 10), warmup_cosine(35, 60, 10), warmup_cosine(60, 60, 10)
        (0.5, 1.0, 0.5, 0.0)
    """
    epoch = min(max(epoch, 0.0), max_epochs)
    warmup = min(warmup_epochs, max_epochs)
    if warmup > 0 and epoch < warmup:
        return epoch / warmup
    span = max_epochs - warmup
    if span <= 0:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (epoch - warmup) / span))


def linear_decay(epoch: float, max_epochs: float, decay_start_epoch: float) -> float:
    """CycleGAN's schedule: constant until ``decay_start_epoch``, then linear decay to 0 at ``max_epochs``.

    Args:
        epoch: position in schedule epochs (clamped to ``[0, max_epochs]``).
        max_epochs: length of the schedule (CycleGAN: 200 = 100 constant + 100 decay).
        decay_start_epoch: epoch where the decay starts (CycleGAN: 100).

    Returns:
        Multiplier in ``[0, 1]``.

    Example:
        >>> linear_decay(50, 200, 100), linear_decay(150, 200, 100), linear_decay(200, 200, 100)
        (1.0, 0.5, 0.0)
    """
    epoch = min(max(epoch, 0.0), max_epochs)
    if epoch <= decay_start_epoch or max_epochs <= decay_start_epoch:
        return 1.0
    return max(0.0, 1.0 - (epoch - decay_start_epoch) / (max_epochs - decay_start_epoch))


def constant(epoch: float) -> float:
    """Multiplier 1 everywhere."""
    del epoch
    return 1.0


def lr_multiplier(
    kind: str, epoch: float, max_epochs: float, warmup_epochs: float = 0.0, decay_start_epoch: float = 0.0
) -> float:
    """Dispatch on the config name (``optim.schedule``); see the individual schedules."""
    if kind == "warmup_cosine":
        return warmup_cosine(epoch, max_epochs, warmup_epochs)
    if kind == "linear_decay":
        return linear_decay(epoch, max_epochs, decay_start_epoch)
    if kind == "constant":
        return constant(epoch)
    raise ValueError(f"unknown schedule {kind!r} (known: {', '.join(SCHEDULES)})")


def batch_to_epoch(batch_index: int, planned_batches: int, max_epochs: float) -> float:
    """Schedule epochs at the midpoint of batch ``batch_index`` (0-based) of a run of ``planned_batches``.

    Example:
        >>> batch_to_epoch(0, 100, 10), batch_to_epoch(99, 100, 10)
        (0.05, 9.95)
    """
    assert planned_batches >= 1, planned_batches
    return (batch_index + 0.5) / planned_batches * max_epochs


def planned_batches(batches_per_epoch: int, max_epochs: int, max_steps: int) -> int:
    """Batches a run will do: ``max_epochs * batches_per_epoch``, capped by ``max_steps`` when it is not -1."""
    total = max(1, batches_per_epoch) * max_epochs
    if max_steps > 0:
        total = min(total, max_steps)
    return max(1, total)
