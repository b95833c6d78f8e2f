"""Loss functions of VoloGAN: adversarial (lsgan / hinge / bce), channel-weighted reconstruction, global SSIM.

Small pure functions on tensors; the LightningModule combines them with their lambdas. Network tensors are
``(B, C, H, W)`` float in [0, 1] (RGB + encoded depth, depth last); critic outputs are lists of raw score tensors
of any shape (the VoloGAN critic returns three, PatchGAN one).

Channel weights (the original: ``[1, 1, 1, 3]``, "depth weighted by the number of colour channels") are applied
as a *weighted mean*: ``sum_c w_c e_c / sum_c w_c``. With equal per-channel errors ``e`` the loss is ``e``, as an
unweighted L1, so the lambdas keep their CycleGAN meaning; with ``[1, 1, 1, 3]`` depth counts as much as the three
colour channels together (half the loss). ``normalize="channels"`` divides by the channel count instead
(``mean(|x - y| * w)``, 1.5x larger for ``[1, 1, 1, 3]``) and ``normalize="none"`` sums.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from volo_adapt.errors import ConfigError

ADVERSARIAL_KINDS = ("lsgan", "hinge", "bce")
RECONSTRUCTION_KINDS = ("l1", "l2")
SSIM_KINDS = ("global", "windowed")
RECONSTRUCTION_MASKS = ("none", "kept")  # loss.reconstruction_mask (see LossConfig)
GEOMETRY_REGIONS = ("all", "interior")  # depth_geometry_loss's regions (loss.geometry_region adds "auto")
ROUTINGS = ("vologan", "cyclegan")  # loss.routing: which loss reaches which generator (see VoloGANModule)
NORMALIZE_KINDS = ("weights", "channels", "none")


def _check_kind(kind: str, valid: tuple[str, ...], what: str) -> None:
    if kind not in valid:
        raise ConfigError(f"unknown {what} {kind!r}; valid: {', '.join(valid)}")


def adversarial_d_loss(
    kind: str, real_scores: Sequence[torch.Tensor], fake_scores: Sequence[torch.Tensor]
) -> torch.Tensor:
    """Critic loss, summed over the critic's outputs.

    - ``lsgan`` (the original): ``sum_k 0.5 * (MSE(real_k, 1) + MSE(fake_k, 0))``;
    - ``hinge``: ``sum_k mean(relu(1 - real_k)) + mean(relu(1 + fake_k))``;
    - ``bce``: ``sum_k 0.5 * (BCE_logits(real_k, 1) + BCE_logits(fake_k, 0))``.

    Args:
        kind: ``lsgan`` | ``hinge`` | ``bce``.
        real_scores: raw critic outputs on real images, one tensor per output head (any shapes).
        fake_scores: raw critic outputs on generated images, same heads and shapes.

    Returns:
        Scalar tensor (fp32 when scores are fp32).

    Example:
        >>> adversarial_d_loss("lsgan", [torch.ones(2, 1)], [torch.zeros(2, 1)])
        tensor(0.)
    """
    _check_kind(kind, ADVERSARIAL_KINDS, "adversarial loss")
    assert len(real_scores) == len(fake_scores) > 0, (len(real_scores), len(fake_scores))
    total = real_scores[0].new_zeros((), dtype=torch.float32)
    for r, f in zip(real_scores, fake_scores, strict=True):
        r, f = r.float(), f.float()
        if kind == "lsgan":
            total = total + 0.5 * (F.mse_loss(r, torch.ones_like(r)) + F.mse_loss(f, torch.zeros_like(f)))
        elif kind == "hinge":
            total = total + F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()
        else:
            total = total + 0.5 * (
                F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
                + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
            )
    return total


def adversarial_g_loss(kind: str, fake_scores: Sequence[torch.Tensor]) -> torch.Tensor:
    """Generator loss from the critic's outputs on generated images, summed over outputs.

    - ``lsgan`` (the original): ``sum_k MSE(fake_k, 1)``;
    - ``hinge``: ``sum_k -mean(fake_k)``;
    - ``bce``: ``sum_k BCE_logits(fake_k, 1)`` (the non-saturating loss).

    Args:
        kind: ``lsgan`` | ``hinge`` | ``bce``.
        fake_scores: raw critic outputs on generated images, one tensor per head.

    Returns:
        Scalar tensor.

    Example:
        >>> adversarial_g_loss("lsgan", [torch.zeros(3), torch.ones(2)])
        tensor(1.)
    """
    _check_kind(kind, ADVERSARIAL_KINDS, "adversarial loss")
    assert len(fake_scores) > 0
    total = fake_scores[0].new_zeros((), dtype=torch.float32)
    for f in fake_scores:
        f = f.float()
        if kind == "lsgan":
            total = total + F.mse_loss(f, torch.ones_like(f))
        elif kind == "hinge":
            total = total - f.mean()
        else:
            total = total + F.binary_cross_entropy_with_logits(f, torch.ones_like(f))
    return total


def _weights(channel_weights: Sequence[float] | torch.Tensor, channels: int, ref: torch.Tensor) -> torch.Tensor:
    w = torch.as_tensor(channel_weights, dtype=torch.float32, device=ref.device).flatten()
    if w.numel() != channels:
        raise ValueError(f"channel_weights has {w.numel()} entries but the images have {channels} channels")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"channel_weights must be non-negative with a positive sum, got {w.tolist()}")
    return w


def _combine(per_channel: torch.Tensor, w: torch.Tensor, normalize: str) -> torch.Tensor:
    _check_kind(normalize, NORMALIZE_KINDS, "channel-weight normalisation")
    total = (per_channel * w).sum()
    if normalize == "weights":
        return total / w.sum()
    if normalize == "channels":
        return total / w.numel()
    return total


def _check_mask(mask: torch.Tensor, x: torch.Tensor, name: str) -> torch.Tensor:
    b, _, h, w = x.shape
    if tuple(mask.shape) != (b, 1, h, w):
        raise ValueError(f"{name} must be (B, 1, H, W) = {(b, 1, h, w)}, got {tuple(mask.shape)}")
    return mask.float()


def per_channel_error(
    x: torch.Tensor,
    y: torch.Tensor,
    kind: str = "l1",
    valid: torch.Tensor | None = None,
    pixel_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean absolute (``l1``) or squared (``l2``) error of each channel over batch and pixels.

    Args:
        x: ``(B, C, H, W)`` float.
        y: same shape.
        kind: ``l1`` | ``l2``.
        valid: optional ``(B, 1, H, W)`` bool; when given, the *last* channel (depth) averages only over valid
            pixels (0 when none is valid); the other channels always average over all pixels.
        pixel_mask: optional ``(B, 1, H, W)`` bool; when given, *every* channel averages only over these pixels
            (0 when there are none); combined with ``valid`` for the depth channel.

    Returns:
        ``(C,)`` fp32 tensor.
    """
    _check_kind(kind, RECONSTRUCTION_KINDS, "reconstruction loss")
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    d = (x.float() - y.float()).abs() if kind == "l1" else (x.float() - y.float()).square()
    if pixel_mask is None:
        per = d.mean(dim=(0, 2, 3))
    else:
        pm = _check_mask(pixel_mask, x, "pixel_mask")
        per = (d * pm).sum(dim=(0, 2, 3)) / pm.sum().clamp_min(1.0)
    if valid is not None:
        m = _check_mask(valid, x, "valid")
        if pixel_mask is not None:
            m = m * pm
        depth = (d[:, -1:] * m).sum() / m.sum().clamp_min(1.0)
        per = torch.cat([per[:-1], depth.reshape(1)])
    return per


