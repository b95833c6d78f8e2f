"""The training module's two optimisers and what their learning-rate schedule is planned over.

* :func:`build_optimizers` - ``[generators, critics]``, one parameter group per network (the order checkpoints
  store them in: :data:`volo_adapt.training.module.OPTIMIZER_ORDER`).
* :func:`planned_batches_of` - the batches this run plans to do, from the trainer's dataloader when it has one.
* :func:`time_budget_fraction` - the elapsed share of a ``train.max_time`` budget (Lightning's Timer).
* :class:`BatchLambdaLR` - the per-batch learning-rate schedule of each optimiser.

The schedules themselves are pure functions in :mod:`volo_adapt.training.schedules`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from volo_adapt.config import OptimConfig, TrainConfig
from volo_adapt.training import step_mechanics as mechanics
from volo_adapt.training.objective import Networks
from volo_adapt.training.schedules import planned_batches


def build_optimizers(optim: OptimConfig, nets: Networks) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """``(generators, critics)`` optimisers at their base learning rates.

    The generators' (NAdam as in the original, or Adam) has the groups ``[gen_a2b, gen_b2a]``; NAdam and Adam are
    element-wise, so one optimiser over both generators updates each exactly as two separate optimisers would. The
    critics' (SGD with momentum, or Adam) has ``[critic_a, critic_b]``. The implementation (fused, foreach, for
    loop) follows ``optim.implementation``.
    """
    o = optim
    g_groups = [{"params": list(nets.gen_a2b.parameters())}, {"params": list(nets.gen_b2a.parameters())}]
    d_groups = [{"params": list(nets.critic_a.parameters())}, {"params": list(nets.critic_b.parameters())}]
    g_cls = torch.optim.NAdam if o.gen_optimizer == "nadam" else torch.optim.Adam
    opt_g = g_cls(g_groups, lr=o.gen_lr, betas=tuple(o.gen_betas),
                  **mechanics.optimizer_flags(g_cls, o.implementation))
    if o.critic_optimizer == "sgd":
        opt_d = torch.optim.SGD(d_groups, lr=o.critic_lr, momentum=o.critic_momentum,
                                **mechanics.optimizer_flags(torch.optim.SGD, o.implementation))
    else:
        opt_d = torch.optim.Adam(d_groups, lr=o.critic_lr, betas=tuple(o.critic_betas),
                                 **mechanics.optimizer_flags(torch.optim.Adam, o.implementation))
    return opt_g, opt_d


class BatchLambdaLR(torch.optim.lr_scheduler.LambdaLR):
    """A ``LambdaLR`` positioned by the run's batch counter: batch ``n`` (0-based) trains at ``base_lr * lr_lambda(n)``
    in every parameter group, whether or not the optimiser stepped in the batches before.

    The optimiser does not step in every batch: the generators' is idle during the critic warm-up
    (``optim.critic_warmup``), a step is skipped for non-finite values or by the 16-mixed grad scaler; their schedule
    goes on all the same. :meth:`advance` moves it to the next batch. ``step()`` would compute the same values, but
    PyTorch warns when it comes before the optimiser's first step (it assumes one schedule step per optimiser
    step), so the training step never calls it. ``state_dict`` / ``load_state_dict`` are LambdaLR's (checkpoints
    hold ``last_epoch`` = batches done, as before).
    """

    def advance(self) -> None:
        """After a batch: ``last_epoch += 1`` and every group's ``lr`` set to ``base_lr * lr_lambda(last_epoch)``."""
        self.last_epoch += 1
        values = [base_lr * fn(self.last_epoch) for fn, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)]
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(float(lr))
            else:
                group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]  # what get_last_lr() returns


def planned_batches_of(trainer: Any, train: TrainConfig) -> int:
    """Batches the run plans to do (>= 1): :func:`~volo_adapt.training.schedules.planned_batches` of the trainer's
    batches per epoch, or ``train.max_steps`` (else ``train.max_epochs``) without a trainer or a dataloader."""
    per_epoch = 0
    if trainer is not None:
        try:
            _ = trainer.estimated_stepping_batches  # makes Lightning set up the train dataloader
            n = trainer.num_training_batches
            per_epoch = int(n) if math.isfinite(n) else 0
        except Exception:  # no dataloader yet (unit tests); fall back below
            per_epoch = 0
    if per_epoch <= 0:
        return train.max_steps if train.max_steps > 0 else train.max_epochs
    return planned_batches(per_epoch, train.max_epochs, train.max_steps)


def time_budget_fraction(trainer: Any, max_time: Any) -> float | None:
    """Elapsed share in ``[0, 1]`` of the ``train.max_time`` budget, read from the trainer's Timer callback
    (restored on resume), or None without a budget (``max_time`` empty), a trainer or a Timer."""
    if not max_time or trainer is None:
        return None
    from lightning.pytorch.callbacks import Timer

    timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None)
    if timer is None:
        return None
    elapsed = timer.time_elapsed("train")
    remaining = timer.time_remaining("train")
    if remaining is None:
        return None
    total = elapsed + remaining
    return min(1.0, elapsed / total) if total > 0 else 1.0
