"""The classic CycleGAN training step, written from its published algorithm, as the benchmark's reference.

Zhu, Park, Isola, Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
ICCV 2017, sections 3-4 and the appendix's training details, in the paper's notation: generators ``G: X -> Y`` and
``F: Y -> X``, critics ``D_Y`` (judges Y) and ``D_X``. One step on a pair of unpaired batches ``x``, ``y``:

1. forward: ``fake_y = G(x)``, ``rec_x = F(fake_y)``, ``fake_x = F(y)``, ``rec_y = G(fake_x)``;
2. generator update, critics frozen: least-squares GAN terms ``(D_Y(fake_y) - 1)^2`` and ``(D_X(fake_x) - 1)^2``,
   cycle terms ``lambda * |rec_x - x|_1`` and ``lambda * |rec_y - y|_1`` with ``lambda = 10``, identity terms
   ``0.5 * lambda * |G(y) - y|_1`` and ``0.5 * lambda * |F(x) - x|_1``; one backward of their sum; one Adam step
   over both generators;
3. critic update: each critic's least-squares loss ``0.5 * ((D(real) - 1)^2 + D(fake)^2)`` on a real image and a
   fake drawn from a 50-image history buffer (with probability 1/2 an older fake, which the new one replaces);
   each critic's loss backpropagated on its own; one Adam step over both critics.

Adam with learning rate 2e-4 and betas (0.5, 0.999); eager fp32, default memory format and optimiser kernels:
the straightforward implementation the paper describes. The networks are the project's own ``resnet9`` and 70x70
``patchgan`` (the same ones the ``cyclegan`` preset trains) so that only the training step differs.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F
from torch import nn

from volo_adapt.models import create_critic, create_generator


class HistoryPool:
    """The 50-image history of generated images the critics are trained on (Shrivastava et al. 2017)."""

    def __init__(self, size: int = 50) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []

    def query(self, batch: torch.Tensor) -> torch.Tensor:
        out = []
        for image in batch.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                out.append(image)
            elif random.random() < 0.5:
                i = random.randrange(self.size)
                out.append(self.images[i].clone())
                self.images[i] = image
            else:
                out.append(image)
        return torch.cat(out, 0)


class ClassicCycleGANStep:
    """The four networks, two Adam optimisers and two pools of the classic CycleGAN; :meth:`step` trains one batch.

    Args:
        channels: image channels (4 = RGB-D).
        base: network width (64).
        device: where to train.
        lam: the cycle weight lambda (10); the identity weight is ``0.5 * lam``.

    Shapes:
        ``step(x, y)``: two ``(B, channels, H, W)`` float tensors in [0, 1].
    """

    def __init__(self, channels: int = 4, base: int = 64, device: str | torch.device = "cpu", lam: float = 10.0):
        self.G = create_generator("resnet9", channels, channels, base=base).to(device)
        self.F = create_generator("resnet9", channels, channels, base=base).to(device)
        self.D_Y = create_critic("patchgan", channels, base=base).to(device)
        self.D_X = create_critic("patchgan", channels, base=base).to(device)
        self.opt_gen = torch.optim.Adam([*self.G.parameters(), *self.F.parameters()], lr=2e-4, betas=(0.5, 0.999))
        self.opt_critic = torch.optim.Adam([*self.D_Y.parameters(), *self.D_X.parameters()], lr=2e-4,
                                           betas=(0.5, 0.999))
        self.pool_x, self.pool_y = HistoryPool(), HistoryPool()
        self.lam = lam

    def networks(self) -> list[nn.Module]:
        return [self.G, self.F, self.D_Y, self.D_X]

    @staticmethod
    def _lsgan(scores: list[torch.Tensor], target: float) -> torch.Tensor:
        return sum(F.mse_loss(s, torch.full_like(s, target)) for s in scores)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One training step (see the module docstring); returns the losses."""
        fake_y = self.G(x)
        rec_x = self.F(fake_y)
        fake_x = self.F(y)
        rec_y = self.G(fake_x)

        for d in (self.D_Y, self.D_X):
            d.requires_grad_(False)
        self.opt_gen.zero_grad()
        idt_y, idt_x = self.G(y), self.F(x)
        loss_gen = (
            self._lsgan(self.D_Y(fake_y), 1.0)
            + self._lsgan(self.D_X(fake_x), 1.0)
            + self.lam * (F.l1_loss(rec_x, x) + F.l1_loss(rec_y, y))
            + 0.5 * self.lam * (F.l1_loss(idt_y, y) + F.l1_loss(idt_x, x))
        )
        loss_gen.backward()
        self.opt_gen.step()

        for d in (self.D_Y, self.D_X):
            d.requires_grad_(True)
        self.opt_critic.zero_grad()
        losses = {"gen": float(loss_gen)}
        for name, d, real, fake in (("D_Y", self.D_Y, y, self.pool_y.query(fake_y)),
                                    ("D_X", self.D_X, x, self.pool_x.query(fake_x))):
            loss = 0.5 * (self._lsgan(d(real), 1.0) + self._lsgan(d(fake.detach()), 0.0))
            loss.backward()
            losses[name] = float(loss)
        self.opt_critic.step()
        return losses