def weighted_reconstruction_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    channel_weights: Sequence[float] | torch.Tensor,
    kind: str = "l1",
    valid: torch.Tensor | None = None,
    normalize: str = "weights",
    pixel_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Channel-weighted L1/L2 (the cycle and identity losses of the original, before their lambdas).

    ``loss = sum_c w_c e_c / sum_c w_c`` with ``e_c`` the mean absolute (``l1``) or squared (``l2``) error of channel
    ``c`` over batch and pixels (see the module docstring for ``normalize``).

    Args:
        x: ``(B, C, H, W)`` float, e.g. the real image in [0, 1].
        y: same shape, e.g. the cycled image.
        channel_weights: ``C`` non-negative weights (the original: ``[1, 1, 1, 3]``).
        kind: ``l1`` | ``l2``.
        valid: optional ``(B, 1, H, W)`` bool mask; the depth channel (last) then averages only over valid pixels.
        normalize: ``weights`` (divide by ``sum w``, default) | ``channels`` (divide by ``C``) | ``none``.
        pixel_mask: optional ``(B, 1, H, W)`` bool: every channel averages only over these pixels.

    Returns:
        Scalar fp32 tensor.

    Example:
        >>> x = torch.zeros(1, 4, 2, 2); y = x.clone(); y[:, 3] = 1.0
        >>> weighted_reconstruction_loss(x, y, [1, 1, 1, 3])
        tensor(0.5000)
    """
    per = per_channel_error(x, y, kind, valid, pixel_mask)
    return _combine(per, _weights(channel_weights, x.shape[1], x), normalize)


def global_ssim_per_channel(x: torch.Tensor, y: torch.Tensor, c1: float = 0.01**2, c2: float = 0.03**2) -> torch.Tensor:
    """The original's *global* SSIM of each channel: one mean, variance and covariance over the whole batch.

    ``SSIM_c = (2 mu_x mu_y + c1)(2 cov_xy + c2) / ((mu_x^2 + mu_y^2 + c1)(var_x + var_y + c2))`` with the moments
    taken over ``(B, H, W)`` of channel ``c`` (population variance), no window. ``c1, c2`` assume data range 1.

    Args:
        x: ``(B, C, H, W)`` float in [0, 1].
        y: same shape.
        c1: luminance stabiliser (``(0.01 * L)^2``).
        c2: contrast stabiliser (``(0.03 * L)^2``).

    Returns:
        ``(C,)`` fp32 tensor, values in [-1, 1].
    """
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    x, y = x.float(), y.float()
    dims = (0, 2, 3)
    mx, my = x.mean(dim=dims), y.mean(dim=dims)
    xc = x - mx.view(1, -1, 1, 1)
    yc = y - my.view(1, -1, 1, 1)
    vx, vy = xc.square().mean(dim=dims), yc.square().mean(dim=dims)
    cov = (xc * yc).mean(dim=dims)
    return ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx.square() + my.square() + c1) * (vx + vy + c2))


def global_ssim(
    x: torch.Tensor,
    y: torch.Tensor,
    channel_weights: Sequence[float] | torch.Tensor,
    c1: float = 0.01**2,
    c2: float = 0.03**2,
) -> torch.Tensor:
    """Channel-weighted global SSIM (see :func:`global_ssim_per_channel`): ``sum_c w_c SSIM_c / sum_c w_c``.

    Args:
        x: ``(B, C, H, W)`` float in [0, 1].
        y: same shape.
        channel_weights: ``C`` non-negative weights.
        c1: luminance stabiliser.
        c2: contrast stabiliser.

    Returns:
        Scalar fp32 tensor in [-1, 1]; 1 for identical inputs.
    """
    per = global_ssim_per_channel(x, y, c1, c2)
    return _combine(per, _weights(channel_weights, x.shape[1], x), "weights")


def windowed_ssim_per_channel(x: torch.Tensor, y: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """Mean windowed (Gaussian 11x11, sigma 1.5, data range 1) SSIM of each channel, via ``kornia.metrics.ssim``.

    Args:
        x: ``(B, C, H, W)`` float in [0, 1].
        y: same shape.
        window_size: odd Gaussian window size.

    Returns:
        ``(C,)`` fp32 tensor.
    """
    import kornia.metrics  # deferred: kornia is only needed for this variant

    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    smap = kornia.metrics.ssim(x.float(), y.float(), window_size, max_val=1.0)
    return smap.mean(dim=(0, 2, 3))


def ssim_loss(
    x: torch.Tensor, y: torch.Tensor, channel_weights: Sequence[float] | torch.Tensor, kind: str = "global"
) -> torch.Tensor:
    """``1 - SSIM``, weighted per channel; ``global`` is the original's, ``windowed`` the usual 11x11 Gaussian SSIM.

    Args:
        x: ``(B, C, H, W)`` float in [0, 1] (the original: the real image).
        y: same shape (the cycled image).
        channel_weights: ``C`` non-negative weights.
        kind: ``global`` | ``windowed``.

    Returns:
        Scalar fp32 tensor in [0, 2]; 0 for identical inputs.
    """
    _check_kind(kind, SSIM_KINDS, "SSIM kind")
    if kind == "global":
        return 1.0 - global_ssim(x, y, channel_weights)
    per = windowed_ssim_per_channel(x, y)
    return 1.0 - _combine(per, _weights(channel_weights, x.shape[1], x), "weights")


def reconstruction_kind_at(progress: float, switch_at: float) -> str:
    """The original's optional L1 -> L2 switch of the cycle and identity losses.

    Args:
        progress: fraction of training done, in [0, 1] (e.g. ``epoch / max_epochs``).
        switch_at: fraction at which to switch; any negative value (``-1``) means never.

    Returns:
        ``"l1"`` while ``progress < switch_at`` (or always, when ``switch_at < 0``), ``"l2"`` from ``switch_at`` on.

    Example:
        >>> [reconstruction_kind_at(p, 0.5) for p in (0.0, 0.49, 0.5, 1.0)]
        ['l1', 'l1', 'l2', 'l2']
    """
    if switch_at < 0 or progress < switch_at:
        return "l1"
    return "l2"


def returns_of(t: torch.Tensor, gap: float) -> torch.Tensor:
    """``(B, 1, H, W)`` float32 0/1: the pixels of network tensor ``t`` whose encoded depth (last channel) decodes as
    a return (``>= gap / 2`` and ``> 0``), as the geometry, colour-anchor and return-rate terms count them."""
    e = t[:, -1:].float()
    return ((e >= gap / 2) & (e > 0)).float()


GEOMETRY_WINDOW = 5
"""Side of the geometry term's box low-pass, pixels (zero-mean sensor noise averages out inside it)."""


