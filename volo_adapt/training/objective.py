"""The VoloGAN / CycleGAN training objective: generator and critic losses of one batch, without Lightning.

:class:`CycleObjective` takes the four networks (:class:`Networks`), the ``loss`` config section, the depth codec
and a batch, and returns the loss terms and the images; the training module
(:class:`~volo_adapt.training.module.VoloGANModule`) adds the optimisers, image pools, EMA and logging around it.

Gradient routing (``loss.routing``):

* ``vologan`` (the original): one forward pass; two per-domain totals::

      total_B = adv(critic_b(gen_a2b(A))) + l_cyc * cyc(B, gen_a2b(gen_b2a(B)))
                + l_id * id(B, gen_a2b(B)) + l_ssim * (1 - SSIM(B, gen_a2b(gen_b2a(B))))
      total_A = the same with A and B (and the two generators) swapped

  plus, when enabled, ``l_geo * geometry(A, gen_a2b(A))`` (depth moved against the source, metres),
  ``l_col * colour_anchor(A, gen_a2b(A))`` (colour moved against the source) and
  ``l_swd * SWD(gen_a2b(A), B)`` (patch sliced Wasserstein) and ``l_ret * return_rate(A, keep logit of
  gen_a2b(A))`` (volo_adapt.return_statistics) and ``l_birth * birth_rate(A, return mask of gen_a2b(A))``
  (volo_adapt.birth_rate); reconstructions run deterministically
  (:func:`deterministic`) and may be masked to the pixels kept (``loss.reconstruction_mask``).
  ``gen_a2b`` is updated by the gradient of ``total_B`` only, ``gen_b2a`` by ``total_A`` only (the original took
  ``tape.gradient(total_B, gen_a2b.variables)``). Every term of ``total_B`` has ``gen_a2b`` as the *last* network
  applied; the only path from ``total_B`` into ``gen_b2a`` is through the intermediate ``gen_b2a(B)`` of the
  B->A->B cycle. That intermediate is **detached** before it enters ``gen_a2b`` (likewise ``gen_a2b(A)`` inside
  the A->B->A cycle), so ``total_B`` depends on ``gen_a2b``'s weights only and ``total_A`` on ``gen_b2a``'s
  only. One backward of ``total_A + total_B`` then gives each generator exactly the gradient of its own total
  (what the original computed with two tape gradients), in a single DDP-friendly backward that also skips
  back-propagating through the other generator.
* ``cyclegan`` (textbook): the same terms without the detach, one total
  ``adv_A + adv_B + l_cyc (cyc_A + cyc_B) + l_id (id_A + id_B) + l_ssim (ssim_A + ssim_B)`` whose gradient
  reaches both generators through the cycles.

In both routings the total falls into three parts that share no activations: the cycle from A with the adversarial
term on ``gen_a2b(A)`` (and the geometry and SWD terms of that fake), the cycle from B, and the identity terms.
Given a ``backward`` callable (``train.split_backward``), :meth:`CycleObjective.generator_losses` back-propagates
each part as soon as it is computed and drops its graph, which gives the gradient of the total while holding about
a third of the activations; otherwise the caller back-propagates the total once.

The critics are trained from the *same* forward pass: real images against the detached fakes
(:meth:`CycleObjective.critic_losses`).

Tensors: images ``(B, C, S, S)`` float in [0, 1] (RGB first, encoded depth last, 0 = invalid in every channel);
valid-depth masks ``(B, 1, S, S)`` bool; every loss a float32 scalar.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from volo_adapt.birth_rate import birth_rate_loss
from volo_adapt.config import LossConfig, TrainConfig
from volo_adapt.data.sample import DepthCodec
from volo_adapt.losses import (
    adversarial_d_loss,
    adversarial_g_loss,
    colour_anchor_loss,
    depth_geometry_loss,
    patch_sliced_wasserstein,
    ssim_loss,
    weighted_reconstruction_loss,
)
from volo_adapt.models.sensor_head import ReturnDecisions, SensorAwareGenerator
from volo_adapt.return_statistics import ReturnRateReference, return_rate_loss
from volo_adapt.training import step_mechanics as mechanics

LOSS_TERMS = ("adv", "cycle", "id", "ssim", "geo", "swd", "col", "ret", "birth")
"""The generator loss terms of one domain, in the order its total sums them (weights: ``loss.*_weight``; adv 1)."""

Backward = Callable[[torch.Tensor], None]
"""``backward(loss)``: back-propagates one part of the generator loss (e.g. the module's ``manual_backward``)."""


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


@dataclass(frozen=True)
class Networks:
    """The four networks of a run (references, not copies: the training module owns them).

    ``gen_a2b``: domain A -> B; ``gen_b2a``: B -> A; ``critic_a`` judges domain-A images (real A against
    ``gen_b2a`` outputs); ``critic_b`` judges domain-B images.
    """

    gen_a2b: nn.Module
    gen_b2a: nn.Module
    critic_a: nn.Module
    critic_b: nn.Module

    def all(self) -> tuple[nn.Module, nn.Module, nn.Module, nn.Module]:
        """``(gen_a2b, gen_b2a, critic_a, critic_b)``."""
        return self.gen_a2b, self.gen_b2a, self.critic_a, self.critic_b

    def from_domain(self, src: str) -> tuple[nn.Module, nn.Module, nn.Module]:
        """``(generator from src, generator back to src, critic of the fakes)`` for domain ``src`` (A or B)."""
        if src == "A":
            return self.gen_a2b, self.gen_b2a, self.critic_b
        return self.gen_b2a, self.gen_a2b, self.critic_a


def parts_share_graph(nets: Networks, train: TrainConfig) -> bool:
    """Whether the generator step's parts share graph nodes: the spectral-norm weights computed once per step
    (``train.cache_weights``) of parametrised networks. Back-propagating them part by part then needs
    ``retain_graph``."""
    return bool(train.cache_weights) and bool(mechanics.parametrized_modules(*nets.all()))


def splits_backward(nets: Networks, train: TrainConfig, world_size: int, wanted: bool) -> bool:
    """Whether the generator step back-propagates its three parts one by one: where ``wanted`` (``train.
    split_backward`` resolved, :func:`volo_adapt.training.auto_mechanics.resolve_step`), on one
    process only (``world_size`` 1; under DDP each backward would all-reduce the gradients; there it is one
    backward), and not with activation checkpointing when the parts share graph nodes: ``retain_graph`` also keeps
    a checkpointed segment's recomputed activations until the part's graph is freed (the vologan step at 512 px
    peaked at 7.6 GiB split against 6.2 GiB in one backward)."""
    if not wanted or world_size != 1:
        return False
    return not (train.activation_checkpointing and parts_share_graph(nets, train))


class CycleObjective:
    """The generator and critic losses of one batch (see the module docstring for the routing).

    Holds no state besides its arguments; builds no optimiser and steps nothing.

    Args:
        nets: the four networks.
        loss: the ``loss`` config section (terms, weights, routing, masks); read, never changed.
        codec: the depth codec of the run (valid-pixel masks from encoded depth; geometry in metres).
        batch_calls: ``train.batch_calls``: each network's calls on several inputs go in one batched call.
        geometry_scale: factor on ``loss.geometry_weight`` (``model.sensor.geometry_scale``: below 1 only for a
            target whose estimated native grid is coarser than the geometry term's window).
        return_reference: the running per-bin return counts of both domains (the training module's, updated by
            it) for the return-rate term (``loss.return_rate_weight``); None = the term is off.
    """

    def __init__(self, nets: Networks, loss: LossConfig, codec: DepthCodec, batch_calls: bool = True,
                 geometry_scale: float = 1.0, return_reference: ReturnRateReference | None = None) -> None:
        self.nets = nets
        self.loss = loss
        self.codec = codec
        self.batch_calls = bool(batch_calls)
        self.geometry_scale = float(geometry_scale)
        self.return_reference = return_reference if loss.return_rate_weight > 0 or loss.birth_rate_weight > 0 else None

    def generator_losses(
        self,
        real_a: torch.Tensor,
        real_b: torch.Tensor,
        valid_a: torch.Tensor | None = None,
        valid_b: torch.Tensor | None = None,
        rec_kind: str = "l1",
        backward: Backward | None = None,
    ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """All generator loss terms of one batch, their weighted per-domain totals, and the images.

        Args:
            real_a, real_b: ``(B, C, S, S)`` float in [0, 1] images of domains A and B.
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
            geo_A, geo_B, swd_A, swd_B, col_A, col_B, ret_A, ret_B, total_A, total_B, total`` (A = terms on
            domain-A images, trained into ``gen_b2a`` under vologan routing; disabled terms 0) and images
            ``fake_A, fake_B, cyc_A, cyc_B`` (``(B, C, S, S)``; graph attached, or detached when ``backward`` is
            given).
        """
        mask_a = valid_a if self.loss.mask_invalid else None
        mask_b = valid_b if self.loss.mask_invalid else None
        if backward is None:
            terms, images = self._one_graph(real_a, real_b, mask_a, mask_b, rec_kind)
        else:
            terms, images = self._in_parts(real_a, real_b, mask_a, mask_b, rec_kind, backward)
        zero = real_a.new_zeros((), dtype=torch.float32)
        for d in ("A", "B"):
            for name in ("id", "ssim", "geo", "swd", "col", "ret", "birth"):
                terms.setdefault(f"{name}_{d}", zero)
            terms[f"total_{d}"] = self.weighted({f"{n}_{d}": terms[f"{n}_{d}"] for n in LOSS_TERMS})
        terms["total"] = terms["total_A"] + terms["total_B"]
        return terms, images

    def weighted(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of generator loss terms named ``{term}_{domain}`` (``term`` one of
        :data:`LOSS_TERMS`), in the order given: the one place the ``loss.*_weight`` values are applied."""
        lc = self.loss
        weight = {"adv": 1.0, "cycle": lc.cycle_weight, "id": lc.identity_weight, "ssim": lc.ssim_weight,
                  "geo": lc.geometry_weight * self.geometry_scale, "swd": lc.swd_weight,
                  "col": lc.colour_anchor_weight, "ret": lc.return_rate_weight, "birth": lc.birth_rate_weight}
        parts = [weight[name.split("_")[0]] * value for name, value in terms.items()]
        return functools.reduce(operator.add, parts)  # left to right, as the one-graph total always summed

    def critic_losses(
        self, real_a: torch.Tensor, real_b: torch.Tensor, fake_a: torch.Tensor, fake_b: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Critic losses on real images against fakes (``(B, C, S, S)``, detached here; the module passes them
        through its image pools first): ``{"A", "B", "total"}`` float32 scalars (``loss.adversarial``)."""
        kind, batched = self.loss.adversarial, self.batch_calls
        d_a = adversarial_d_loss(kind, *critic_on_each(self.nets.critic_a, [real_a, fake_a.detach()], batched))
        d_b = adversarial_d_loss(kind, *critic_on_each(self.nets.critic_b, [real_b, fake_b.detach()], batched))
        return {"A": d_a, "B": d_b, "total": d_a + d_b}

    # ------------------------------------------------------------------ the two ways through the terms

    def _one_graph(self, real_a: torch.Tensor, real_b: torch.Tensor, mask_a: torch.Tensor | None,
                   mask_b: torch.Tensor | None, rec_kind: str
                   ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Every term in one graph (the caller back-propagates the total): terms and attached images."""
        g_ab, g_ba = self.nets.gen_a2b, self.nets.gen_b2a
        with_id = self.loss.identity_weight > 0
        # the fakes the critics judge are samples (sensor noise and sampled holes on, for generators that have
        # them); every reconstruction is deterministic, so cycle and identity terms cannot punish the sampling
        fake_b, returns_b = self._translate(g_ab, real_a)
        fake_a, returns_a = self._translate(g_ba, real_b)
        # each generator's deterministic calls (cycle reconstruction, identity image) go in one batched call
        batched = self.batch_calls
        recs_a = deterministic_on_each(g_ba, [self._cycle_input(fake_b), real_a][: 1 + with_id], batched)
        recs_b = deterministic_on_each(g_ab, [self._cycle_input(fake_a), real_b][: 1 + with_id], batched)
        cyc_a, cyc_b = recs_a[0], recs_b[0]
        terms = self._cycle_terms("A", "B", real_a, fake_b, cyc_a, real_b, mask_a, rec_kind, returns_b)
        terms.update(self._cycle_terms("B", "A", real_b, fake_a, cyc_b, real_a, mask_b, rec_kind, returns_a))
        if with_id:
            terms.update(self._identity_terms(real_a, real_b, recs_a[1], recs_b[1], mask_a, mask_b, rec_kind))
        return terms, {"fake_A": fake_a, "fake_B": fake_b, "cyc_A": cyc_a, "cyc_B": cyc_b}

    def _in_parts(self, real_a: torch.Tensor, real_b: torch.Tensor, mask_a: torch.Tensor | None,
                  mask_b: torch.Tensor | None, rec_kind: str, backward: Backward
                  ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """The three parts, each back-propagated by ``backward`` when computed: detached terms and images."""
        # the same calls in the same order of random draws for the fakes (fake_B first)
        part_a, fake_b, cyc_a = self._cycle_part("A", "B", real_a, real_b, mask_a, rec_kind, backward)
        part_b, fake_a, cyc_b = self._cycle_part("B", "A", real_b, real_a, mask_b, rec_kind, backward)
        terms = {**part_a, **part_b}
        if self.loss.identity_weight > 0:
            g_ab, g_ba = self.nets.gen_a2b, self.nets.gen_b2a
            ids = self._identity_terms(real_a, real_b, deterministic(g_ba, real_a), deterministic(g_ab, real_b),
                                       mask_a, mask_b, rec_kind)
            backward(self.weighted(ids))
            terms.update({k: v.detach() for k, v in ids.items()})
        return terms, {"fake_A": fake_a, "fake_B": fake_b, "cyc_A": cyc_a, "cyc_B": cyc_b}

    def _cycle_part(self, src: str, dst: str, real: torch.Tensor, real_dst: torch.Tensor, mask: torch.Tensor | None,
                    rec_kind: str, backward: Backward) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One cycle's forward, terms and backward (``train.split_backward``); returns its terms and its fake and
        reconstruction, all detached, so that nothing keeps the part's graph alive after this returns."""
        gen, back, _ = self.nets.from_domain(src)
        fake, returns = self._translate(gen, real)
        cyc = deterministic(back, self._cycle_input(fake))
        terms = self._cycle_terms(src, dst, real, fake, cyc, real_dst, mask, rec_kind, returns)
        backward(self.weighted(terms))
        return {k: v.detach() for k, v in terms.items()}, fake.detach(), cyc.detach()

    # ------------------------------------------------------------------ the terms

    def _translate(self, gen: nn.Module, real: torch.Tensor) -> tuple[torch.Tensor, ReturnDecisions | None]:
        """``gen(real)`` (sampled) and, when a return-statistics term is on, the generator's return decisions
        (else None)."""
        if self.return_reference is not None and isinstance(gen, SensorAwareGenerator):
            return gen(real, with_returns=True)
        return gen(real), None

    def _cycle_input(self, fake: torch.Tensor) -> torch.Tensor:
        """The fake as it enters the other generator: detached under vologan routing, which cuts the path from
        one domain's total into the generator that made the fake (see the module docstring)."""
        return fake.detach() if self.loss.routing == "vologan" else fake

    def _cycle_terms(self, src: str, dst: str, real: torch.Tensor, fake: torch.Tensor, cyc: torch.Tensor,
                     real_dst: torch.Tensor, mask: torch.Tensor | None, rec_kind: str,
                     returns: ReturnDecisions | None = None) -> dict[str, torch.Tensor]:
        """The terms of the cycle that starts at domain ``src``: ``adv_{dst}`` (the critic of ``dst`` on
        ``fake``), ``cycle_{src}`` and ``ssim_{src}`` (``cyc`` against ``real``), ``geo_{dst}`` (``fake``'s depth
        against its source ``real``) and ``swd_{dst}`` (``fake`` against the unpaired ``real_dst``), the
        disabled ones left out, and ``ret_{dst}`` and ``birth_{dst}`` (the return-rate and birth-rate terms, when
        ``returns``, the generator's return decisions, are given). Tensors ``(B, C, S, S)``; ``mask`` the valid
        pixels of ``real`` or None."""
        lc, w = self.loss, self.loss.channel_weights
        kept = None
        if lc.reconstruction_mask == "kept":  # see LossConfig.reconstruction_mask
            with torch.no_grad():
                kept = self.codec.valid_from_encoded(real[:, -1:].float()) & self.codec.valid_from_encoded(
                    fake[:, -1:].float())
        critic = self.nets.from_domain(src)[2]
        terms = {f"adv_{dst}": adversarial_g_loss(lc.adversarial, critic(fake)),
                 f"cycle_{src}": weighted_reconstruction_loss(real, cyc, w, rec_kind, mask, pixel_mask=kept)}
        if lc.geometry_weight > 0:
            c = self.codec
            region = lc.effective_geometry_region
            terms[f"geo_{dst}"] = depth_geometry_loss(real, fake, c.near, c.far, c.gap, region=region)
        if lc.colour_anchor_weight > 0:
            terms[f"col_{dst}"] = colour_anchor_loss(real, fake, self.codec.gap)
        if returns is not None and self.return_reference is not None:
            if lc.return_rate_weight > 0 and returns.keep_logit is not None:
                rate = self.return_reference.keep_rate(dst)
                terms[f"ret_{dst}"] = return_rate_loss(real, returns.keep_logit, rate, self.codec.gap)
            if lc.birth_rate_weight > 0 and returns.returned is not None:
                ratio = self.return_reference.return_ratio(dst)
                terms[f"birth_{dst}"] = birth_rate_loss(real, returns, ratio, self.codec.gap)
        if lc.swd_weight > 0:
            terms[f"swd_{dst}"] = patch_sliced_wasserstein(fake, real_dst, channel_weights=w, max_patches=4096,
                                                           highpass=lc.swd_highpass)
        if lc.ssim_weight > 0:
            terms[f"ssim_{src}"] = ssim_loss(*masked(real, cyc, kept), w, lc.ssim_kind)
        return terms

    def _identity_terms(self, real_a: torch.Tensor, real_b: torch.Tensor, id_a: torch.Tensor, id_b: torch.Tensor,
                        mask_a: torch.Tensor | None, mask_b: torch.Tensor | None, rec_kind: str
                        ) -> dict[str, torch.Tensor]:
        """``id_A`` (``gen_b2a(A)`` against A) and ``id_B``, on the pixels valid in the real image when
        ``loss.reconstruction_mask`` is ``kept``."""
        lc, w = self.loss, self.loss.channel_weights
        kept_a = kept_b = None
        if lc.reconstruction_mask == "kept":
            with torch.no_grad():
                kept_a, kept_b = (self.codec.valid_from_encoded(t[:, -1:].float()) for t in (real_a, real_b))
        return {"id_A": weighted_reconstruction_loss(real_a, id_a, w, rec_kind, mask_a, pixel_mask=kept_a),
                "id_B": weighted_reconstruction_loss(real_b, id_b, w, rec_kind, mask_b, pixel_mask=kept_b)}
