"""Sensor-aware outputs around any generator: residual correction, explicit "no return", sampled sensor noise.

Translating a clean render into a depth sensor's look is mostly *keeping* the input and adding sensor effects:
some are deterministic functions of the scene (holes at grazing angles, on dark surfaces and beyond range, edge
tails, colour response), some are random (depth noise growing with range, colour noise, random dropouts). A plain
image-to-image generator has to rebuild every pixel through its bottleneck, cannot output an exact "no return"
(invalid = 0 in every channel) and has no source of randomness. :class:`SensorAwareGenerator` wraps any backbone
from the registry (``vologan``, ``resnet9``) and adds, each behind its own switch:

* **residual** (``residual=True``): the output is the input plus a predicted correction. The correction comes from
  a zero-initialised 1x1 head, so the untrained generator returns its input exactly (geometry and colour are kept
  from the first step) and training only has to learn the sensor's *changes*.
* **exact validity from depth** (``validity="depth"``): the corrected depth value itself decides (below the codec's
  ``gap / 2`` threshold = no return, as in the plain generator, so holes and edge tails can ramp into "no return"),
  and an invalid pixel comes out as exactly 0 in every channel; the zeroing is straight-through (identity gradient),
  so a dropped pixel can come back. In our short-budget ablation this learned holes and tails better than a
  separate logit (docs/sensor-aware.md).
* **explicit validity** (``validity="threshold"`` or ``"sampled"``): a per-pixel "return / no return" logit. A pixel
  whose logit is <= 0 comes out as exactly 0 in every channel (the codec's invalid pixel); a valid pixel's depth
  is kept inside the codec's valid band ``[gap, 1]``, so it can never decode as invalid by accident. With
  ``residual`` the logit starts from the input's own validity (``+/- validity_prior``), so the untrained generator
  keeps every hole and every valid pixel. Gradient path: **straight-through** (forward: the hard 0/1 mask;
  backward: the gradient of ``sigmoid(logit)``). We chose it over a relaxed-Bernoulli (Concrete) mask because the
  relaxed mask's forward values are fractional, which would put non-zero "almost invalid" pixels into the critic's
  input and into the encoded depth; the straight-through mask keeps the forward output exactly in the codec's
  format, and its biased gradient is the usual price (it works well for binary masks of this kind in practice).
  The surrogate's slope is 1 at the decision boundary (:data:`STE_SLOPE`).
  ``"sampled"`` adds logistic noise with a learned scale (initialised at 0) to the logit before thresholding, i.e.
  a straight-through *Gumbel-sigmoid* sample: the mask becomes a Bernoulli draw with probability
  ``sigmoid(logit / scale)``, so random dropouts (dark surfaces, speckle) can be learned.
* **sampled sensor noise** (``noise=True``), as StyleGAN's noise injection: (1) two extra input channels of
  standard normal noise for the backbone, one per pixel and one per image (broadcast), which it may shape into
  spatially correlated or per-frame random effects (exposure, white balance); (2) per-pixel Gaussian noise added to
  every output channel with a learned per-channel strength (initialised at 0) times a per-pixel scale predicted by
  the head (``exp`` of a bounded log-scale), so the noise level can follow depth, as a time-of-flight sensor's does.
  Passing ``stochastic=False`` to :meth:`SensorAwareGenerator.forward` switches all randomness off (zero noise
  inputs, no output noise, the deterministic validity threshold): the training module uses it for the cycle and
  identity reconstructions so that those terms cannot punish the sampled noise (see ``docs/sensor-aware.md``).
* **anchored new returns** (``new_returns="anchored"``, with ``validity="depth"`` and a ``reach``): a pixel where
  the input has no return but a surface lies within ``reach`` starts from the *valid-only* mean of the input around
  it (:func:`valid_mean_basis` over the reach box) instead of the codec's "no return" 0, and a learned logit
  (straight-through, starting at ``-birth_prior``: no new returns at initialisation) decides whether it returns.
  With ``"ramp"`` (the default, and every run before it) a new return is born when the residual and the bases lift
  the 0 above the codec's threshold: its depth is then a ramp between the surface and the code 0, which decodes as
  the *near* end of the range (``near`` metres), so invented returns along silhouettes sit in front of the
  subject. Anchored, a new return starts at the neighbouring surface's depth and the same residual and bases move
  it (towards a low-pass ramp too, where the target data has one); presence and depth are learned separately.
* **low-resolution sensing** (``lowpass_scales=(2, 4)``): for each scale ``s`` the input seen at ``1/s`` of its
  resolution (area-averaged down, bilinear back up) is offered as a basis; the head predicts, per pixel and per
  channel, how far to move towards it (a zero-initialised coefficient, so the untrained wrapper is still the
  identity). Many depth sensors sense depth at a fraction of the colour camera's resolution and upsample it
  (phone LiDAR/ToF), or smooth it over a matching window (stereo); their edges become ramps and mixed "flying"
  pixels, and colour cameras blur. Built from the input by a fixed operator, such a blend is one multiplication
  away for the head, where a backbone would need many steps to learn to produce the same low-pass from scratch.
  The low-pass does not skip invalid pixels (0): where a surface meets empty background, the blend ramps the
  depth towards 0, and with ``validity="depth"`` the ramp's far end becomes "no return". The blend applies to
  every pixel within ``reach`` (also to holes, which it can fill: restricting it to pixels where the input returns
  measured worse, see ``docs/sensor-aware.md``).
* **valid-only neighbourhood averages** (``fill_radii=(1, 2, 4)``): for each radius ``r`` the normalised
  convolution (Knutsson and Westin 1993) of the input over a ``(2r+1) x (2r+1)`` box: the mean of the *valid*
  pixels around each pixel, every channel, and 0 where the box holds no valid pixel. Offered as a basis the head
  blends towards per pixel and channel (zero-initialised). On a surface it is a smoothing that never mixes in the
  background's 0 (so unlike the low-pass it does not ramp edges towards "no return"); in a hole or just outside a
  silhouette it is a fill with the neighbouring surface's value. Many depth pipelines fill holes and smooth within
  surfaces (driver hole filling, densification of sparse returns, guided upsampling), and a fill cannot be
  produced by the residual or the low-pass (both start from the hole's own 0). Generic: no window shape, weighting
  or fill rule of any sensor; the head learns where and how much from the target data.
* **learned resampling** (``resample_factors=(2, 3, 4)``): for each integer factor ``s`` the input seen through a
  learned ``s``-times down-sampling and a learned up-sampling (:class:`~volo_adapt.models.resampling.
  LearnedResampling`, per-channel kernels that start as a box average and bilinear interpolation), offered as a
  basis the head blends towards per pixel and channel (zero-initialised). Sensors that measure at a lower
  resolution and resample leave lattice-bound textures (piecewise-linear or blocky depth between sample points,
  demosaicking and compression blocks in colour) that a translation-equivariant backbone cannot place; the kernels
  are fitted to the target data by the adversarial loss, not taken from any sensor's pipeline. An earlier
  ``sensing_grids`` basis (point-sampling on a given grid, bilinear back up) was removed: it was one built-in
  sensor's own resampling code (issue 21).
* **native-grid resampling** (``native_cell_px``, set by ``model.sensor.native_grid: auto`` from ``volo data
  inspect``'s grid estimate of the target set): one more basis, the input through a learned down- and up-sampling
  on a lattice of that (fractional) cell size with continuous learned kernels and phase
  (:class:`~volo_adapt.models.grid_resampling.GridResampling`), for sensors whose native grid is coarse or falls
  between the integer factors. The cell size is the only number that comes from the data.
* **pixel coordinates** (``coords=True``): x, y in [-1, 1] and r^2 as extra input channels, for effects that depend
  on the position in the frame (vignetting, lens shading, projector fall-off) and that a translation-equivariant
  backbone cannot otherwise place.

All tensors are ``(B, C, H, W)``, RGB first and the encoded depth last, values in [0, 1]; invalid pixels are 0 in
every channel. The wrapper exposes the backbone's ``size_multiple``, ``min_size`` and ``requires_square``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from volo_adapt.models.birth_rings import RING_ANCHOR_GAIN, RING_ANCHOR_START, ring_anchor, ring_distance, valid_share
from volo_adapt.models.box_sums import adaptive_mean_pool, box_sums, side_length
from volo_adapt.models.camera_colour import GlobalColourModel
from volo_adapt.models.grid_resampling import GridResampling
from volo_adapt.models.layers import fp32_call, hard_sigmoid_tf
from volo_adapt.models.pinholes import bounded_logit, box_majority, fill_and_drop, logistic, surrounded
from volo_adapt.models.resampling import LearnedResampling
from volo_adapt.return_statistics import RETURN_BINS, feature_bins

VALIDITY_MODES = ("none", "depth", "threshold", "sampled")
"""``none``: validity only through the depth value (the codec's ``gap / 2`` threshold), colour left as produced;
``depth``: the same decision, but an invalid pixel comes out as exactly 0 in every channel (straight-through:
gradients pass as if nothing were zeroed); ``threshold``: a separate validity logit and a straight-through hard
mask; ``sampled``: the same with learned logistic noise on the logit (Gumbel-sigmoid)."""

NEW_RETURN_MODES = ("ramp", "anchored")
"""How a pixel without a return in the input gets one: ``ramp`` (its depth, starting from the codec's 0, crosses the
validity threshold) or ``anchored`` (a learned logit decides; its depth starts from the valid-only mean of the
input within ``reach``); see the module docstring."""

DROP_MODES = ("none", "learned")
"""``drops``: how a pixel where the input returns loses its return. ``none``: only when its corrected depth falls
below the codec's threshold (a ramp); ``learned``: a keep logit per depth bin of the input's return decides it too,
starting at ``+validity_prior`` (every return kept at initialisation), without a straight-through gradient (the
return-rate term trains it: volo_adapt.return_statistics); needs ``new_returns="anchored"``."""

RING_DEPTH_MODES = ("learned", "anchor")
"""Where a ring's new return gets its depth (with ``birth_rings``): ``learned`` (the anchor plus the head's residual
and blends, as every other pixel) or ``anchor`` (the anchor itself, plus the sampled output noise: the head cannot
move a ring's returns, only the anchor's learned exponent and which of them return; a candidate after the rings'
returns drifted about twice as far from the truth's as their anchors, docs/sensor-aware.md, fifteenth, sixteenth and
nineteenth rounds)."""

PINHOLE_FILL_MODES = ("source", "output")
"""Which holes the pinhole fill decides (``pinhole_rates`` with fewer target pinholes): ``source`` (the source's
pinholes, and what their fills leave surrounded) or ``output`` (also, last, every hole without an input return that
the output's returns surround). A candidate: ``source`` in every preset."""

LATE_FILL_PASSES = 4
"""Passes of ``pinhole_fill: output``'s last fill (a pass's fills can surround the hole pixels beside them: a 3x3
hole with a birth at its centre needs two). Measured on a zone_tof design checkpoint (60 test images; the target has
no isolated holes): isolated holes per 1000 subject pixels after 1, 2, 3, 4, 8 passes 3.27, 1.57, 1.38, 1.20, 1.16
(docs/sensor-aware.md "Twenty-third round")."""

PINHOLE_WHERE_MODES = ("learned", "random")
"""What decides where pinholes are filled or dropped: ``learned`` (the head's return logit, which new returns share,
plus the learned offset and noise) or ``random`` (the offset and noise only: the head's logit, pushed around by the
births' gradients, cannot move the rates). A candidate: ``learned`` in every preset."""

KEEP_LOGIT_GAIN = 10.0
"""Factor on the keep logit's learned part (``drops="learned"``: one parameter per depth bin,
``SensorAwareGenerator.keep_by_depth``). Only the return-rate term trains it, and Adam moves a parameter by about
the learning rate per step whatever the gradient's size: at the presets' 5e-4 that is at most 0.3 in 600 batches,
less than the ``validity_prior`` (0.5) a drop must overcome; the gain makes the same steps ten times larger in
logit units (docs/sensor-aware.md, "Eleventh round")."""

COLOUR_MODES = ("free", "camera")
"""``free``: the head's per-pixel residual changes colour anywhere; ``camera``: colour changes only through a
per-image camera model (:class:`~volo_adapt.models.camera_colour.GlobalColourModel`: colour matrix, offset, tone
curve, vignetting) plus the bases' blends and the sampled noise (blur, resampling, pixel noise)."""

LOG_SCALE_BOUND = 4.0
"""The per-pixel noise log-scale is squashed into ``[-4, 4]`` (scale factor ``e^-4 .. e^4`` around the strength)."""


def coordinate_channels(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)``: x and y pixel-centre coordinates in [-1, 1] and ``r^2 = x^2 + y^2`` (in [0, 2])."""
    # pixel indices by a cumulative sum over a plane of ones shaped like x, not linspace(h).expand(b, 1, h, w):
    # an exported graph then follows the input's size (the linspace's length was baked in at the example's size,
    # and onnxruntime rejected the graph at any other); the values equal linspace's to rounding
    ones = torch.ones_like(x[:, :1])
    iy, ix = ones.cumsum(2) - 1.0, ones.cumsum(3) - 1.0
    ys = iy * (2.0 / iy[:, :, -1:, :1].clamp_min(1.0)) - 1.0  # the last row's index is h - 1
    xs = ix * (2.0 / ix[:, :, :1, -1:].clamp_min(1.0)) - 1.0
    return torch.cat([xs, ys, xs * xs + ys * ys], dim=1)


def valid_mean_basis(x: torch.Tensor, valid: torch.Tensor, radius: int | torch.Tensor) -> torch.Tensor:
    """The mean of the valid pixels in each pixel's ``(2 radius + 1)``-sided box (normalised convolution).

    Hand-written because no library offers it: kornia's filters average invalid pixels (0) like any other value.

    Args:
        x: ``(B, C, H, W)`` float, invalid pixels 0.
        valid: ``(B, 1, H, W)`` bool or 0/1 float, the pixels of ``x`` that count.
        radius: integer >= 1, pixels: an int or a 0-dim integer tensor (:func:`~volo_adapt.models.box_sums.box_sums`).

    Returns:
        ``(B, C, H, W)``, same dtype as ``x``: per channel, the mean of ``x`` over the valid pixels of the box
        (computed in float64); exactly 0 where the box holds no valid pixel. Boxes are cut at the image border.

    Example:
        >>> x = torch.zeros(1, 1, 1, 5); x[..., 2] = 0.5
        >>> valid_mean_basis(x, x > 0, 1)
        tensor([[[[0.0000, 0.5000, 0.5000, 0.5000, 0.0000]]]])
    """
    v = valid.to(torch.float64)
    num, den = box_sums(x * v, radius), box_sums(v, radius)  # the box's pixel count cancels in the ratio
    out = torch.where(den > 0, num / den.clamp_min(1.0), torch.zeros_like(num))
    return out.to(x.dtype)


def lowpass_basis(x: torch.Tensor, factor: int) -> torch.Tensor:
    """``x`` as seen at ``1/factor`` of its resolution: area-averaged down, bilinearly back up to its own size.

    Args:
        x: ``(B, C, H, W)`` float; invalid pixels (0) are averaged like any other value (a low-resolution sensor
            pixel that covers an edge mixes surface and background).
        factor: integer >= 2; the low-resolution grid is ``ceil(H / factor) x ceil(W / factor)``.

    Returns:
        ``(B, C, H, W)``, same dtype; a constant image is returned unchanged.

    Example:
        >>> bool(torch.allclose(lowpass_basis(torch.full((1, 4, 10, 10), 0.3), 4), torch.tensor(0.3)))
        True
    """
    small = adaptive_mean_pool(x, factor)  # adaptive_avg_pool2d's bins, in a form that exports at any size
    return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)


STE_SLOPE = 4.0
"""Backward slope of the straight-through mask at the decision boundary: the surrogate is ``4 sigmoid(logit)``,
whose derivative is 1 at ``logit = 0`` (plain ``sigmoid`` gives 0.25 there and 0.2 at the residual prior of 1,
which left the validity path nearly untrained in short runs)."""


def straight_through_mask(logit: torch.Tensor) -> torch.Tensor:
    """Hard ``logit > 0`` mask in the forward pass, the gradient of ``STE_SLOPE * sigmoid(logit)`` backward.

    Args:
        logit: any shape, float.

    Returns:
        Same shape and dtype, values exactly 0 or 1.

    Example:
        >>> straight_through_mask(torch.tensor([-2.0, 0.5]))
        tensor([0., 1.])
    """
    p = torch.sigmoid(logit) * STE_SLOPE
    hard = (logit > 0).to(logit.dtype)
    return hard + (p - p.detach())


class ReturnDecisions(NamedTuple):
    """What one forward pass decided about returns, for the return-statistics terms
    (volo_adapt.return_statistics): ``forward(x, with_returns=True)``'s second value.

    Attributes:
        keep_logit: ``(B, 1, H, W)`` float, the keep logit of :attr:`SensorAwareGenerator.drops` ``learned`` (at
            pixels where ``x`` has a return, ``> 0`` keeps it), with its gradient; None unless drops are learned.
        returned: ``(B, 1, H, W)`` 0/1 float (straight-through: the gradient of the logits that decided it), the
            return mask the output was multiplied by (1 = the pixel keeps or gets a return); None without
            ``new_returns: anchored``.
        candidates: ``(B, 1, H, W)`` bool, the pixels that could get a new return (no return in ``x``, a surface
            within :attr:`SensorAwareGenerator.reach`); None without ``new_returns: anchored``.
    """

    keep_logit: torch.Tensor | None
    returned: torch.Tensor | None
    candidates: torch.Tensor | None


class SensorAwareGenerator(nn.Module):
    """Wraps a backbone that returns raw feature maps with the sensor-aware switches (see the module docstring).

    Args:
        backbone: a generator built with ``raw_output=True`` mapping ``(B, channels + extra_inputs, H, W)`` to
            ``(B, features, H, W)`` unbounded features (:attr:`extra_inputs` tells how many extra channels).
        channels: image channels (RGB + depth = 4; depth is the last channel).
        features: the backbone's output width.
        depth_gap: the codec's reserved invalid band ``[0, gap)`` in encoded units (``data.depth_gap``).
        residual: predict a correction to the input (identity at initialisation).
        validity: one of :data:`VALIDITY_MODES`.
        noise: noise input channels and learned output noise.
        coords: pixel-coordinate input channels.
        validity_prior: with ``residual``, the logit offset ``+/- prior`` that reproduces the input's validity.
        reach: how far from the input's valid pixels an output pixel may be valid, as a fraction of the image's
            longer side (a dilation of the input's valid mask; rounded to whole pixels); negative = anywhere.
            A depth sensor only returns depth where there is a surface: new returns appear next to surfaces
            (flying pixels, mixed edges), not in empty background. Every channel of a pixel out of reach is 0.
        lowpass_scales: integer factors (each >= 2) of the low-resolution bases the head may blend towards
            (see the module docstring); empty = off.
        resample_factors: integer factors (each >= 2) of the learned-resampling bases (module docstring); empty = off.
        fill_radii: integer radii (each >= 1, pixels) of the valid-only neighbourhood-average bases (module
            docstring); empty = off.
        new_returns: one of :data:`NEW_RETURN_MODES`; ``anchored`` needs ``validity="depth"``, ``residual`` and a
            ``reach >= 0``.
        birth_prior: with ``anchored``, the offset ``-birth_prior`` of the new-return logit (>= 0); 0 puts it on the
            decision boundary (still no new returns at initialisation: the mask is ``logit > 0``), where the
            straight-through gradient is steepest.
        drops: one of :data:`DROP_MODES`; ``learned`` lets the return logit remove returns of the input too (it starts
            at ``+validity_prior`` there: nothing removed at initialisation), so a sensor's deterministic dropouts
            (dark, grazing or far surfaces, occlusion shadows) can be learned; needs ``anchored``. A drop passes no
            straight-through gradient (through it the critic and the geometry term read a drop as a depth change
            and cancelled out: docs/sensor-aware.md, "Ninth round"); ``loss.return_rate_weight`` trains the logit
            (:meth:`forward` ``with_returns``). A candidate, off in every preset ("Tenth round").
        colour: one of :data:`COLOUR_MODES`.
        native_cell_px: cell side of the target's estimated native grid, pixels (``>= 1.5``) for a
            :class:`~volo_adapt.models.grid_resampling.GridResampling` basis; 0 = none.
        pinhole_rates: with ``anchored``, ``(source, target)``: the fraction of surrounded pixels that are pinholes
            in this generator's source and target domains (:mod:`~volo_adapt.models.pinholes`); the generator then
            starts by filling source pinholes with probability ``p`` or dropping surrounded valid pixels with
            probability ``q`` (:func:`~volo_adapt.models.pinholes.fill_and_drop`), through the return logit plus a
            learned offset (:attr:`fill_logit`, :attr:`drop_logit`) and logistic noise. None = off.
        birth_rings: with ``anchored``, how many one-pixel rings (city-block distance) around the input's returns
            start with new returns (:mod:`~volo_adapt.models.birth_rings`, estimated from the two training sets by
            ``model.sensor.birth_rings: auto``): there the return logit gets a learned offset
            (:attr:`ring_logit`, starting at +6) instead of ``-birth_prior``; rings beyond ``reach`` stay empty.
            0 = off. A candidate, off in every preset.
        ring_powers: with ``birth_rings``, ``(colour, depth)``: the exponents the rings' anchors start with
            (:func:`~volo_adapt.models.birth_rings.ring_anchor`; learned from there); None: the built-in start.
        ring_depth: with ``birth_rings``, one of :data:`RING_DEPTH_MODES`: whether the head's residual may move the
            depth of a ring's new return (``learned``) or it stays at its anchor plus noise (``anchor``).
        keep_majority: with ``drops`` ``learned``, a return's keep decision is the majority of the decisions of the
            input's returns in its 3x3 box (ties keep; :func:`~volo_adapt.models.pinholes.box_majority`), so that
            drops by depth bin make regions instead of single holes wherever noise scatters depths across a bin's
            edge. A candidate, off in every preset.
        pinhole_fill: with ``pinhole_rates`` whose target has fewer pinholes, one of :data:`PINHOLE_FILL_MODES`:
            ``source`` fills the source's pinholes (and, in a second pass, what the first pass's fills left
            surrounded); ``output`` also gives the fill decision, last, to every pixel without a return in the
            input that the output's returns surround (holes that births or drops leave surrounded), in
            :data:`LATE_FILL_PASSES` passes.
        pinhole_where: with ``pinhole_rates``, one of :data:`PINHOLE_WHERE_MODES`: whether the head's return logit
            (shared with new returns) takes part in the fill and drop decisions (``learned``) or only the two learned
            offsets and the noise do (``random``: where stays a draw, the rates stay learned).
        mask_decides: with ``anchored``, the return mask alone decides which pixels have a return: a pixel it keeps
            or gives a return gets at least the codec's smallest valid depth (``depth_gap``), so a depth the head
            pushes under the codec's threshold no longer drops it (with ``validity: depth`` that was a second,
            unlearned way to lose a return, which the birth-rate and return-rate terms do not see). A candidate.

    Shapes:
        ``forward(x)``: ``(B, channels, H, W)`` float in [0, 1] -> same shape, float in [0, 1].

    Example:
        >>> from volo_adapt.models.vologan_generator import VoloGANGenerator
        >>> bb = VoloGANGenerator(4 + 5, 16, base=4, levels=3, raw_output=True)
        >>> g = SensorAwareGenerator(bb, 4, 16, depth_gap=0.05, residual=True, validity="threshold", noise=True,
        ...                          coords=True)
        >>> x = torch.rand(1, 4, 32, 32)
        >>> x[:, 3] = 0.05 + 0.95 * x[:, 3]  # valid encoded depth lies in [gap, 1]
        >>> x[:, :, :8] = 0.0  # invalid pixels: 0 in every channel
        >>> bool(torch.equal(g(x), x))  # untrained: the input, exactly
        True
    """

    def __init__(
        self,
        backbone: nn.Module,
        channels: int,
        features: int,
        depth_gap: float,
        residual: bool = True,
        validity: str = "threshold",
        noise: bool = True,
        coords: bool = False,
        validity_prior: float = 3.0,
        reach: float = -1.0,
        lowpass_scales: Sequence[int] = (),
        resample_factors: Sequence[int] = (),
        colour: str = "free",
        fill_radii: Sequence[int] = (),
        new_returns: str = "ramp",
        birth_prior: float = 3.0,
        drops: str = "none",
        native_cell_px: float = 0.0,
        pinhole_rates: tuple[float, float] | None = None,
        birth_rings: int = 0,
        ring_powers: tuple[float, float] | None = None,
        ring_depth: str = "learned",
        keep_majority: bool = False,
        pinhole_fill: str = "source",
        pinhole_where: str = "learned",
        mask_decides: bool = False,
    ) -> None:
        super().__init__()
        if validity not in VALIDITY_MODES:
            raise ValueError(f"validity must be one of {', '.join(VALIDITY_MODES)}, got {validity!r}")
        if colour not in COLOUR_MODES:
            raise ValueError(f"colour must be one of {', '.join(COLOUR_MODES)}, got {colour!r}")
        if new_returns not in NEW_RETURN_MODES:
            raise ValueError(f"new_returns must be one of {', '.join(NEW_RETURN_MODES)}, got {new_returns!r}")
        if new_returns == "anchored" and not (validity == "depth" and residual and reach >= 0):
            raise ValueError("new_returns='anchored' needs validity='depth', residual=True and reach >= 0")
        if validity_prior <= 0:
            raise ValueError(f"validity_prior must be > 0, got {validity_prior}")
        if birth_prior < 0:
            raise ValueError(f"birth_prior must be >= 0, got {birth_prior}")
        if drops not in DROP_MODES:
            raise ValueError(f"drops must be one of {', '.join(DROP_MODES)}, got {drops!r}")
        if drops == "learned" and new_returns != "anchored":
            raise ValueError("drops='learned' needs new_returns='anchored' (one return logit decides births and drops)")
        if pinhole_rates is not None and new_returns != "anchored":
            raise ValueError("pinhole_rates need new_returns='anchored' (a filled pinhole is an anchored new return)")
        if birth_rings < 0 or (birth_rings > 0 and new_returns != "anchored"):
            raise ValueError(f"birth_rings must be >= 0 and needs new_returns='anchored', got {birth_rings}")
        if ring_depth not in RING_DEPTH_MODES:
            raise ValueError(f"ring_depth must be one of {', '.join(RING_DEPTH_MODES)}, got {ring_depth!r}")
        if pinhole_where not in PINHOLE_WHERE_MODES:
            raise ValueError(f"pinhole_where must be one of {', '.join(PINHOLE_WHERE_MODES)}, got {pinhole_where!r}")
        if pinhole_fill not in PINHOLE_FILL_MODES:
            raise ValueError(f"pinhole_fill must be one of {', '.join(PINHOLE_FILL_MODES)}, got {pinhole_fill!r}")
        self.backbone = backbone
        self.channels = channels
        self.depth_gap = float(depth_gap)
        self.residual = residual
        self.validity = validity
        self.noise = noise
        self.coords = coords
        self.validity_prior = float(validity_prior)
        self.reach = float(reach)
        self.new_returns = new_returns
        self.birth_prior = float(birth_prior)
        self.drops = drops
        self.keep_majority = bool(keep_majority)
        self.fill_output_holes = pinhole_fill == "output"
        self.mask_decides = bool(mask_decides)
        self.pinhole_where = pinhole_where
        self.lowpass_scales = tuple(int(f) for f in lowpass_scales)
        if any(f < 2 for f in self.lowpass_scales):
            raise ValueError(f"lowpass_scales must be integers >= 2, got {list(lowpass_scales)}")
        self.fill_radii = tuple(int(r) for r in fill_radii)
        if any(r < 1 for r in self.fill_radii):
            raise ValueError(f"fill_radii must be integers >= 1, got {list(fill_radii)}")
        self.resampling = LearnedResampling(channels, resample_factors) if resample_factors else None
        self.native_grid = GridResampling(channels, native_cell_px) if native_cell_px > 0 else None
        self.camera = GlobalColourModel(features) if colour == "camera" else None
        self.sample_by_default = True
        """What ``forward(x)`` does without ``stochastic``: sample (True) or the deterministic output (exports)."""
        self.size_multiple = getattr(backbone, "size_multiple", 1)
        self.min_size = getattr(backbone, "min_size", 1)
        self.requires_square = getattr(backbone, "requires_square", False)
        n_valid = 1 if validity in ("threshold", "sampled") or new_returns == "anchored" else 0
        n_noise = channels if noise else 0
        n_bases = channels * (len(self.lowpass_scales) + len(tuple(resample_factors)) + len(self.fill_radii)
                              + (self.native_grid is not None))
        self.head = nn.Conv2d(features, channels + n_bases + n_valid + n_noise, 1)
        if residual:  # the untrained wrapper returns its input: no correction, no validity change, unit noise scale
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        if noise:
            self.noise_strength = nn.Parameter(torch.zeros(channels))
            """Per-channel std of the output noise in encoded units (before the per-pixel scale); init 0."""
        fill, drop = fill_and_drop(*pinhole_rates) if pinhole_rates is not None else (0.0, 0.0)
        self.pinhole_fill, self.pinhole_drop = fill > 0, drop > 0
        if self.pinhole_fill:
            self.fill_logit = nn.Parameter(torch.tensor(bounded_logit(fill)))
            """Offset of the return logit at source pinholes; starts at logit(p) (learned)."""
        if self.pinhole_drop:
            self.drop_logit = nn.Parameter(torch.tensor(bounded_logit(drop)))
            """Offset of the drop logit (minus the return logit) at surrounded valid pixels; starts at logit(q)."""
        self.birth_rings = int(birth_rings)
        self.ring_depth = ring_depth
        if self.birth_rings:
            self.ring_logit = nn.Parameter(torch.tensor(bounded_logit(1.0)))
            """Offset of the return logit on the first :attr:`birth_rings` rings around the input's returns; starts
            at the bound (+6: every ring pixel within reach returns), learned."""
            start = RING_ANCHOR_START if ring_powers is None else tuple(float(v) for v in ring_powers)
            self.ring_anchor_power = nn.Parameter(torch.tensor(start) / RING_ANCHOR_GAIN)
            """``(2,)``: the learned exponents (colour, depth) of the box's valid share in a new return's anchor,
            before :data:`~volo_adapt.models.birth_rings.RING_ANCHOR_GAIN` (:func:`~volo_adapt.models.birth_rings.
            ring_anchor`: 0 = the surface's valid-only mean, 1 = the box mean with no-return pixels as 0)."""
        if drops == "learned":
            self.keep_by_depth = nn.Parameter(torch.zeros(RETURN_BINS))
            """The keep logit of a return in each depth bin of the input (volo_adapt.return_statistics' bins),
            before :data:`KEEP_LOGIT_GAIN` and ``+validity_prior``; starts at 0 (every return kept). One parameter
            per bin, not a head channel: the return-rate term's target is one rate per bin, and on the design sets a
            head channel (its own or the births') moved by at most 0.2 between the nearest and farthest bin in 600
            batches while the bins the target keeps entirely (rate 1) pulled it up everywhere
            (docs/sensor-aware.md, "Eleventh round")."""
        if validity == "sampled":
            self.validity_temperature = nn.Parameter(torch.zeros(()))
            """Scale of the logistic noise on the validity logit (its sign is irrelevant: the noise is symmetric)."""

    @staticmethod
    def extra_inputs(noise: bool, coords: bool) -> int:
        """Channels the wrapper appends to the image before the backbone: 2 for noise, 3 for coordinates."""
        return (2 if noise else 0) + (3 if coords else 0)

    def within_reach(self, x: torch.Tensor) -> torch.Tensor | None:
        """``(B, 1, H, W)`` float 0/1: pixels within :attr:`reach` of the input's valid pixels (None: no limit)."""
        if self.reach < 0:
            return None
        # a box sum, not max_pool2d: the window follows the input's size, and an exported graph must follow it too
        return (box_sums(self.input_valid(x), self.reach_px(x)) > 0).to(x.dtype)

    def reach_px(self, x: torch.Tensor) -> torch.Tensor:
        """:attr:`reach` in whole pixels of ``x`` (``(B, C, H, W)``), rounded as Python's ``round``: a 0-dim int64
        tensor computed from the input (exports follow the size); only for ``reach >= 0``."""
        return torch.round(side_length(x) * self.reach).to(torch.int64)

    def anchored(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``x`` with the depth of every pixel that has no return but a valid pixel within :attr:`reach` replaced
        by the valid-only mean depth of the reach box (the anchor of a possible new return), and the ``(B, 1, H, W)``
        bool mask of those pixels; ``(x, None)`` unless ``new_returns == "anchored"``. With :attr:`birth_rings` the
        colour is anchored too (the rings' new returns are many and start returned: black, the network's colour of
        "no return", would ring every surface), and both anchors are scaled by the box's valid share to a learned
        power (:func:`~volo_adapt.models.birth_rings.ring_anchor`: a surface mixed with what lies beside it)."""
        if self.new_returns != "anchored":
            return x, None
        valid = self.input_valid(x)
        channels = x if self.birth_rings else x[:, -1:]
        radius = self.reach_px(x).clamp_min(1)
        fill = valid_mean_basis(channels, valid, radius)
        ring = ~valid & (fill[:, -1:] >= self.depth_gap / 2)
        if self.birth_rings:
            power = RING_ANCHOR_GAIN * self.ring_anchor_power  # (colour, depth) -> one exponent per channel
            power = torch.cat([power[:1].expand(x.shape[1] - 1), power[1:]])
            return torch.where(ring, ring_anchor(fill, valid_share(valid, radius), power), x), ring
        depth = torch.where(ring, fill, x[:, -1:])
        return torch.cat([x[:, :-1], depth], dim=1), ring

    def bases(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The ``(B, C, H, W)`` bases the head blends towards: the low-pass ones, the learned resamplings, the
        valid-only neighbourhood averages, then the resampling on the estimated native grid."""
        out = [lowpass_basis(x, factor) for factor in self.lowpass_scales]
        out += fp32_call(self.resampling, x) if self.resampling is not None else []
        if self.fill_radii:
            valid = self.input_valid(x)
            out += [valid_mean_basis(x, valid, r) for r in self.fill_radii]
        if self.native_grid is not None:
            out.append(fp32_call(self.native_grid, x))
        return out

    def input_valid(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` bool: the pixels of ``x`` the codec decodes as valid (encoded depth >= gap / 2, > 0)."""
        d = x[:, -1:]
        return (d > 0) & (d >= self.depth_gap / 2)

    def draws(self, x: torch.Tensor, seeds: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
        """The random numbers one stochastic forward pass uses, shaped for ``x`` (``(B, C, H, W)``).

        Args:
            x: the input batch (shape, device and dtype are taken from it).
            seeds: one seed per sample: each sample's numbers then come from its own generator, so a sample's
                translation does not depend on the batch it is in (``volo translate`` seeds by file name, so a
                resumed translation writes the same bytes). None: torch's global generator.

        Returns:
            ``pixel (B, 1, H, W)`` and ``image (B, 1, 1, 1)`` standard normal noise inputs, ``output (B, C, H, W)``
            standard normal output noise, ``uniform (B, 1, H, W)`` in (0, 1) for the sampled validity.
        """
        b, c, h, w = x.shape
        shapes = {"pixel": (1, h, w), "image": (1, 1, 1), "output": (c, h, w), "uniform": (1, h, w)}
        if seeds is None:
            out = {k: torch.randn(b, *s, device=x.device, dtype=x.dtype) for k, s in shapes.items() if k != "uniform"}
            out["uniform"] = torch.rand(b, *shapes["uniform"], device=x.device, dtype=x.dtype)
            return out
        if len(seeds) != b:
            raise ValueError(f"SensorAwareGenerator: {len(seeds)} seeds for a batch of {b}")
        per_sample: dict[str, list[torch.Tensor]] = {k: [] for k in shapes}
        for seed in seeds:
            gen = torch.Generator(device=x.device).manual_seed(int(seed))
            for k, s in shapes.items():
                fn = torch.rand if k == "uniform" else torch.randn
                per_sample[k].append(fn(s, generator=gen, device=x.device, dtype=x.dtype))
        return {k: torch.stack(v) for k, v in per_sample.items()}

    def forward(
        self, x: torch.Tensor, stochastic: bool | None = None, seeds: Sequence[int] | None = None,
        with_returns: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, ReturnDecisions]:
        """Translate ``x``.

        Args:
            x: ``(B, C, H, W)`` in [0, 1].
            stochastic: sample noise and holes (default :attr:`sample_by_default`, True); False switches every
                random part off (see the module docstring).
            seeds: per-sample seeds for the random parts (see :meth:`draws`); None: torch's global generator.
            with_returns: also return the pass's :class:`ReturnDecisions` (the keep logit of learned drops,
                the return mask and the new-return candidates), for the return-statistics terms
                (volo_adapt.return_statistics).
        """
        b, c, h, w = x.shape
        if c != self.channels:
            raise ValueError(f"SensorAwareGenerator: expected input (B, {self.channels}, H, W), got {tuple(x.shape)}")
        stochastic = self.sample_by_default if stochastic is None else stochastic
        random_parts = self.noise or self.validity == "sampled" or self.pinhole_fill or self.pinhole_drop
        rand = self.draws(x, seeds) if stochastic and random_parts else None
        inputs = [x]
        if self.noise:
            if rand is not None:
                inputs += [rand["pixel"], rand["image"].expand(b, 1, h, w)]
            else:
                inputs.append(x.new_zeros(b, 2, h, w))
        if self.coords:
            inputs.append(coordinate_channels(x))
        feats = self.backbone(torch.cat(inputs, dim=1) if len(inputs) > 1 else x)
        out = fp32_call(self.head, F.leaky_relu(feats, 0.2))  # the correction is not rounded to bf16's grid
        bases = self.bases(x)
        delta, blend, rest = out[:, :c], out[:, c : c * (1 + len(bases))], out[:, c * (1 + len(bases)) :]
        start, ring = self.anchored(x)  # the residual's and the blends' starting point (x unless anchored)
        y = start + delta if self.residual else hard_sigmoid_tf(delta)
        if self.camera is not None:  # colour through the camera model, not the per-pixel residual
            r2 = coordinate_channels(x)[:, 2:3]
            rgb = fp32_call(lambda f: self.camera(x[:, :-1].float(), f, r2.float()), feats)
            y = torch.cat([rgb.to(y.dtype), y[:, -1:]], dim=1)
        for i, basis in enumerate(bases):
            y = y + blend[:, i * c : (i + 1) * c] * (basis - start)
        rings = self.on_rings(x, ring) if ring is not None and self.birth_rings else None  # once per forward
        if rings is not None and self.ring_depth == "anchor":  # before the noise: rings get it
            y = torch.cat([y[:, :-1], torch.where(rings, start[:, -1:], y[:, -1:])], dim=1)
        if self.noise:
            log_scale = LOG_SCALE_BOUND * torch.tanh(rest[:, -c:] / LOG_SCALE_BOUND)
            if rand is not None:
                y = y + self.noise_strength.view(1, c, 1, 1) * torch.exp(log_scale) * rand["output"]
        keep_logit = returned = None
        if ring is not None:  # a new return only where the learned logit says so (none at initialisation)
            if self.drops == "learned":
                by_depth = self.keep_by_depth[feature_bins(x, self.depth_gap, self.keep_by_depth.shape[0])]
                keep_logit = KEEP_LOGIT_GAIN * by_depth + self.validity_prior
            returned = self.return_mask(x, ring, rest[:, :1], rand, keep_logit, rings)
            y = y * returned
            if self.mask_decides:  # a return the mask keeps or gives stays one, whatever depth the head puts there
                decided = (self.input_valid(x) | ring) & (returned > 0)
                depth = torch.where(decided, y[:, -1:].clamp_min(self.depth_gap), y[:, -1:])
                y = torch.cat([y[:, :-1], depth], dim=1)
        out = self.apply_validity(x, y, rest, rand)
        return (out, ReturnDecisions(keep_logit, returned, ring)) if with_returns else out

    def on_rings(self, x: torch.Tensor, ring: torch.Tensor) -> torch.Tensor:
        """``(B, 1, H, W)`` bool: the pixels of ``ring`` (no return in ``x``, a surface within reach) on the first
        :attr:`birth_rings` one-pixel rings around ``x``'s returns."""
        return ring & (ring_distance(self.input_valid(x), self.birth_rings) <= self.birth_rings)

    def return_mask(self, x: torch.Tensor, ring: torch.Tensor, logit: torch.Tensor,
                    rand: dict[str, torch.Tensor] | None, keep_logit: torch.Tensor | None = None,
                    rings: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, 1, H, W)`` 0/1 (straight-through): which pixels of the anchored output keep a return.

        Ring pixels (no return in ``x``, a surface within reach) return where ``logit - birth_prior > 0``, or
        ``logit + ring_logit > 0`` on the first :attr:`birth_rings` rings around ``x``'s returns; with
        :attr:`drops` ``learned`` a pixel with a return in ``x`` keeps it where ``keep_logit > 0`` (its depth bin's
        learned logit plus ``validity_prior``, not the births' logit: sharing it, the critic's push for births on a
        multizone design sensor held every return, docs/sensor-aware.md "Eleventh round"); with
        :attr:`pinhole_fill` a source pinhole instead where ``logit + fill_logit (+ logistic noise) > 0`` (and, in a
        second pass, a hole pixel that the first pass's fills left surrounded); with :attr:`pinhole_drop` a
        surrounded valid pixel is also dropped where ``drop_logit - logit (+ noise) > 0`` (on top of the learned
        drops); every other pixel keeps what it has (1). ``rand`` None: no noise (the deterministic translation).
        ``rings``: :meth:`on_rings` of ``x`` and ``ring`` with :attr:`birth_rings`, else None (no ring offset).
        """
        births = ring  # no return in x, a surface within reach
        mask_logit = logit - self.birth_prior
        if rings is not None:
            mask_logit = torch.where(rings, logit + self.ring_logit, mask_logit)
        kept = None
        if keep_logit is not None:  # drops learned: the input's returns, starting at "keep"
            kept = self.input_valid(x) & ~ring
            mask_logit = torch.where(kept, keep_logit, mask_logit)
            ring = ring | kept
        if self.pinhole_fill or self.pinhole_drop:
            noise = logistic(rand["uniform"]) if rand is not None else torch.zeros_like(logit)
            valid = self.input_valid(x)
            around = surrounded(valid)
            head = logit if self.pinhole_where == "learned" else torch.zeros_like(logit)  # random: rates alone
            if self.pinhole_fill:
                fill_at = head + self.fill_logit + noise
                pin = around & ~valid
                mask_logit = torch.where(pin, fill_at, mask_logit)
                # a second pass: filling a pinhole can leave the hole pixels beside it surrounded (a T of four holes
                # keeps a pair after one pass, which the speckle detector counts); they get the same decision
                then = surrounded(valid | (pin & (mask_logit > 0))) & ~valid & ~pin
                mask_logit = torch.where(then, fill_at, mask_logit)
        mask = torch.where(ring, straight_through_mask(mask_logit), torch.ones_like(logit))
        if kept is not None:
            # a drop has no straight-through gradient: through it every term read "drop" as "this depth a little
            # nearer" (the geometry term pushed back as hard as the critic pushed; docs/sensor-aware.md, ninth and
            # tenth rounds); the keep logit is trained by the return-rate term (loss.return_rate_weight) instead
            keep = mask_logit > 0
            if self.keep_majority:
                keep = box_majority(keep & kept, kept)
            mask = torch.where(kept, keep.to(mask.dtype), mask)
        if self.pinhole_fill and self.fill_output_holes:
            # last: holes the output's returns surround (births beside a wider hole, or drops, can surround a pixel
            # that no pass above looked at) get the same fill decision; each pass's fills can surround the hole
            # pixels beside them (a crack closes from both ends), so the pass repeats, a fixed number of times (no
            # data-dependent loop: exports trace this); a pixel decided once keeps its decision
            decided, fill = torch.zeros_like(births), straight_through_mask(fill_at)
            for _ in range(LATE_FILL_PASSES):
                late = births & ~around & ~decided & surrounded((valid | births) & (mask > 0)) & ~(mask > 0)
                mask = torch.where(late, fill, mask)
                decided = decided | late
        if self.pinhole_drop:
            # random pinholes on top of whatever else decides a return (with learned drops a surrounded return is
            # lost where its depth bin's keep logit or this draw says so), with the straight-through gradient
            punched = straight_through_mask(head - self.drop_logit - noise)
            mask = mask * torch.where(around & valid, punched, torch.ones_like(logit))
        return mask

    def apply_validity(self, x: torch.Tensor, y: torch.Tensor, rest: torch.Tensor,
                       rand: dict[str, torch.Tensor] | None) -> torch.Tensor:
        """The last stage of :meth:`forward`: ``y`` (``(B, C, H, W)``, unclamped) clamped to [0, 1] with its
        "no return" pixels set to exactly 0 in every channel (:attr:`validity`) and pixels out of :attr:`reach` of
        ``x``'s surfaces removed; ``rest`` holds the head's validity logit first; ``rand`` the draws or None."""
        reachable = self.within_reach(x)
        if self.validity == "none":
            y = y.clamp(0.0, 1.0)
            return y if reachable is None else y * reachable
        if self.validity == "depth":
            y = y.clamp(0.0, 1.0)
            keep = ((y[:, -1:] >= self.depth_gap / 2) & (y[:, -1:] > 0)).to(y.dtype)
            # forward: exactly the codec's invalid pixel (0 everywhere); backward: identity, so a pixel that fell
            # below the threshold still gets the gradient that can bring it back
            y = y + (y * keep - y).detach()
            return y if reachable is None else y * reachable

        logit = rest[:, :1]
        if self.residual:
            logit = logit + self.validity_prior * (2.0 * self.input_valid(x).to(logit.dtype) - 1.0)
        if self.validity == "sampled" and rand is not None:
            logit = logit + self.validity_temperature * logistic(rand["uniform"])
        mask = straight_through_mask(logit)
        if reachable is not None:
            mask = mask * reachable
        rgb = y[:, :-1].clamp(0.0, 1.0)
        depth = y[:, -1:].clamp(self.depth_gap, 1.0) if self.depth_gap > 0 else y[:, -1:].clamp(1e-6, 1.0)
        return torch.cat([rgb, depth], dim=1) * mask