def depth_geometry_loss(
    source: torch.Tensor,
    translated: torch.Tensor,
    near: float,
    far: float,
    gap: float,
    window: int = GEOMETRY_WINDOW,
    region: str = "all",
) -> torch.Tensor:
    """How far a translation moved the surfaces of its source, in metres (a depth sensor measures the scene it
    sees: it adds noise, drops returns and mixes depth across edges, but it does not move surfaces).

    Both depth channels are decoded to metres (the codec's linear map, differentiable), low-passed with a
    ``window x window`` box filter over their own valid pixels (zero-mean sensor noise averages out), and compared
    with L1 on the pixels valid in both. Pixels either side made invalid or valid (holes, tails into the
    background) are not compared: those are validity changes, judged by the adversarial term.

    Args:
        source: ``(B, C, H, W)`` network tensor in [0, 1], encoded depth last (invalid = 0).
        translated: same shape, the translation of ``source``.
        near: codec near plane, metres.
        far: codec far plane, metres.
        gap: codec invalid band ``[0, gap)`` (values below ``gap / 2`` are invalid).
        window: odd box-filter side in pixels.
        region: ``all`` compares every pixel valid in both; ``interior`` only those whose whole window holds
            returns in the source, i.e. not within ``window // 2`` pixels of a source silhouette or hole, and both
            low-passes average over those pixels only. In that edge band a sensor that resamples or blurs mixes a
            surface with what lies beside it (metres of depth change), which ``all`` penalises like a moved
            surface; ``interior`` leaves the band to the adversarial term (docs/sensor-aware.md, "Sixteenth
            round").

    Returns:
        Scalar fp32 tensor, mean absolute depth difference in metres (0 when no pixel is valid in both).

    Example:
        >>> x = torch.zeros(1, 4, 8, 8); x[:, 3] = 0.5
        >>> y = x.clone(); y[:, 3] = 0.5 + 0.95 * 0.1 / 4.75  # every surface 10 cm farther
        >>> round(float(depth_geometry_loss(x, y, 0.25, 5.0, 0.05)), 4)
        0.1
    """
    if source.shape != translated.shape or source.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(source.shape)} and "
                         f"{tuple(translated.shape)}")
    assert window % 2 == 1, window
    if region not in GEOMETRY_REGIONS:
        raise ValueError(f"region must be one of {GEOMETRY_REGIONS}, got {region!r}")
    scale = (far - near) / (1.0 - gap)

    def box_mean(t: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        num = F.avg_pool2d(t * weight, window, 1, window // 2, count_include_pad=False)
        den = F.avg_pool2d(weight, window, 1, window // 2, count_include_pad=False)
        return num / den.clamp_min(1e-6)

    def metres(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        valid = returns_of(t, gap)
        return (near + (t[:, -1:].float() - gap) * scale) * valid, valid

    m_src, v_src = metres(source)
    m_out, v_out = metres(translated)
    w_src, w_out = v_src, v_out
    if region == "interior":
        # pixels whose whole window holds source returns (one missing return in 5x5 gives a share of 0.96); both
        # low-passes average over those pixels only, so the edge band's values enter no compared window
        share = F.avg_pool2d(v_src, window, 1, window // 2, count_include_pad=False)
        inner = (share > 1.0 - 1e-3).float()
        w_src, w_out = v_src * inner, v_out * inner
    d_src, d_out = box_mean(m_src, w_src), box_mean(m_out, w_out)
    both = (w_src * w_out).detach()
    return ((d_out - d_src).abs() * both).sum() / both.sum().clamp_min(1.0)


def colour_anchor_loss(source: torch.Tensor, translated: torch.Tensor, gap: float) -> torch.Tensor:
    """How far a translation moved its source's colour: mean absolute RGB difference on the pixels valid in both.

    A self-regularisation term in the sense of SimGAN (Shrivastava et al., CVPR 2017: an L1 between the refined and
    the synthetic image keeps the annotation-relevant content): a sensor's colour camera changes colour through
    gains, a tone curve, blur and noise, mostly by small amounts, and the adversarial term alone drifted colour far
    more than the sensors do in short runs (docs/sensor-aware.md). Pixels either side made invalid or valid are not
    compared (validity changes are judged by the adversarial term).

    Args:
        source: ``(B, C, H, W)`` network tensor in [0, 1], RGB first, encoded depth last (invalid = 0).
        translated: same shape, the translation of ``source``.
        gap: codec invalid band ``[0, gap)`` (depth values below ``gap / 2`` are invalid).

    Returns:
        Scalar fp32 tensor in [0, 1] (0 when no pixel is valid in both).

    Example:
        >>> x = torch.zeros(1, 4, 4, 4); x[:, 3] = 0.5; x[:, :3] = 0.2
        >>> y = x.clone(); y[:, 0] = 0.5
        >>> round(float(colour_anchor_loss(x, y, 0.05)), 4)
        0.1
    """
    if source.shape != translated.shape or source.dim() != 4:
        raise ValueError(f"expected two (B, C, H, W) tensors of one shape, got {tuple(source.shape)} and "
                         f"{tuple(translated.shape)}")

    both = (returns_of(source, gap) * returns_of(translated, gap)).detach()
    diff = (translated[:, :-1].float() - source[:, :-1].float()).abs().mean(dim=1, keepdim=True)
    return (diff * both).sum() / both.sum().clamp_min(1.0)


def _sliced_w2_at_scale(fake: torch.Tensor, real: torch.Tensor, scale: int, patch: int, projections: int,
                        max_patches: int, highpass: bool) -> torch.Tensor | None:
    """Mean squared sorted-projection difference of the two sets' patches at one scale (see
    :func:`patch_sliced_wasserstein`); None when the downsampled images are smaller than ``patch``."""
    c = fake.shape[1]
    f = F.avg_pool2d(fake, scale) if scale > 1 else fake
    r = F.avg_pool2d(real, scale) if scale > 1 else real
    if min(f.shape[-2:]) < patch or min(r.shape[-2:]) < patch:
        return None
    if highpass:
        f = f - F.avg_pool2d(f, 3, 1, 1, count_include_pad=False)
        r = r - F.avg_pool2d(r, 3, 1, 1, count_include_pad=False)
    pf = F.unfold(f, patch).transpose(1, 2).reshape(-1, c * patch * patch)
    pr = F.unfold(r, patch).transpose(1, 2).reshape(-1, c * patch * patch)
    n = min(len(pf), len(pr), max_patches)
    pf = pf[torch.randperm(len(pf), device=pf.device)[:n]]
    pr = pr[torch.randperm(len(pr), device=pr.device)[:n]]
    dirs = torch.randn(c * patch * patch, projections, device=pf.device)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    sf = torch.sort(pf @ dirs, dim=0).values
    sr = torch.sort(pr @ dirs, dim=0).values
    return (sf - sr).square().mean()


def patch_sliced_wasserstein(
    fake: torch.Tensor,
    real: torch.Tensor,
    patch: int = 4,
    projections: int = 64,
    scales: Sequence[int] = (1, 2, 4),
    channel_weights: Sequence[float] | torch.Tensor | None = None,
    max_patches: int = 8192,
    highpass: bool = False,
) -> torch.Tensor:
    """Sliced Wasserstein distance between the local patches of two unpaired image sets, at several scales.

    A critic-free distribution-matching term: every ``patch x patch`` window (stride 1) of each set, at each
    ``scale`` (box-downsampled by that factor), is a point in ``C * patch^2`` dimensions; both point clouds are
    projected on ``projections`` random unit directions (drawn afresh every call), each projection is sorted,
    and the sorted values are compared (the exact 1-D Wasserstein-2 distance per direction). The result is the
    root mean square over directions and scales. Unlike an adversarial term it gives a consistent gradient from
    the first step (no critic has to learn first); it matches local statistics such as noise, edge tails, hole
    patterns and colour distributions, but not global structure. Used for texture synthesis in e.g. Heitz et al.,
    "A Sliced Wasserstein Loss for Neural Texture Synthesis" (CVPR 2021); written here because no dependency
    we use provides it.

    Args:
        fake: ``(B, C, H, W)`` generated images in [0, 1] (gradients flow into these).
        real: ``(M, C, H, W)`` real images of the target domain (same C; any M, H, W).
        patch: window side in pixels.
        projections: random directions per scale.
        scales: downsampling factors (1 = full resolution); a scale is skipped when the image is smaller than
            ``patch`` after downsampling.
        channel_weights: ``C`` non-negative weights applied to the channels before patching (e.g. ``[1, 1, 1, 3]``).
        max_patches: patches drawn at random from each set per scale (the smaller set's count if lower).
        highpass: compare the high-pass residual ``image - 3x3 box blur`` at each scale (a Laplacian-like band)
            instead of the image: this keeps noise, blur, compression, edge tails and hole edges but drops absolute
            colours and depths, which in small unpaired batches reflect *which* scenes were drawn (a red shirt in A,
            a green one in B) rather than the sensor.

    Returns:
        Scalar fp32 tensor >= 0 (0 for identical sets, up to the random subsampling).
    """
    if fake.dim() != 4 or real.dim() != 4 or fake.shape[1] != real.shape[1]:
        raise ValueError(f"expected (B, C, H, W) tensors with equal C, got {tuple(fake.shape)} and {tuple(real.shape)}")
    c = fake.shape[1]
    fake, real = fake.float(), real.float()
    if channel_weights is not None:
        w = _weights(channel_weights, c, fake).view(1, c, 1, 1)
        fake, real = fake * w, real * w
    total, used = fake.new_zeros(()), 0
    for s in scales:
        term = _sliced_w2_at_scale(fake, real, s, patch, projections, max_patches, highpass)
        if term is not None:
            total, used = total + term, used + 1
    if used == 0:
        return total
    return (total / used).clamp_min(1e-12).sqrt()
