"""A training log starts without warnings a user cannot act on (volo-adapt issue 23, item 2).

The project's pytest configuration ignores every ``UserWarning`` and ``DeprecationWarning``; the filters below are
set inside the test (``warnings.catch_warnings``), so they take precedence and turn exactly these warnings into
errors that abort the run.
"""

from __future__ import annotations

import warnings

import lightning as L
import pytest
import torch

from tests.training.conftest import smoke_config
from volo_adapt.training.run import train
from volo_adapt.training.schedules import batch_to_epoch, lr_multiplier

UNACTIONABLE = (
    # the generators' schedule advancing through the critic warm-up, while their optimiser has not stepped yet
    r"Detected call of `lr_scheduler\.step\(\)` before `optimizer\.step\(\)`",
    # two owners of the batch-transfer hook (Lightning uses the DataModule's and ignores the module's)
    r"You have overridden `on_after_batch_transfer` in both",
    # Lightning asking for the validation loader of a run without a validation split (data.val_fraction 0)
    r"Total length of `\w+` across ranks is zero",
)


class LearningRates(L.Callback):
    """Every optimiser's per-group learning rates when each training batch starts, and whether it is a warm-up one."""

    def __init__(self) -> None:
        self.seen: list[tuple[bool, list[list[float]]]] = []

    def on_train_batch_start(self, trainer, module, *args) -> None:
        lrs = [[g["lr"] for g in opt.param_groups] for opt in trainer.optimizers]
        self.seen.append((module.in_critic_warmup(), lrs))


@pytest.mark.parametrize("val_fraction", [0.2, 0.0])
def test_a_critic_warmup_run_warns_about_nothing_a_user_cannot_act_on(tiny_data, tmp_path, val_fraction):
    """The smoke preset with a critic warm-up, with and without validation: no unactionable warning, and every batch
    trains at the learning rates of the schedule (what ``LambdaLR.step`` after every batch gave before the fix:
    ``base * multiplier(batch)``)."""
    cfg = smoke_config(tiny_data, "optim.critic_warmup=0.5", "train.max_steps=4", "train.sample_every_n_steps=0",
                       "train.checkpoint_every_n_steps=0", "train.logger=none", "train.val_every_n_steps=2",
                       f"data.val_fraction={val_fraction}")
    lrs = LearningRates()
    with warnings.catch_warnings():
        for pattern in UNACTIONABLE:
            warnings.filterwarnings("error", message=pattern)
        res = train(cfg, tmp_path / "run", progress=False, callbacks=[lrs])
    assert res.batches_done == 4
    module = res.module
    assert module is not None and module.planned_batches == 4
    assert [warmup for warmup, _ in lrs.seen] == [True, True, False, False]
    validated = any(k.startswith("val/") for k in module.trainer.callback_metrics)
    assert validated == (val_fraction > 0)
    o, t = cfg.optim, cfg.train
    for i, (_, seen) in enumerate(lrs.seen):
        m = lr_multiplier(o.schedule, batch_to_epoch(i, 4, t.max_epochs), t.max_epochs, o.warmup_epochs,
                          o.decay_start_epoch)
        assert seen == [[o.gen_lr * m] * 2, [o.critic_lr * m] * 2], f"batch {i}"
    opt_g, opt_d = (opt.optimizer for opt in module.optimizers())
    assert opt_g.state and opt_d.state, "both optimisers stepped (the generators' after the warm-up)"
    assert all(torch.isfinite(p).all() for p in module.gen_a2b.parameters())
