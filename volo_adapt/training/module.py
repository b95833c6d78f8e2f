"""The VoloGAN / CycleGAN LightningModule: two generators, two critics, manual optimisation.

Networks (attribute names are part of the checkpoint format, see :mod:`volo_adapt.training.checkpoint`):

* ``gen_a2b``: domain A (source, synthetic) -> domain B (target, sensor look); the direction that matters.
* ``gen_b2a``: B -> A.
* ``critic_a``: judges domain-A images (real A vs ``gen_b2a`` outputs).
* ``critic_b``: judges domain-B images (real B vs ``gen_a2b`` outputs).
* ``gen_a2b_ema`` / ``gen_b2a_ema`` (only when ``optim.ema_decay > 0``): exponential moving averages of the
  generators, plain copies updated after every generator step and never trained.

Optimisers, in this fixed order (checkpoints store them by position):

0. generators: one optimiser with two parameter groups, ``[gen_a2b, gen_b2a]`` (NAdam as in the original, or
   Adam as in CycleGAN). NAdam/Adam are element-wise, so one optimiser over both generators updates each exactly
   as two separate optimisers would; the routing below decides which loss reaches which group.
1. critics: one optimiser with two parameter groups, ``[critic_a, critic_b]`` (SGD with momentum, or Adam).

Each optimiser has a ``LambdaLR`` scheduler stepped once per batch (see :mod:`volo_adapt.training.schedules`).

Tensors entering :meth:`training_step` (from :class:`~volo_adapt.data.datamodule.UnpairedRGBDDataModule`):
``{"A": (B, C, S, S) float32 in [0, 1], "B": same, "valid_A": (B, 1, S, S) bool, "valid_B": same}`` with
RGB first and the encoded depth last (0 = invalid in every channel).
"""

from __future__ import annotations

import functools
import logging
import math
import operator
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import nn

import volo_adapt
from volo_adapt.build import build_codec, build_critic, build_generator
from volo_adapt.config import RunConfig
from volo_adapt.losses import (
    adversarial_d_loss,
    adversarial_g_loss,
    depth_geometry_loss,
    patch_sliced_wasserstein,
    reconstruction_kind_at,
    ssim_loss,
    weighted_reconstruction_loss,
)
from volo_adapt.models.sensor_head import SensorAwareGenerator
from volo_adapt.training import step_mechanics as mechanics
from volo_adapt.training.checkpoint import CHECKPOINT_FORMAT, collect_rng_state, restore_rng_state
from volo_adapt.training.ema import init_ema, update_ema
from volo_adapt.training.image_pool import ImagePool
from volo_adapt.training.schedules import batch_to_epoch, lr_multiplier, planned_batches

log = logging.getLogger(__name__)

OPTIMIZER_ORDER = ("generators", "critics")

LOSS_TERMS = ("adv", "cycle", "id", "ssim", "geo", "swd")
"""The generator loss terms of one domain, in the order its total sums them (weights: ``loss.*_weight``; adv 1)."""
"""Position of each optimiser (and its scheduler) in ``configure_optimizers`` and in checkpoints."""

ValMetricsFn = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], dict[str, torch.Tensor]]
"""``fn(batch, outputs) -> {name: scalar tensor}``; ``outputs`` holds ``fake_A, fake_B, cyc_A, cyc_B``."""


