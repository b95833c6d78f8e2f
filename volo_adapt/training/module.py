"""The VoloGAN / CycleGAN LightningModule: two generators, two critics, manual optimisation.

Networks (attribute names are part of the checkpoint format, see :mod:`volo_adapt.checkpoint`):

* ``gen_a2b``: domain A (source, synthetic) -> domain B (target, sensor look); the direction that matters.
* ``gen_b2a``: B -> A.
* ``critic_a``: judges domain-A images (real A vs ``gen_b2a`` outputs).
* ``critic_b``: judges domain-B images (real B vs ``gen_a2b`` outputs).
* ``gen_a2b_ema`` / ``gen_b2a_ema`` (only when ``optim.ema_decay > 0``): exponential moving averages of the
  generators, plain copies updated after every generator step and never trained.

Optimisers, in this fixed order (checkpoints store them by position; built by
:func:`~volo_adapt.training.optimizers.build_optimizers`): 0. generators, groups ``[gen_a2b, gen_b2a]``;
1. critics, groups ``[critic_a, critic_b]``. The objective's routing (:mod:`volo_adapt.training.objective`) decides
which loss reaches which group. Each optimiser has a per-batch schedule
(:class:`~volo_adapt.training.optimizers.BatchLambdaLR` over :mod:`volo_adapt.training.schedules`), advanced once per
batch, also while its optimiser does not step.

Tensors entering :meth:`training_step` (from :class:`~volo_adapt.data.datamodule.UnpairedRGBDDataModule`):
``{"A": (B, C, S, S) float32 in [0, 1], "B": same, "valid_A": (B, 1, S, S) bool, "valid_B": same}`` with
RGB first and the encoded depth last (0 = invalid in every channel).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

from volo_adapt.build import build_codec, build_critic, build_generator
from volo_adapt.checkpoint import TRAIN_STATE_KEY, VOLO_KEY, volo_block
from volo_adapt.config import RunConfig
from volo_adapt.losses import reconstruction_kind_at
from volo_adapt.return_statistics import ReturnRateReference
from volo_adapt.training import step_mechanics as mechanics
from volo_adapt.training.auto_mechanics import resolve_step
from volo_adapt.training.checkpoint import collect_rng_state, restore_rng_state
from volo_adapt.training.ema import init_ema, update_ema
from volo_adapt.training.image_pool import ImagePool
from volo_adapt.training.objective import Backward, CycleObjective, Networks, parts_share_graph, splits_backward
from volo_adapt.training.optimizers import (
    BatchLambdaLR,
    build_optimizers,
    planned_batches_of,
    time_budget_fraction,
)
from volo_adapt.training.schedules import batch_to_epoch, lr_multiplier
from volo_adapt.training.step_stats import batch_stats, cheap_val_metrics

log = logging.getLogger(__name__)

OPTIMIZER_ORDER = ("generators", "critics")
"""Position of each optimiser (and its scheduler) in ``configure_optimizers`` and in checkpoints."""

ValMetricsFn = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], dict[str, torch.Tensor]]
"""``fn(batch, outputs) -> {name: scalar tensor}``; ``outputs`` holds ``fake_A, fake_B, cyc_A, cyc_B``."""


class VoloGANModule(L.LightningModule):
    """Unpaired RGB-D translation with two generators and two critics (manual optimisation).

    The objective (``loss.routing``, cycle, identity, SSIM, geometry and SWD terms, masks, weights, critic losses,
    the split backward) is :class:`~volo_adapt.training.objective.CycleObjective`; this module runs the steps
    around it. The generator step back-propagates the objective's three independent parts one by one when
    :attr:`splits_backward`, else its total once, with the critics frozen (``toggled_optimizer``). The critics are
    then updated from the *same* forward pass: real images against the detached fakes (through the image pools
    when ``optim.pool_size > 0``). During the first ``optim.critic_warmup`` share of the run only the critics are
    trained (:meth:`in_critic_warmup`).

    Non-finite losses or gradients skip that optimiser step (counted in ``health/skipped_steps``); after
    ``train.max_bad_steps`` consecutive bad batches the module sets :attr:`diverged` and asks the trainer
    to stop (the caller saves the last good state and reports). With ``16-mixed`` on GPU, infinite
    gradients are the grad scaler's business (it skips the step and lowers the scale) and are not
    counted as divergence.

    Args:
        cfg: the run configuration (model, loss, optim, train sections are used here).
    """

    def __init__(self, cfg: RunConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.automatic_optimization = False
        self.gen_a2b = build_generator(cfg.model, cfg.data, "a2b")
        self.gen_b2a = build_generator(cfg.model, cfg.data, "b2a")
        self.critic_a = build_critic(cfg.model)
        self.critic_b = build_critic(cfg.model)
        self.ema_decay = float(cfg.optim.ema_decay)
        if self.ema_decay > 0:
            self.gen_a2b_ema = init_ema(build_generator(cfg.model, cfg.data, "a2b"), self.gen_a2b)
            self.gen_b2a_ema = init_ema(build_generator(cfg.model, cfg.data, "b2a"), self.gen_b2a)
        self.codec = build_codec(cfg.data)
        counts = cfg.loss.return_rate_weight > 0 or cfg.loss.birth_rate_weight > 0
        self.return_reference = ReturnRateReference(self.codec.gap) if counts else None
        """Running per-bin return counts of both domains' real images (the return-rate term's keep rates, the
        birth-rate term's returns per source return)."""
        self.step_choice = resolve_step(cfg)
        """``train.split_backward`` and ``train.batch_calls`` resolved (``auto`` from the measured table,
        training/auto_mechanics.py) and why; :attr:`splits_backward` adds the conditions that rule the split out
        (DDP, checkpointing)."""
        self.memory_format = mechanics.prepare(self, cfg.train)
        """Memory format of the networks and of every batch (``train.memory_format``, training/step_mechanics.py);
        :meth:`training_step` and :meth:`validation_step` bring their batch into it (the DataModule is the one owner
        of ``on_after_batch_transfer``: Lightning calls only one of the two hooks)."""
        self.pool_a = ImagePool(cfg.optim.pool_size)  # fakes of domain A (gen_b2a outputs) for critic_a
        self.pool_b = ImagePool(cfg.optim.pool_size)
        self.batches_done = 0
        """Training batches completed (the run's step counter; ``trainer.global_step`` counts optimiser steps)."""
        self.planned_batches = 1
        """Batches this run plans to do (set in ``configure_optimizers``); defines schedule progress."""
        self.skipped_steps = 0
        self.bad_in_row = 0
        self.diverged = False
        self.last_stats: dict[str, float] = {}
        """Per-batch scalars for the health monitor (losses, fakes' std)."""
        self.val_metrics_fn: ValMetricsFn | None = None
        """Optional extra validation metrics (e.g. from volo_adapt.metrics), logged under ``val/``."""

    # ------------------------------------------------------------------ helpers

    @property
    def ema_enabled(self) -> bool:
        return self.ema_decay > 0

    def progress(self) -> float:
        """Fraction of the run done, in ``[0, 1]``: of the time budget with ``train.max_time``, else of the
        planned batches."""
        fraction = self.time_fraction()
        if fraction is not None:
            return fraction
        return min(1.0, self.batches_done / max(1, self.planned_batches))

    def in_critic_warmup(self) -> bool:
        """True during the first ``optim.critic_warmup`` share of the run, when only the critics are trained.

        A residual generator starts as the identity, so its first fakes are the source images themselves: a critic
        trained on them first learns what tells the domains apart, and the generators then start from a critic
        that already has something to say (a critic step costs a fraction of a generator step). All ranks take
        the same decision (a time budget is measured per rank).
        """
        share = self.cfg.optim.critic_warmup
        if share <= 0:
            return False
        return self._agree(self.progress() < share) if self._trainer is not None else self.progress() < share

    def time_fraction(self) -> float | None:
        """Elapsed share of the ``train.max_time`` budget (Lightning's Timer callback; restored on resume), or None
        without a budget or outside a trainer."""
        return time_budget_fraction(self._trainer, self.cfg.train.max_time)

    @property
    def parts_share_graph(self) -> bool:
        """Whether the generator step's parts need ``retain_graph`` (:func:`~volo_adapt.training.objective.
        parts_share_graph`)."""
        return parts_share_graph(self.networks, self.cfg.train)

    @property
    def splits_backward(self) -> bool:
        """Whether the generator step back-propagates its three parts one by one (``train.split_backward``, resolved
        in :attr:`step_choice`; :func:`~volo_adapt.training.objective.splits_backward`, on this trainer's number of
        processes)."""
        world = self.trainer.world_size if self._trainer is not None else 1
        return splits_backward(self.networks, self.cfg.train, world, self.step_choice.split_backward)

    def _uses_grad_scaler(self) -> bool:
        plugin = getattr(self.trainer, "precision_plugin", None)
        return getattr(plugin, "scaler", None) is not None

    def _agree(self, ok: bool) -> bool:
        """All ranks take the same decision (a rank skipping a backward the others do would hang DDP)."""
        return bool(self.trainer.strategy.reduce_boolean_decision(bool(ok), all=True))

    @staticmethod
    def _grads_finite(params: list[nn.Parameter]) -> bool:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return True
        norms = torch._foreach_norm(grads)
        return bool(torch.isfinite(torch.stack([n.float() for n in norms])).all())

    def _networks_of(self, optimizer: torch.optim.Optimizer) -> list[list[nn.Parameter]]:
        return [list(g["params"]) for g in optimizer.param_groups]

    # ------------------------------------------------------------------ losses

    @property
    def networks(self) -> Networks:
        """The four trained networks (references)."""
        return Networks(self.gen_a2b, self.gen_b2a, self.critic_a, self.critic_b)

    @property
    def objective(self) -> CycleObjective:
        """The objective on this module's networks and config (a plain object without state, built on each use)."""
        return CycleObjective(self.networks, self.cfg.loss, self.codec, batch_calls=self.step_choice.batch_calls,
                              geometry_scale=self.cfg.model.sensor.geometry_scale,
                              return_reference=self.return_reference)

    def generator_losses(
        self,
        real_a: torch.Tensor,
        real_b: torch.Tensor,
        valid_a: torch.Tensor | None = None,
        valid_b: torch.Tensor | None = None,
        rec_kind: str = "l1",
        backward: Backward | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """:meth:`CycleObjective.generator_losses <volo_adapt.training.objective.CycleObjective.generator_losses>`
        on this module's networks: ``(losses, images)``."""
        return self.objective.generator_losses(real_a, real_b, valid_a, valid_b, rec_kind, backward)

    def critic_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Critic losses on real images and (detached, pooled) fakes: ``{"A", "B", "total"}`` scalars."""
        pa = self.pool_a.query(fake_a.detach())
        pb = self.pool_b.query(fake_b.detach())
        return self.objective.critic_losses(real_a, real_b, pa, pb)

    # ------------------------------------------------------------------ training

    def _optimise(self, opt: Any, loss: torch.Tensor, backward_done: bool = False) -> bool:
        """zero_grad, backward, step unless the loss or (unscaled) gradients are non-finite. Returns stepped.
        ``backward_done``: the gradients of ``loss`` are already there (``train.split_backward``)."""
        if not self._agree(bool(torch.isfinite(loss.detach()).all())):
            opt.zero_grad(set_to_none=True)
            return False
        if not backward_done:
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
        if not self._uses_grad_scaler():
            params = [p for group in self._networks_of(opt.optimizer) for p in group]
            # gradients were all-reduced by DDP, so every rank sees the same verdict
            if not self._grads_finite(params):
                opt.zero_grad(set_to_none=True)
                return False
        opt.step()  # clipping happens in on_before_optimizer_step (unscaled gradients under 16-mixed)
        return True

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """One batch: generator step (or the critic warm-up's fakes), critic step, EMA, schedulers, health, logs.
        Returns nothing (manual optimisation)."""
        batch = mechanics.to_memory_format(batch, self.memory_format)
        opt_g, opt_d = self.optimizers()
        real_a, real_b = batch["A"], batch["B"]
        if self.return_reference is not None:
            self.return_reference.update(real_a, real_b)
        if self.in_critic_warmup():  # only the critics learn; the fakes come from the current generators
            g_losses, images, g_ok = {}, self._warmup_fakes(real_a, real_b), True
        else:
            g_losses, images, g_ok = self._generator_step(opt_g, batch)
        d_losses, d_ok = self._critic_step(opt_d, real_a, real_b, images)
        if g_losses and g_ok and self.ema_enabled:
            update_ema(self.gen_a2b_ema, self.gen_a2b, self.ema_decay)
            update_ema(self.gen_b2a_ema, self.gen_b2a, self.ema_decay)
        for sch in self.lr_schedulers():
            sch.advance()  # also when its optimiser did not step (the critic warm-up): see BatchLambdaLR
        self.batches_done += 1
        self._track_health(g_ok, d_ok)
        self.last_stats = batch_stats(images, d_losses, real_a.shape[0],
                                      {"fake_A": self._with_returns(real_b), "fake_B": self._with_returns(real_a)})
        self._log_step(opt_g, opt_d, g_losses, d_losses, real_a.shape[0])

    @torch.no_grad()
    def _with_returns(self, real: torch.Tensor) -> torch.Tensor:
        """``real`` with every channel 0 where its depth has no return: the variation a translation can keep (an
        image without any return translates to a blank image under ``validity: depth``)."""
        return real * self.codec.valid_from_encoded(real[:, -1:].float()).to(real.dtype)

    def _warmup_fakes(self, real_a: torch.Tensor, real_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """``fake_A``, ``fake_B`` of the current generators without gradients (the critic warm-up's batches)."""
        with torch.no_grad(), mechanics.weights_once(self.gen_a2b, self.gen_b2a, enabled=self.cfg.train.cache_weights):
            return {"fake_A": self.gen_b2a(real_b), "fake_B": self.gen_a2b(real_a)}

    def _generator_step(self, opt_g: Any, batch: dict[str, torch.Tensor]
                        ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], bool]:
        """The generators' losses with the critics frozen (``toggled_optimizer``) and their optimiser step;
        each network's spectral-norm weights computed once (``train.cache_weights``). Returns
        ``(losses, images, stepped)``."""
        rec_kind = reconstruction_kind_at(self.progress(), self.cfg.loss.l1_to_l2_at)
        nets = self.networks.all()
        with self.toggled_optimizer(opt_g), mechanics.weights_once(*nets, enabled=self.cfg.train.cache_weights):
            backward = None
            if self.splits_backward:  # each part's graph is dropped after its backward (train.split_backward)
                opt_g.zero_grad(set_to_none=True)
                backward = functools.partial(self.manual_backward, retain_graph=self.parts_share_graph)
            losses, images = self.generator_losses(batch["A"], batch["B"], batch.get("valid_A"), batch.get("valid_B"),
                                                   rec_kind, backward)
            ok = self._optimise(opt_g, losses["total"], backward_done=backward is not None)
        return losses, images, ok

    def _critic_step(self, opt_d: Any, real_a: torch.Tensor, real_b: torch.Tensor, images: dict[str, torch.Tensor]
                     ) -> tuple[dict[str, torch.Tensor], bool]:
        """The critics' losses on the reals against the (pooled) fakes and their optimiser step: ``(losses, ok)``."""
        with self.toggled_optimizer(opt_d), mechanics.weights_once(self.critic_a, self.critic_b,
                                                                   enabled=self.cfg.train.cache_weights):
            losses = self.critic_losses(real_a, real_b, images["fake_A"], images["fake_B"])
            return losses, self._optimise(opt_d, losses["total"])

    def _track_health(self, g_ok: bool, d_ok: bool) -> None:
        """Count skipped steps; after ``train.max_bad_steps`` bad batches in a row set :attr:`diverged` and stop."""
        self.skipped_steps += int(not g_ok) + int(not d_ok)
        self.bad_in_row = 0 if (g_ok and d_ok) else self.bad_in_row + 1
        if self.bad_in_row >= self.cfg.train.max_bad_steps:
            self.diverged = True
            self.trainer.should_stop = True
            log.error(
                "training diverged: %d consecutive batches with non-finite losses or gradients (batch %d); stopping",
                self.bad_in_row,
                self.batches_done,
            )

    def _log_step(self, opt_g: Any, opt_d: Any, g_losses: dict[str, torch.Tensor], d_losses: dict[str, torch.Tensor],
                  n: int) -> None:
        """Log the batch's losses (``loss/G/*``, ``loss/D/*``), learning rates and counters; G and D on the bar."""
        logs = {f"loss/G/{k}": v.detach() for k, v in g_losses.items()}
        logs.update({f"loss/D/{k}": v.detach() for k, v in d_losses.items()})
        logs["lr/G"] = opt_g.optimizer.param_groups[0]["lr"]
        logs["lr/D"] = opt_d.optimizer.param_groups[0]["lr"]
        logs["health/skipped_steps"] = float(self.skipped_steps)
        logs["train/batches"] = float(self.batches_done)
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=n)
        self.log_dict(
            {"G": g_losses["total"].detach() if g_losses else math.nan, "D": d_losses["total"].detach()},
            prog_bar=True, logger=False, on_step=True, on_epoch=False, batch_size=n,
        )

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Clip each network's gradient norm to ``optim.grad_clip`` (one parameter group = one network).

        Lightning calls this hook from inside ``opt.step()``, after the 16-mixed grad scaler has unscaled the
        gradients, so the threshold applies to true gradients under every precision. ``self.clip_gradients``
        would clip the joint norm of both networks of the optimiser; per-network clipping keeps one network's
        large gradient from shrinking the other's.
        """
        clip = self.cfg.optim.grad_clip
        if clip > 0:
            for params in self._networks_of(optimizer):
                torch.nn.utils.clip_grad_norm_(params, clip, foreach=True)

    # ------------------------------------------------------------------ validation

    @torch.no_grad()
    def translate_both_ways(self, real_a: torch.Tensor, real_b: torch.Tensor, use_ema: bool = False) -> dict[str, Any]:
        """Fakes and cycles without gradients: ``fake_A, fake_B, cyc_A, cyc_B`` ``(B, C, S, S)`` in [0, 1]."""
        g_ab = self.gen_a2b_ema if (use_ema and self.ema_enabled) else self.gen_a2b
        g_ba = self.gen_b2a_ema if (use_ema and self.ema_enabled) else self.gen_b2a
        fake_b, fake_a = g_ab(real_a), g_ba(real_b)
        return {"fake_A": fake_a, "fake_B": fake_b, "cyc_A": g_ba(fake_b), "cyc_B": g_ab(fake_a)}

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        """Metrics on held-out images, logged per epoch under ``val/``: the cheap ones
        (:func:`~volo_adapt.training.step_stats.cheap_val_metrics`: cycle L1, invalid-depth fractions of real and
        translated B) and anything returned by :attr:`val_metrics_fn`."""
        batch = mechanics.to_memory_format(batch, self.memory_format)
        real_a, real_b = batch["A"], batch["B"]
        out = self.translate_both_ways(real_a, real_b)
        n = real_a.shape[0]
        metrics = cheap_val_metrics(real_a, real_b, out, self.codec)
        if self.val_metrics_fn is not None:
            for k, v in self.val_metrics_fn(batch, out).items():
                metrics[k if k.startswith("val/") else f"val/{k}"] = v
        self.log_dict(metrics, on_step=False, on_epoch=True, sync_dist=True, batch_size=n)

    # ------------------------------------------------------------------ optimisers

    def configure_optimizers(self) -> tuple[list[torch.optim.Optimizer], list[Any]]:
        """``[generators, critics]`` optimisers (order fixed: :data:`OPTIMIZER_ORDER`) and their per-batch schedules.

        The schedule is a function of the batch counter stretched over the planned batches of *this* run
        (:func:`~volo_adapt.training.schedules.planned_batches`), so resuming with a different ``max_steps``
        re-plans the remaining schedule. The lambdas are closures, which ``LambdaLR`` does not store in
        checkpoints (only its counters), so the plan always comes from the current config.
        """
        o, t = self.cfg.optim, self.cfg.train
        opt_g, opt_d = build_optimizers(o, self.networks)
        self.planned_batches = planned = planned_batches_of(self._trainer, t)
        kind, max_epochs = o.schedule, t.max_epochs
        warmup, decay_start = o.warmup_epochs, o.decay_start_epoch

        def multiplier(batch_index: int) -> float:
            fraction = self.time_fraction()  # a time budget plans the schedule over wall-clock time
            if fraction is not None:
                epoch = fraction * max_epochs
            else:
                epoch = batch_to_epoch(batch_index, planned, max_epochs)
            return lr_multiplier(kind, epoch, max_epochs, warmup, decay_start)

        schedulers = [BatchLambdaLR(opt, multiplier) for opt in (opt_g, opt_d)]
        return [opt_g, opt_d], schedulers

    # ------------------------------------------------------------------ checkpoints

    @classmethod
    def load_from_checkpoint(  # type: ignore[override]
        cls, checkpoint_path: str | Path, map_location: Any = None, strict: bool = True, **kwargs: Any
    ) -> VoloGANModule:
        """Lightning's ``Module.load_from_checkpoint(path)``: the module rebuilt from the config stored in the
        checkpoint (``checkpoint["volo"]["config"]``), with its weights loaded; eval mode is left to the caller.

        Keyword arguments other than ``map_location`` and ``strict`` are refused (the stored config is the one
        source of the architecture; to change the run use ``volo train --resume``). See
        :func:`volo_adapt.training.checkpoint.load_module`.
        """
        from volo_adapt.training.checkpoint import load_module

        return load_module(cls, checkpoint_path, map_location=map_location, strict=strict, **kwargs)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add the ``volo`` block (format, version, config) and the training state outside ``state_dict``."""
        checkpoint[VOLO_KEY] = volo_block(self.cfg)
        checkpoint[TRAIN_STATE_KEY] = {
            "batches_done": self.batches_done,
            "skipped_steps": self.skipped_steps,
            "bad_in_row": self.bad_in_row,
            "pool_a": self.pool_a.state_dict(),
            "pool_b": self.pool_b.state_dict(),
            "rng": collect_rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore counters, pools and RNG streams (before Lightning creates the data iterators)."""
        state = checkpoint.get(TRAIN_STATE_KEY)
        if not state:
            return
        self.batches_done = int(state["batches_done"])
        self.skipped_steps = int(state["skipped_steps"])
        self.bad_in_row = 0  # a resumed run gets the full max_bad_steps tolerance again
        self.pool_a.load_state_dict(state["pool_a"])
        self.pool_b.load_state_dict(state["pool_b"])
        restore_rng_state(state["rng"])

    def on_train_start(self) -> None:
        # pools restored from a CPU checkpoint follow the model's device
        for pool in (self.pool_a, self.pool_b):
            pool.images = [t.to(self.device) for t in pool.images]
