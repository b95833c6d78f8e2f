"""Tensor-level inference: pad to the generator's size multiple, run under the chosen precision, crop back.

Padding choice: **zeros at the bottom and right**. Zero is the "invalid / background" value in every channel, so
padding adds background the generator saw throughout training (the original's shift augmentation pads exactly
that way, bottom/right with zeros); reflection would instead invent mirrored RGB-D content, including depth that
does not exist, which the generator would then translate and let bleed into the real border pixels through its
receptive field. The padded area is cropped away. Instance norm sees the padded image, so an image's output
depends (slightly) on how much padding it needed; inputs whose sides already are multiples get none.

Large images run whole (no tiling): instance normalisation uses statistics of the whole image, so tiles would be
normalised differently and show seams. Memory therefore grows linearly with the padded H * W. The VoloGAN
generator with attention needs a square input, so a 1440x1920 image runs at 1920x1920: on an H100 that took
7-10 GiB of GPU memory in fp32 and 5 GiB in bf16 (batch 1); ``translate_source`` caps the padded pixels per batch
(``max_batch_pixels``) so such images go one at a time. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from volo_adapt.errors import OptionError
from volo_adapt.inference.loading import LoadedGenerator

PRECISIONS = ("auto", "32", "tf32", "bf16", "16")
"""``auto``: the fastest mode of this device (:func:`auto_candidates`: ``bf16``, then ``tf32`` on CUDA) whose depth
difference to ``32`` on the first batch is within the tolerance, checked by
:func:`volo_adapt.inference.translate_source` (``32`` when none is; CPUs without native bf16 have no faster mode);
``32``: exact fp32 (on CUDA with TF32 switched off for the call); ``tf32``: fp32 with CUDA's TF32 convolutions and
matmuls (PyTorch's default for convolutions; on CPU the same as ``32``); ``bf16``: bfloat16 autocast; ``16``: float16
autocast. The reduced precisions change the translated depth visibly: on an H100 with random-weight generators the
largest depth change against fp32 (over all pixels of a batch) was 0.014-0.08 encoded units for bf16 (up to about
40 cm over the default 0.25-5 m range) and 0.001-0.006 for TF32 (up to about 3 cm); see ``benchmarks/README.md``.
Exact fp32 on CUDA was about 3-18x slower than TF32 there, so ``tf32`` is the usual GPU choice when that is
acceptable. The generators' output layers run in fp32 under every autocast mode
(``volo_adapt.models.layers.fp32_call``), so encoded depth is never rounded to bf16's grid."""

DEFAULT_DEPTH_TOLERANCE_MM = 10.0
"""``--precision auto`` keeps a fast mode when, on the first batch, the 99.9th percentile of its depth difference
to exact fp32 (over pixels valid in both) is at most this many millimetres and at most 0.1 % of the pixels change
validity; otherwise it tries the next mode, and the run uses exact fp32 when none passes. 10 mm is a fraction of a
phone LiDAR's own noise (about 1-5 cm) and ten steps of the millimetre PNG depth format."""

MAX_FLIPPED_FRACTION = 1e-3
"""Share of pixels allowed to change validity (valid <-> invalid) in the ``auto`` check."""

EXACT_CUDA_BATCH = 1
"""Exact fp32 on CUDA runs this many images per network call: at batch 8 cuDNN's non-TF32 algorithms took 35 GiB on
an H100 at 512x512 (their workspaces grow with the batch); at batch 1 (1440x1920) exact fp32 took less memory than
TF32 did (``benchmarks/README.md``)."""
_PRECISION_ALIASES = {"32-true": "32", "fp32": "32", "bf16-mixed": "bf16", "16-mixed": "16", "fp16": "16"}


def normalise_precision(precision: str) -> str:
    """Map Lightning-style names (``bf16-mixed``) onto :data:`PRECISIONS`.

    Raises:
        OptionError: ``precision`` is none of them (``precision '64': must be one of ...``).
    """
    p = _PRECISION_ALIASES.get(str(precision), str(precision))
    if p not in PRECISIONS:
        raise OptionError("precision", f"must be one of {', '.join(PRECISIONS)} (or bf16-mixed, 16-mixed)",
                          value=repr(precision))
    return p


def auto_candidates(device: torch.device) -> list[str]:
    """The fast modes ``--precision auto`` tries on ``device``, fastest first (each is checked against exact fp32 and
    the first within the tolerance is used): ``bf16`` where :func:`volo_adapt.hardware.fast_bf16` (CUDA with bf16,
    CPUs with AVX-512 BF16 or AMX; emulated bf16 is far slower than fp32, so it is never tried elsewhere), then
    ``tf32`` on CUDA. Empty on other CPUs: exact fp32 is their fastest mode.

    Example:
        >>> from unittest import mock
        >>> with mock.patch("volo_adapt.hardware.fast_bf16", return_value=True):
        ...     auto_candidates(torch.device("cuda"))
        ['bf16', 'tf32']
    """
    from volo_adapt.hardware import fast_bf16

    modes = ["bf16"] if fast_bf16(device) else []
    return modes + (["tf32"] if device.type == "cuda" else [])


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` -> the fastest mode of :func:`auto_candidates` (unchecked), ``32`` where there is none. Other values:
    :func:`normalise_precision`."""
    p = normalise_precision(precision)
    if p != "auto":
        return p
    return (auto_candidates(device) or ["32"])[0]


def depth_difference(out: torch.Tensor, ref: torch.Tensor, codec) -> dict[str, float]:
    """How far ``out``'s depth is from ``ref``'s (two ``(B, C, H, W)`` network tensors, encoded depth last).

    Returns:
        ``p999_mm``, ``max_mm``: the 99.9th percentile and the maximum of the absolute depth difference in
        millimetres over the pixels valid in both; ``flipped``: the fraction of pixels valid in one and invalid in
        the other.
    """
    scale_mm = (codec.far - codec.near) / (1.0 - codec.gap) * 1000.0
    d_out, d_ref = out[:, -1].float(), ref[:, -1].float()
    v_out, v_ref = codec.valid_from_encoded(d_out), codec.valid_from_encoded(d_ref)
    err = ((d_out - d_ref).abs() * scale_mm)[v_out & v_ref]
    if err.numel() > 2**24:  # torch.quantile's limit; a random subset is plenty for a percentile
        err = err[torch.randperm(err.numel(), device=err.device)[: 2**24]]
    return {
        "p999_mm": float(torch.quantile(err, 0.999)) if err.numel() else 0.0,
        "max_mm": float(err.max()) if err.numel() else 0.0,
        "flipped": float((v_out != v_ref).float().mean()),
    }


def within_tolerance(diff: dict[str, float], tolerance_mm: float) -> bool:
    """The ``auto`` acceptance rule (see :data:`DEFAULT_DEPTH_TOLERANCE_MM`)."""
    return diff["p999_mm"] <= tolerance_mm and diff["flipped"] <= MAX_FLIPPED_FRACTION


def fastest_within_tolerance(
    run: Callable[[str], torch.Tensor], candidates: Sequence[str], codec, tolerance_mm: float
) -> tuple[torch.Tensor, str, dict[str, Any]]:
    """The ``auto`` precision check on one batch: exact fp32 first, then each faster mode in order until one's depth
    differs from fp32 by at most ``tolerance_mm`` (99.9th percentile, see :func:`within_tolerance`).

    Args:
        run: ``run(precision)`` translates the batch in that mode (``"32"`` = exact) -> ``(B, C, H, W)``.
        candidates: the faster modes to try, fastest first (:func:`auto_candidates`).
        codec: the generator's depth codec (decodes the depth channel to metres for the comparison).
        tolerance_mm: the bound on the depth difference, millimetres.

    Returns:
        ``(output, mode used, record)``: the chosen mode's output (exact fp32 when none is within), its name, and
        ``{"tolerance_mm", "tried": [{"mode", <depth_difference keys>, "within"}...], "used"}``.
    """
    exact = run("32")
    tried: list[dict[str, Any]] = []
    y, used = exact, "32"
    for mode in candidates:
        out = run(mode)
        diff = depth_difference(out, exact, codec)
        within = within_tolerance(diff, tolerance_mm)
        tried.append({"mode": mode, **diff, "within": within})
        if within:
            y, used = out, mode
            break
    return y, used, {"tolerance_mm": tolerance_mm, "tried": tried, "used": used}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``auto``/None -> CUDA when available, else CPU; otherwise the named device.

    Raises:
        OptionError: ``device`` is not a device name, or names one this machine lacks (``device cuda: ...``).
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise OptionError("device", "not a device name (e.g. cpu, cuda, cuda:1, auto)", value=repr(device)) from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise OptionError("device", "CUDA is not available in this torch build/machine", value=str(device))
    if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise OptionError("device", "MPS is not available", value=str(device))
    return dev


def prepare(loaded: LoadedGenerator, device: str | torch.device | None = "cpu", channels_last: bool = False) -> None:
    """Move the generator to ``device`` (in place) and optionally to channels-last memory format."""
    dev = resolve_device(device)
    loaded.module.to(dev)
    if channels_last:
        loaded.module.to(memory_format=torch.channels_last)


def padded_size(h: int, w: int, multiple: int, square: bool = False, min_size: int = 1) -> tuple[int, int]:
    """Smallest ``(H', W')`` >= ``(h, w)`` and >= ``min_size`` that are multiples of ``multiple`` (equal if ``square``).

    Example:
        >>> padded_size(33, 51, 8)
        (40, 56)
        >>> padded_size(33, 51, 32, square=True, min_size=64)
        (64, 64)
    """
    hp = -(-max(h, min_size) // multiple) * multiple
    wp = -(-max(w, min_size) // multiple) * multiple
    if square:
        hp = wp = max(hp, wp)
    return hp, wp


@contextlib.contextmanager
def precision_context(device: torch.device, precision: str) -> Iterator[None]:
    """Autocast for ``bf16``/``16``; on CUDA, TF32 off for ``32`` and on for ``tf32`` (flags restored after)."""
    if precision in ("bf16", "16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        with torch.autocast(device_type=device.type, dtype=dtype):
            yield
        return
    if device.type != "cuda":
        yield
        return
    # Global flags (torch has no per-call switch): set for the call, restored afterwards.
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def takes_seeds(module: torch.nn.Module) -> bool:
    """True for generators that sample noise and accept per-sample ``seeds`` (also behind ``torch.compile``)."""
    from volo_adapt.models.sensor_head import SensorAwareGenerator

    return isinstance(getattr(module, "_orig_mod", module), SensorAwareGenerator)


def translate_tensors(
    loaded: LoadedGenerator,
    x: torch.Tensor,
    *,
    precision: str = "32",
    channels_last: bool = False,
    seeds: Sequence[int] | None = None,
) -> torch.Tensor:
    """Run the generator on a batch of network tensors of any size.

    Pads each side to the generator's ``size_multiple`` and ``min_size`` (and to a square for architectures that
    need one, like the VoloGAN generator with attention: a 4:3 image then gets a background band of 1/3) with
    zeros at the bottom/right (see the module docstring), runs under ``torch.inference_mode`` and the requested
    autocast precision, and crops back.

    Args:
        loaded: the generator (see :func:`~volo_adapt.inference.loading.load_generator`); it runs on whatever device
            its module is on.
        x: ``(B, 4, H, W)`` float in ``[0, 1]``, RGB then codec-encoded depth, all channels 0 where depth is invalid.
            Any device; any ``H, W >= 1``.
        precision: one of :data:`PRECISIONS` (``auto`` is resolved by :func:`resolve_precision`, unchecked: the
            depth check is :func:`~volo_adapt.inference.translate_source`'s); the result is float32 either way.
            Exact fp32 on CUDA runs :data:`EXACT_CUDA_BATCH` images per call.
        channels_last: feed the network channels-last tensors (faster for convs on CPU/GPU when the module was
            converted too, see :func:`prepare`).
        seeds: one seed per sample for generators that sample sensor noise
            (:class:`~volo_adapt.models.sensor_head.SensorAwareGenerator`): each sample's noise then depends only
            on its seed, not on the batch it is in. Ignored by deterministic generators; None = torch's global RNG.

    Returns:
        ``(B, 4, H, W)`` float32 in ``[0, 1]`` on ``x``'s device: the translated RGB-D in network encoding.

    Example (an untrained generator of the ``smoke`` preset; :func:`~volo_adapt.inference.loading.load_generator`
    gives a trained one):
        >>> from pathlib import Path
        >>> from volo_adapt.build import build_codec, build_generator
        >>> from volo_adapt.config import load_config
        >>> from volo_adapt.inference.loading import LoadedGenerator
        >>> cfg = load_config("smoke")
        >>> net = build_generator(cfg.model, cfg.data).eval().requires_grad_(False)
        >>> loaded = LoadedGenerator(net, build_codec(cfg.data), cfg, "a2b", net.size_multiple, Path("untrained"))
        >>> y = translate_tensors(loaded, torch.rand(2, 4, 33, 51))  # padded to 48 x 48 (square), cropped back
        >>> y.shape, y.dtype, bool(y.min() >= 0 and y.max() <= 1)
        (torch.Size([2, 4, 33, 51]), torch.float32, True)
    """
    if x.ndim != 4 or x.shape[1] != loaded.config.model.channels:
        raise ValueError(
            f"translate_tensors: expected (B, {loaded.config.model.channels}, H, W), got {tuple(x.shape)}"
        )
    param = next(loaded.module.parameters(), None)
    device = param.device if param is not None else x.device
    precision = resolve_precision(precision, device)
    if precision == "32" and device.type == "cuda" and x.shape[0] > EXACT_CUDA_BATCH:
        return _exact_in_chunks(loaded, x, channels_last, seeds)
    return _run_padded(loaded, x, device, precision, channels_last, seeds)


def _exact_in_chunks(
    loaded: LoadedGenerator, x: torch.Tensor, channels_last: bool, seeds: Sequence[int] | None
) -> torch.Tensor:
    """Exact fp32 in calls of :data:`EXACT_CUDA_BATCH` images (cuDNN workspaces grow with the batch)."""
    parts = [translate_tensors(loaded, x[i : i + EXACT_CUDA_BATCH], precision="32", channels_last=channels_last,
                               seeds=None if seeds is None else list(seeds)[i : i + EXACT_CUDA_BATCH])
             for i in range(0, x.shape[0], EXACT_CUDA_BATCH)]
    return torch.cat(parts, 0)


def _run_padded(
    loaded: LoadedGenerator,
    x: torch.Tensor,
    device: torch.device,
    precision: str,
    channels_last: bool,
    seeds: Sequence[int] | None,
) -> torch.Tensor:
    """Pad ``x`` (zeros, bottom/right), run the generator on ``device`` under ``precision``, crop, float32 back on
    ``x``'s device (an ordinary tensor, not an inference-mode one)."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    hp, wp = padded_size(h, w, loaded.size_multiple, loaded.requires_square, loaded.min_size)
    with torch.inference_mode():
        inp = x.to(device=device, dtype=torch.float32, non_blocking=True)
        if (hp, wp) != (h, w):
            inp = F.pad(inp, (0, wp - w, 0, hp - h), mode="constant", value=0.0)
        if channels_last:
            inp = inp.contiguous(memory_format=torch.channels_last)
        with precision_context(device, precision):
            out = loaded.module(inp, seeds=seeds) if seeds is not None and takes_seeds(loaded.module) else (
                loaded.module(inp))
        out = out[..., :h, :w].float().to(x.device)
    # A clone made outside inference mode is an ordinary tensor callers may modify in place or use with autograd.
    return out.clone(memory_format=torch.contiguous_format)