def deterministic(generator: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``generator(x)`` with its random parts switched off (sensor-aware generators); plain generators as is."""
    if isinstance(generator, SensorAwareGenerator):
        return generator(x, stochastic=False)
    return generator(x)


def deterministic_on_each(generator: nn.Module, inputs: Sequence[torch.Tensor], batched: bool) -> list[torch.Tensor]:
    """:func:`deterministic` on each of ``inputs`` (each ``(B_i, C, H, W)``), as one call on the inputs stacked
    along the batch when ``batched`` (the same results: every normalisation in our networks is per sample)."""
    if not batched or len(inputs) == 1:
        return [deterministic(generator, x) for x in inputs]
    return list(deterministic(generator, torch.cat(list(inputs), 0)).split([x.shape[0] for x in inputs], 0))


def critic_on_each(critic: nn.Module, inputs: Sequence[torch.Tensor], batched: bool) -> list[list[torch.Tensor]]:
    """``critic(x)`` (a sequence of score maps, one per head) for each of ``inputs``, batched as in
    :func:`deterministic_on_each`."""
    if not batched or len(inputs) == 1:
        return [list(critic(x)) for x in inputs]
    sizes = [x.shape[0] for x in inputs]
    heads = [h.split(sizes, 0) for h in critic(torch.cat(list(inputs), 0))]
    return [[h[i] for h in heads] for i in range(len(inputs))]


def masked(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` with every channel zeroed outside ``mask`` (``(B, 1, H, W)`` bool), or unchanged for None."""
    if mask is None:
        return x, y
    m = mask.to(x.dtype)
    return x * m, y * m


class VoloGANModule(L.LightningModule):
    """Unpaired RGB-D translation with two generators and two critics (manual optimisation).

    Gradient routing (``loss.routing``):

    * ``vologan`` (the original): one forward pass; two per-domain totals::

          total_B = adv(critic_b(gen_a2b(A))) + l_cyc * cyc(B, gen_a2b(gen_b2a(B)))
                    + l_id * id(B, gen_a2b(B)) + l_ssim * (1 - SSIM(B, gen_a2b(gen_b2a(B))))
          total_A = the same with A and B (and the two generators) swapped

      plus, when enabled, ``l_geo * geometry(A, gen_a2b(A))`` (depth moved against the source, metres) and
      ``l_swd * SWD(gen_a2b(A), B)`` (patch sliced Wasserstein); reconstructions run deterministically
      (:func:`deterministic`) and may be masked to the pixels kept (``loss.reconstruction_mask``).
      ``gen_a2b`` is updated by the gradient of ``total_B`` only, ``gen_b2a`` by ``total_A`` only (the original
      took ``tape.gradient(total_B, gen_a2b.variables)``). Every term of ``total_B`` has ``gen_a2b`` as the
      *last* network applied; the only path from ``total_B`` into ``gen_b2a`` is through the intermediate
      ``gen_b2a(B)`` of the B->A->B cycle. That intermediate is **detached** before it enters ``gen_a2b``
      (likewise ``gen_a2b(A)`` inside the A->B->A cycle), so ``total_B`` depends on ``gen_a2b``'s weights only
      and ``total_A`` on ``gen_b2a``'s only. One backward of ``total_A + total_B`` then gives each generator
      exactly the gradient of its own total (what the original computed with two tape gradients), in a single
      DDP-friendly backward that also skips back-propagating through the other generator.
    * ``cyclegan`` (textbook): the same terms without the detach, one total
      ``adv_A + adv_B + l_cyc (cyc_A + cyc_B) + l_id (id_A + id_B) + l_ssim (ssim_A + ssim_B)`` whose gradient
      reaches both generators through the cycles.

    In both routings the total falls into three parts that share no activations: the cycle from A with the
    adversarial term on ``gen_a2b(A)`` (and the geometry and SWD terms of that fake), the cycle from B, and the
    identity terms. With ``train.split_backward`` (the default on one process) each part is back-propagated as
    soon as it is computed and its graph dropped, which gives the gradient of the total while holding about a
    third of the activations (:meth:`generator_losses`); otherwise one backward of the total.

    In both routings the critics are then updated from the *same* forward pass: real images against the
    detached fakes (through the image pool when ``optim.pool_size > 0``). During the first ``optim.critic_warmup``
    share of the run only the critics are trained (:meth:`in_critic_warmup`). Critic weights are frozen
    (``toggled_optimizer``) while the generators' adversarial terms are computed.

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
        self.gen_a2b = build_generator(cfg.model, cfg.data)
        self.gen_b2a = build_generator(cfg.model, cfg.data)
        self.critic_a = build_critic(cfg.model)
        self.critic_b = build_critic(cfg.model)
        self.ema_decay = float(cfg.optim.ema_decay)
        if self.ema_decay > 0:
            self.gen_a2b_ema = init_ema(build_generator(cfg.model, cfg.data), self.gen_a2b)
            self.gen_b2a_ema = init_ema(build_generator(cfg.model, cfg.data), self.gen_b2a)
        self.codec = build_codec(cfg.data)
        self.memory_format = mechanics.prepare(self, cfg.train)
        """Memory format of the networks and of every batch (``train.memory_format``, training/step_mechanics.py)."""
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
        trainer = self._trainer
        if not self.cfg.train.max_time or trainer is None:
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

    @property
    def parts_share_graph(self) -> bool:
        """Whether the generator step's parts share graph nodes: the spectral-norm weights computed once per step
        (``train.cache_weights``) of parametrised networks. Back-propagating them part by part then needs
        ``retain_graph``."""
        nets = (self.gen_a2b, self.gen_b2a, self.critic_a, self.critic_b)
        return bool(self.cfg.train.cache_weights) and bool(mechanics.parametrized_modules(*nets))

    @property
    def splits_backward(self) -> bool:
        """Whether the generator step back-propagates its three parts one by one (``train.split_backward``): on one
        process only (under DDP each backward would all-reduce the gradients; there it is one backward), and not
        with activation checkpointing when the parts share graph nodes: ``retain_graph`` also keeps a checkpointed
        segment's recomputed activations until the part's graph is freed (the vologan step at 512 px peaked at
        7.6 GiB split against 6.2 GiB in one backward)."""
        world = self.trainer.world_size if self._trainer is not None else 1
        if not self.cfg.train.split_backward or world != 1:
            return False
        return not (self.cfg.train.activation_checkpointing and self.parts_share_graph)

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

    def generator_losses(
        self,
        real_a: torch.Tensor,
        real_b: torch.Tensor,
        valid_a: torch.Tensor | None = None,
        valid_b: torch.Tensor | None = None,
        rec_kind: str = "l1",
        backward: Callable[[torch.Tensor], None] | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """One forward pass of both generators and the generators' loss terms.

        Args:
            real_a: ``(B, C, S, S)`` float in [0, 1], domain A.
            real_b: same, domain B.
            valid_a: ``(B, 1, S, S)`` bool valid-depth mask of ``real_a`` (used with ``loss.mask_invalid``).
            valid_b: same for ``real_b``.
            rec_kind: ``l1`` | ``l2`` for the cycle and identity terms.
            backward: None = build one graph for all terms (the caller back-propagates ``total``). Else the
                terms come in three independent parts, each handed to ``backward`` as soon as it is computed and
                its graph dropped after (``train.split_backward``): the cycle from A (``adv_B``, ``cycle_A``,
                ``ssim_A``, ``geo_B``, ``swd_B``), the cycle from B (the same with A and B swapped) and the
                identity terms. No part's output enters another part's loss, so the gradients are those of
                ``total`` (summed in another order), while only one part's activations are alive at a time.

        Returns:
            ``(losses, images)``: scalar losses ``adv_A, adv_B, cycle_A, cycle_B, id_A, id_B, ssim_A, ssim_B,
            geo_A, geo_B, swd_A, swd_B, total_A, total_B, total`` (A = terms on domain-A images, trained into
            ``gen_b2a`` under vologan routing) and images ``fake_A, fake_B, cyc_A, cyc_B`` (``(B, C, S, S)``;
            graph attached, or detached when ``backward`` is given).
        """
        lc = self.cfg.loss
        mask_a = valid_a if lc.mask_invalid else None
        mask_b = valid_b if lc.mask_invalid else None
        g_ab, g_ba = self.gen_a2b, self.gen_b2a
        with_id = lc.identity_weight > 0
        terms: dict[str, torch.Tensor] = {}
        if backward is None:
            # the fakes the critics judge are samples (sensor noise and sampled holes on, for generators that have
            # them); every reconstruction is deterministic, so cycle and identity terms cannot punish the sampling
            fake_b = g_ab(real_a)
            fake_a = g_ba(real_b)
            # each generator's deterministic calls (cycle reconstruction, identity image) go in one batched call
            batched = self.cfg.train.batch_calls
            recs_a = deterministic_on_each(g_ba, [self._cycle_input(fake_b), real_a][: 1 + with_id], batched)
            recs_b = deterministic_on_each(g_ab, [self._cycle_input(fake_a), real_b][: 1 + with_id], batched)
            cyc_a, cyc_b = recs_a[0], recs_b[0]
            terms.update(self._cycle_terms("A", "B", real_a, fake_b, cyc_a, real_b, mask_a, rec_kind))
            terms.update(self._cycle_terms("B", "A", real_b, fake_a, cyc_b, real_a, mask_b, rec_kind))
            if with_id:
                terms.update(self._identity_terms(real_a, real_b, recs_a[1], recs_b[1], mask_a, mask_b, rec_kind))
        else:
            # the same calls in the same order of random draws for the fakes (fake_B first)
            part_a, fake_b, cyc_a = self._cycle_part("A", "B", real_a, real_b, mask_a, rec_kind, backward)
            part_b, fake_a, cyc_b = self._cycle_part("B", "A", real_b, real_a, mask_b, rec_kind, backward)
            terms.update(part_a)
            terms.update(part_b)
            if with_id:
                ids = self._identity_terms(real_a, real_b, deterministic(g_ba, real_a), deterministic(g_ab, real_b),
                                           mask_a, mask_b, rec_kind)
                backward(self._weighted(ids))
                terms.update({k: v.detach() for k, v in ids.items()})
        zero = real_a.new_zeros((), dtype=torch.float32)
        for d in ("A", "B"):
            for name in ("id", "ssim", "geo", "swd"):
                terms.setdefault(f"{name}_{d}", zero)
            terms[f"total_{d}"] = self._weighted({f"{n}_{d}": terms[f"{n}_{d}"] for n in LOSS_TERMS})
        terms["total"] = terms["total_A"] + terms["total_B"]
        return terms, {"fake_A": fake_a, "fake_B": fake_b, "cyc_A": cyc_a, "cyc_B": cyc_b}

    def _weighted(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of generator loss terms named ``{term}_{domain}`` (``term`` one of
        :data:`LOSS_TERMS`), in the order given: the one place the ``loss.*_weight`` values are applied."""
        lc = self.cfg.loss
        weight = {"adv": 1.0, "cycle": lc.cycle_weight, "id": lc.identity_weight, "ssim": lc.ssim_weight,
                  "geo": lc.geometry_weight, "swd": lc.swd_weight}
        parts = [weight[name.split("_")[0]] * value for name, value in terms.items()]
        return functools.reduce(operator.add, parts)  # left to right, as the one-graph total always summed

    def _cycle_input(self, fake: torch.Tensor) -> torch.Tensor:
        """The fake as it enters the other generator: detached under vologan routing, which cuts the path from
        one domain's total into the generator that made the fake (see the class docstring)."""
        return fake.detach() if self.cfg.loss.routing == "vologan" else fake

    def _generators_from(self, src: str) -> tuple[nn.Module, nn.Module, nn.Module]:
        """``(generator from src, generator back to src, critic of the fakes)`` for domain ``src`` (A or B)."""
        if src == "A":
            return self.gen_a2b, self.gen_b2a, self.critic_b
        return self.gen_b2a, self.gen_a2b, self.critic_a

    def _cycle_terms(self, src: str, dst: str, real: torch.Tensor, fake: torch.Tensor, cyc: torch.Tensor,
                     real_dst: torch.Tensor, mask: torch.Tensor | None, rec_kind: str) -> dict[str, torch.Tensor]:
        """The terms of the cycle that starts at domain ``src``: ``adv_{dst}`` (the critic of ``dst`` on
        ``fake``), ``cycle_{src}`` and ``ssim_{src}`` (``cyc`` against ``real``), ``geo_{dst}`` (``fake``'s depth
        against its source ``real``) and ``swd_{dst}`` (``fake`` against the unpaired ``real_dst``), the
        disabled ones left out. Tensors ``(B, C, S, S)``; ``mask`` the valid pixels of ``real`` or None."""
        lc, w = self.cfg.loss, self.cfg.loss.channel_weights
        kept = None
        if lc.reconstruction_mask == "kept":  # see LossConfig.reconstruction_mask
            with torch.no_grad():
                kept = self.codec.valid_from_encoded(real[:, -1:].float()) & self.codec.valid_from_encoded(
                    fake[:, -1:].float())
        critic = self._generators_from(src)[2]
        terms = {f"adv_{dst}": adversarial_g_loss(lc.adversarial, critic(fake)),
                 f"cycle_{src}": weighted_reconstruction_loss(real, cyc, w, rec_kind, mask, pixel_mask=kept)}
        if lc.geometry_weight > 0:
            c = self.codec
            terms[f"geo_{dst}"] = depth_geometry_loss(real, fake, c.near, c.far, c.gap)
        if lc.swd_weight > 0:
            terms[f"swd_{dst}"] = patch_sliced_wasserstein(fake, real_dst, channel_weights=w, max_patches=4096,
                                                           highpass=lc.swd_highpass)
        if lc.ssim_weight > 0:
            terms[f"ssim_{src}"] = ssim_loss(*masked(real, cyc, kept), w, lc.ssim_kind)
        return terms

    def _cycle_part(self, src: str, dst: str, real: torch.Tensor, real_dst: torch.Tensor, mask: torch.Tensor | None,
                    rec_kind: str, backward: Callable[[torch.Tensor], None]
                    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One cycle's forward, terms and backward (``train.split_backward``); returns its terms and its fake and
        reconstruction, all detached, so that nothing keeps the part's graph alive after this returns."""
        gen, back, _ = self._generators_from(src)
        fake = gen(real)
        cyc = deterministic(back, self._cycle_input(fake))
        terms = self._cycle_terms(src, dst, real, fake, cyc, real_dst, mask, rec_kind)
        backward(self._weighted(terms))
        return {k: v.detach() for k, v in terms.items()}, fake.detach(), cyc.detach()

    def _identity_terms(self, real_a: torch.Tensor, real_b: torch.Tensor, id_a: torch.Tensor, id_b: torch.Tensor,
                        mask_a: torch.Tensor | None, mask_b: torch.Tensor | None, rec_kind: str
                        ) -> dict[str, torch.Tensor]:
        """``id_A`` (``gen_b2a(A)`` against A) and ``id_B``, on the pixels valid in the real image when
        ``loss.reconstruction_mask`` is ``kept``."""
        lc, w = self.cfg.loss, self.cfg.loss.channel_weights
        kept_a = kept_b = None
        if lc.reconstruction_mask == "kept":
            with torch.no_grad():
                kept_a, kept_b = (self.codec.valid_from_encoded(t[:, -1:].float()) for t in (real_a, real_b))
        return {"id_A": weighted_reconstruction_loss(real_a, id_a, w, rec_kind, mask_a, pixel_mask=kept_a),
                "id_B": weighted_reconstruction_loss(real_b, id_b, w, rec_kind, mask_b, pixel_mask=kept_b)}

    def critic_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Critic losses on real images and (detached, pooled) fakes: ``{"A", "B", "total"}`` scalars."""
        kind = self.cfg.loss.adversarial
        pa = self.pool_a.query(fake_a.detach())
        pb = self.pool_b.query(fake_b.detach())
        batched = self.cfg.train.batch_calls
        d_a = adversarial_d_loss(kind, *critic_on_each(self.critic_a, [real_a, pa], batched))
        d_b = adversarial_d_loss(kind, *critic_on_each(self.critic_b, [real_b, pb], batched))
        return {"A": d_a, "B": d_b, "total": d_a + d_b}

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
        """One batch: generator step, critic step, EMA, schedulers, logs. Returns nothing (manual optimisation)."""
        opt_g, opt_d = self.optimizers()
        real_a, real_b = batch["A"], batch["B"]
        valid_a, valid_b = batch.get("valid_A"), batch.get("valid_B")
        rec_kind = reconstruction_kind_at(self.progress(), self.cfg.loss.l1_to_l2_at)

        once = self.cfg.train.cache_weights  # each network's spectral-norm weights computed once per optimiser step
        if self.in_critic_warmup():  # only the critics learn; the fakes come from the current generators
            with torch.no_grad(), mechanics.weights_once(self.gen_a2b, self.gen_b2a, enabled=once):
                images = {"fake_A": self.gen_b2a(real_b), "fake_B": self.gen_a2b(real_a)}
            g_losses, g_ok = {}, True
        else:
            nets = (self.gen_a2b, self.gen_b2a, self.critic_a, self.critic_b)
            with self.toggled_optimizer(opt_g), mechanics.weights_once(*nets, enabled=once):
                backward = None
                if self.splits_backward:  # each part's graph is dropped after its backward (train.split_backward)
                    opt_g.zero_grad(set_to_none=True)
                    retain = self.parts_share_graph
                    backward = functools.partial(self.manual_backward, retain_graph=retain)
                g_losses, images = self.generator_losses(real_a, real_b, valid_a, valid_b, rec_kind, backward)
                g_ok = self._optimise(opt_g, g_losses["total"], backward_done=backward is not None)
        with self.toggled_optimizer(opt_d), mechanics.weights_once(self.critic_a, self.critic_b, enabled=once):
            d_losses = self.critic_losses(real_a, real_b, images["fake_A"], images["fake_B"])
            d_ok = self._optimise(opt_d, d_losses["total"])

        if g_losses and g_ok and self.ema_enabled:
            update_ema(self.gen_a2b_ema, self.gen_a2b, self.ema_decay)
            update_ema(self.gen_b2a_ema, self.gen_b2a, self.ema_decay)
        for sch in self.lr_schedulers():
            sch.step()
        self.batches_done += 1

        bad = not (g_ok and d_ok)
        self.skipped_steps += int(not g_ok) + int(not d_ok)
        self.bad_in_row = self.bad_in_row + 1 if bad else 0
        if self.bad_in_row >= self.cfg.train.max_bad_steps:
            self.diverged = True
            self.trainer.should_stop = True
            log.error(
                "training diverged: %d consecutive batches with non-finite losses or gradients (batch %d); stopping",
                self.bad_in_row,
                self.batches_done,
            )

        with torch.no_grad():
            fakes = torch.cat([images["fake_A"].detach(), images["fake_B"].detach()], 0).float()
            stats = {
                "fake_std_A": float(images["fake_A"].detach().float().std()),
                "fake_std_B": float(images["fake_B"].detach().float().std()),
                "d_loss_A": float(d_losses["A"].detach()),
                "d_loss_B": float(d_losses["B"].detach()),
            }
            if real_a.shape[0] > 1:  # spread across the batch: ~0 when every input maps to the same output
                stats["fake_batch_spread"] = float(fakes.std(0).mean())
        self.last_stats = stats
        logs = {f"loss/G/{k}": v.detach() for k, v in g_losses.items()}
        logs.update({f"loss/D/{k}": v.detach() for k, v in d_losses.items()})
        logs["lr/G"] = opt_g.optimizer.param_groups[0]["lr"]
        logs["lr/D"] = opt_d.optimizer.param_groups[0]["lr"]
        logs["health/skipped_steps"] = float(self.skipped_steps)
        logs["train/batches"] = float(self.batches_done)
        self.log_dict(logs, on_step=True, on_epoch=False, batch_size=real_a.shape[0])
        self.log_dict(
            {"G": g_losses["total"].detach() if g_losses else math.nan, "D": d_losses["total"].detach()},
            prog_bar=True, logger=False, on_step=True, on_epoch=False, batch_size=real_a.shape[0],
        )

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Bring the batch's images into the networks' memory format (``train.memory_format``; values unchanged)."""
        return mechanics.to_memory_format(batch, self.memory_format)

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
        """Cheap metrics on held-out images, logged per epoch under ``val/``.

        * ``val/cycle_l1_A``, ``val/cycle_l1_B``: plain L1 between real and cycled images (all channels).
        * ``val/invalid_frac_real_B``, ``val/invalid_frac_fake_B``: fraction of pixels with invalid depth in
          real B images and in translated A->B images (a sensor-look statistic: LiDAR holes), and
          ``val/invalid_frac_gap_B`` = their absolute difference.
        * anything returned by :attr:`val_metrics_fn`.
        """
        real_a, real_b = batch["A"], batch["B"]
        out = self.translate_both_ways(real_a, real_b)
        n = real_a.shape[0]
        inv_real = 1.0 - self.codec.valid_from_encoded(real_b[:, -1:].float()).float().mean()
        inv_fake = 1.0 - self.codec.valid_from_encoded(out["fake_B"][:, -1:].float()).float().mean()
        metrics = {
            "val/cycle_l1_A": (out["cyc_A"].float() - real_a.float()).abs().mean(),
            "val/cycle_l1_B": (out["cyc_B"].float() - real_b.float()).abs().mean(),
            "val/invalid_frac_real_B": inv_real,
            "val/invalid_frac_fake_B": inv_fake,
            "val/invalid_frac_gap_B": (inv_real - inv_fake).abs(),
        }
        if self.val_metrics_fn is not None:
            for k, v in self.val_metrics_fn(batch, out).items():
                metrics[k if k.startswith("val/") else f"val/{k}"] = v
        self.log_dict(metrics, on_step=False, on_epoch=True, sync_dist=True, batch_size=n)

    # ------------------------------------------------------------------ optimisers

    def _planned(self) -> int:
        t = self.cfg.train
        trainer = self._trainer
        per_epoch = 0
        if trainer is not None:
            try:
                _ = trainer.estimated_stepping_batches  # makes Lightning set up the train dataloader
                n = trainer.num_training_batches
                per_epoch = int(n) if math.isfinite(n) else 0
            except Exception:  # no dataloader yet (unit tests); fall back below
                per_epoch = 0
        if per_epoch <= 0:
            return t.max_steps if t.max_steps > 0 else t.max_epochs
        return planned_batches(per_epoch, t.max_epochs, t.max_steps)

    def configure_optimizers(self) -> tuple[list[torch.optim.Optimizer], list[Any]]:
        """``[generators, critics]`` optimisers (order fixed: :data:`OPTIMIZER_ORDER`) and their LambdaLR schedules.

        The schedule is a function of the batch counter stretched over the planned batches of *this* run
        (:func:`~volo_adapt.training.schedules.planned_batches`), so resuming with a different ``max_steps``
        re-plans the remaining schedule. The lambdas are closures, which ``LambdaLR`` does not store in
        checkpoints (only its counters), so the plan always comes from the current config.
        """
        o, t = self.cfg.optim, self.cfg.train
        g_groups = [{"params": list(self.gen_a2b.parameters())}, {"params": list(self.gen_b2a.parameters())}]
        d_groups = [{"params": list(self.critic_a.parameters())}, {"params": list(self.critic_b.parameters())}]
        g_cls = torch.optim.NAdam if o.gen_optimizer == "nadam" else torch.optim.Adam
        opt_g = g_cls(g_groups, lr=o.gen_lr, betas=tuple(o.gen_betas),
                      **mechanics.optimizer_flags(g_cls, o.implementation))
        if o.critic_optimizer == "sgd":
            opt_d = torch.optim.SGD(d_groups, lr=o.critic_lr, momentum=o.critic_momentum,
                                    **mechanics.optimizer_flags(torch.optim.SGD, o.implementation))
        else:
            opt_d = torch.optim.Adam(d_groups, lr=o.critic_lr, betas=tuple(o.critic_betas),
                                     **mechanics.optimizer_flags(torch.optim.Adam, o.implementation))
        self.planned_batches = planned = self._planned()
        kind, max_epochs = o.schedule, t.max_epochs
        warmup, decay_start = o.warmup_epochs, o.decay_start_epoch

        def multiplier(batch_index: int) -> float:
            fraction = self.time_fraction()  # a time budget plans the schedule over wall-clock time
            if fraction is not None:
                epoch = fraction * max_epochs
            else:
                epoch = batch_to_epoch(batch_index, planned, max_epochs)
            return lr_multiplier(kind, epoch, max_epochs, warmup, decay_start)

        schedulers = [torch.optim.lr_scheduler.LambdaLR(opt, multiplier) for opt in (opt_g, opt_d)]
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
        checkpoint["volo"] = {
            "format": CHECKPOINT_FORMAT,
            "volo_version": volo_adapt.__version__,
            "config": self.cfg.to_dict(),
        }
        checkpoint["volo_train_state"] = {
            "batches_done": self.batches_done,
            "skipped_steps": self.skipped_steps,
            "bad_in_row": self.bad_in_row,
            "pool_a": self.pool_a.state_dict(),
            "pool_b": self.pool_b.state_dict(),
            "rng": collect_rng_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore counters, pools and RNG streams (before Lightning creates the data iterators)."""
        state = checkpoint.get("volo_train_state")
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
