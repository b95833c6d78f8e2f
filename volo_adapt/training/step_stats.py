"""The scalars the training module reports besides its losses: per-batch health statistics and cheap validation
metrics. Pure functions of tensors (no gradients); logging is the module's."""

from __future__ import annotations

import torch

from volo_adapt.data.sample import DepthCodec


@torch.no_grad()
def batch_stats(images: dict[str, torch.Tensor], d_losses: dict[str, torch.Tensor], n: int,
                sources: dict[str, torch.Tensor] | None = None) -> dict[str, float]:
    """The health monitor's scalars of one training batch of ``n`` images per domain
    (:class:`~volo_adapt.training.callbacks.HealthMonitor` reads them from ``module.last_stats``).

    Args:
        images: ``fake_A``, ``fake_B`` ``(n, C, S, S)`` (any float dtype; gradients ignored).
        d_losses: the critic losses ``A`` and ``B`` (scalars).
        n: images per domain in the batch.
        sources: optional ``fake_A``, ``fake_B`` -> the real batch each was translated from (``real_B``,
            ``real_A``), pixels without a return zeroed by the caller: the variation a translation can keep, so
            that a batch of inputs without any return (blank after translation) is not taken for a collapse.

    Returns:
        ``fake_std_A``, ``fake_std_B`` (std over every value of the fakes), ``d_loss_A``, ``d_loss_B`` and, for
        ``n > 1``, ``fake_batch_spread`` (per-pixel std across the batch, averaged; ~0 when every input maps to the
        same output); with ``sources`` also ``source_std_A``, ``source_std_B`` and ``source_batch_spread``, the same
        statistics of the inputs.
    """
    fake_a, fake_b = images["fake_A"].detach(), images["fake_B"].detach()
    stats = {"fake_std_A": float(fake_a.float().std()), "fake_std_B": float(fake_b.float().std()),
             "d_loss_A": float(d_losses["A"].detach()), "d_loss_B": float(d_losses["B"].detach())}
    if n > 1:
        stats["fake_batch_spread"] = float(torch.cat([fake_a, fake_b], 0).float().std(0).mean())
    if sources is not None:
        src_a, src_b = sources["fake_A"].detach(), sources["fake_B"].detach()
        stats["source_std_A"] = float(src_a.float().std())
        stats["source_std_B"] = float(src_b.float().std())
        if n > 1:
            stats["source_batch_spread"] = float(torch.cat([src_a, src_b], 0).float().std(0).mean())
    return stats


@torch.no_grad()
def cheap_val_metrics(real_a: torch.Tensor, real_b: torch.Tensor, out: dict[str, torch.Tensor],
                      codec: DepthCodec) -> dict[str, torch.Tensor]:
    """Cheap metrics of one held-out batch (scalar tensors, named ``val/...``).

    * ``val/cycle_l1_A``, ``val/cycle_l1_B``: plain L1 between real and cycled images (all channels).
    * ``val/invalid_frac_real_B``, ``val/invalid_frac_fake_B``: fraction of pixels with invalid depth in real B
      images and in translated A->B images (a sensor-look statistic: LiDAR holes), and ``val/invalid_frac_gap_B``
      = their absolute difference.

    Args:
        real_a, real_b: ``(B, C, S, S)`` images in [0, 1], encoded depth last.
        out: ``fake_B``, ``cyc_A``, ``cyc_B`` of the same shape (``VoloGANModule.translate_both_ways``).
        codec: the run's depth codec (which encoded values are invalid).
    """
    inv_real = 1.0 - codec.valid_from_encoded(real_b[:, -1:].float()).float().mean()
    inv_fake = 1.0 - codec.valid_from_encoded(out["fake_B"][:, -1:].float()).float().mean()
    return {
        "val/cycle_l1_A": (out["cyc_A"].float() - real_a.float()).abs().mean(),
        "val/cycle_l1_B": (out["cyc_B"].float() - real_b.float()).abs().mean(),
        "val/invalid_frac_real_B": inv_real,
        "val/invalid_frac_fake_B": inv_fake,
        "val/invalid_frac_gap_B": (inv_real - inv_fake).abs(),
    }
