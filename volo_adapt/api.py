"""Translate RGB-D images from Python: :class:`Translator`, for notebooks and pipelines.

``volo translate`` works on folders; a :class:`Translator` works on arrays in memory, with the same generator, the
same depth encoding and the same handling of sizes and invalid depth:

* colour ``(H, W, 3)``: uint8 code values ``0-255`` or float in ``[0, 1]`` (sRGB as stored in a file), numpy or
  torch; depth ``(H, W)``: float metres, ``0`` (also NaN, inf, negative) = invalid;
* depth the run's codec cannot represent (valid but outside its ``[near, far]``) enters the network as invalid, as in
  ``volo translate`` (:attr:`Translator.out_of_range_px` counts those pixels);
* outputs have the types, dtypes and devices of the inputs (uint8 colour is rounded like an 8-bit PNG); output depth
  is float32 metres, exactly ``0`` where the translation has no valid depth;
* any ``H, W``: padding to the generator's size multiple (and to a square where the architecture needs one) and
  cropping back happen in :func:`~volo_adapt.inference.engine.translate_tensors`;
* generators that sample sensor noise are seeded per image from the call's ``seed`` (with
  :func:`~volo_adapt.inference.runner.sample_seed`), so the same call always gives the same output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from volo_adapt.data.sample import RGBDSample, from_network, to_network
from volo_adapt.directions import Direction
from volo_adapt.errors import OptionError, VoloError
from volo_adapt.inference.engine import (
    DEFAULT_DEPTH_TOLERANCE_MM,
    auto_candidates,
    fastest_within_tolerance,
    normalise_precision,
    padded_size,
    resolve_device,
    translate_tensors,
)
from volo_adapt.inference.loading import LoadedGenerator, load_generator
from volo_adapt.inference.options import DEFAULT_MAX_BATCH_PIXELS
from volo_adapt.inference.runner import sample_seed

__all__ = ["Translator"]

Array = np.ndarray | torch.Tensor
"""A numpy array or a torch tensor (any device)."""


@dataclass(frozen=True)
class _Like:
    """How an output is handed back: as numpy (CPU) or torch (on ``device``), with ``dtype`` (a torch dtype)."""

    numpy: bool
    dtype: torch.dtype
    device: torch.device | None

    @staticmethod
    def of(x: Array) -> _Like:
        if isinstance(x, np.ndarray):
            return _Like(True, torch.from_numpy(np.empty(0, x.dtype.newbyteorder("="))).dtype, None)
        return _Like(False, x.dtype, x.device)

    def give(self, t: torch.Tensor, dtype: torch.dtype | None = None) -> Array:
        """``t`` as this kind of array, cast to ``dtype`` (default: :attr:`dtype`)."""
        t = t.to(dtype or self.dtype)
        if self.numpy:
            return t.cpu().contiguous().numpy()
        return t.to(self.device).contiguous()


class Translator:
    """One trained generator, translating RGB-D images held in memory (see the module docstring for conventions).

    Args:
        loaded: the generator (:func:`~volo_adapt.inference.loading.load_generator`); it runs on the device its
            module is on. :meth:`from_checkpoint` loads one.
        precision: ``"auto"`` (default, as ``volo translate``: the device's fastest mode whose depth differs from
            exact fp32 by at most ``depth_tolerance_mm`` on the first call's images, see :attr:`depth_check`),
            ``"32"``, ``"tf32"``, ``"bf16"`` or ``"16"`` (see :data:`~volo_adapt.inference.engine.PRECISIONS`).
        depth_tolerance_mm: the ``auto`` check's bound, millimetres, ``>= 0``.
        max_batch_pixels: most padded pixels per network call (equal-size images share a call up to it), ``>= 1``.

    Attributes:
        loaded: the generator. precision: the mode in use (``auto`` is decided on the first call).
        depth_check: the ``auto`` check's record once made (as in ``translate_report.json``), else None.
        out_of_range_px: pixels of the last call whose valid depth was outside ``[near, far]`` (entered as invalid).

    Example (an untrained generator of the ``smoke`` preset; :meth:`from_checkpoint` gives a trained one):
        >>> from volo_adapt.build import build_codec, build_generator
        >>> from volo_adapt.config import load_config
        >>> cfg = load_config("smoke")
        >>> net = build_generator(cfg.model, cfg.data).eval().requires_grad_(False)
        >>> loaded = LoadedGenerator(net, build_codec(cfg.data), cfg, "a2b", net.size_multiple, Path("untrained"))
        >>> translator = Translator(loaded, precision="32")
        >>> rgb, depth = np.zeros((30, 41, 3), np.uint8), np.full((30, 41), 2.0, np.float32)
        >>> rgb_out, depth_out = translator(rgb, depth, seed=1)
        >>> rgb_out.shape, rgb_out.dtype, depth_out.shape, depth_out.dtype
        ((30, 41, 3), dtype('uint8'), (30, 41), dtype('float32'))
    """

    def __init__(self, loaded: LoadedGenerator, *, precision: str = "auto",
                 depth_tolerance_mm: float = DEFAULT_DEPTH_TOLERANCE_MM,
                 max_batch_pixels: int = DEFAULT_MAX_BATCH_PIXELS) -> None:
        if not depth_tolerance_mm >= 0:
            raise OptionError("depth_tolerance_mm", "must be >= 0 millimetres", value=str(depth_tolerance_mm))
        if not max_batch_pixels >= 1:
            raise OptionError("max_batch_pixels", "must be >= 1", value=str(max_batch_pixels))
        self.loaded = loaded
        self.depth_tolerance_mm = float(depth_tolerance_mm)
        self.max_batch_pixels = int(max_batch_pixels)
        self.precision = normalise_precision(precision)
        self._candidates = auto_candidates(self.device) if self.precision == "auto" else None
        if self.precision == "auto" and not self._candidates:
            self.precision, self._candidates = "32", None  # no faster mode on this device: nothing to check
        self.depth_check: dict[str, Any] | None = None
        self.out_of_range_px = 0

    @classmethod
    def from_checkpoint(cls, path: str | Path, direction: str | Direction = "a2b", device: str | torch.device = "auto",
                        use_ema: bool = True, **options: Any) -> Translator:
        """Load the generator of ``direction`` from a ``volo train`` checkpoint or a ``volo export --format pt`` file.

        Args:
            path: the file (loaded by :func:`~volo_adapt.inference.loading.load_generator`).
            direction: ``"a2b"`` (A -> B) or ``"b2a"``.
            device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:1"``, ...: where the generator runs.
            use_ema: the EMA weights when the run kept them (ignored for exported files).
            **options: ``precision``, ``depth_tolerance_mm``, ``max_batch_pixels`` (see :class:`Translator`).

        Raises:
            VoloError: a missing or mismatched file, an unknown direction or device, a bad option (one line).
        """
        dev = resolve_device(device)
        return cls(load_generator(path, direction, use_ema=use_ema, map_location=dev), **options)

    @classmethod
    def from_pretrained(cls, folder_or_hub_id: str | Path, device: str | torch.device = "auto", *,
                        revision: str | None = None, **options: Any) -> Translator:
        """Load a generator in the Hugging Face Hub layout (``volo export --format hub``): a local folder, or a Hub
        id (``org/name``) through ``huggingface_hub``'s cache (offline with ``HF_HUB_OFFLINE=1``). Nothing is
        unpickled (safetensors and JSON only); needs the ``hub`` extra (``pip install 'volo-adapt[hub]'``).

        Args:
            folder_or_hub_id: the folder or the Hub id (loaded by :func:`~volo_adapt.inference.hub.load_hub_generator`).
            device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda:1"``, ...: where the generator runs.
            revision: the Hub revision (branch, tag or commit; default ``main``); ignored for a folder.
            **options: ``precision``, ``depth_tolerance_mm``, ``max_batch_pixels`` (see :class:`Translator`).

        Raises:
            VoloError: a missing or mismatched folder, an id the Hub (or its cache) lacks, the extra not installed,
                an unknown device, a bad option (one line).
        """
        from volo_adapt.inference.hub import load_hub_generator

        dev = resolve_device(device)
        return cls(load_hub_generator(folder_or_hub_id, map_location=dev, revision=revision), **options)

    @property
    def device(self) -> torch.device:
        """Where the generator runs."""
        param = next(self.loaded.module.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    def __call__(self, rgb: Any, depth: Any, seed: int | Sequence[int] | None = None) -> tuple[Any, Any]:
        """Translate one image, a list of images or a batch.

        Args:
            rgb: ``(H, W, 3)`` uint8 or float in ``[0, 1]``, numpy or torch; or a list of such images (any sizes);
                or a ``(B, H, W, 3)`` batch.
            depth: ``(H, W)`` float metres, ``0`` = invalid (NaN, inf and values ``<= 0`` too), numpy or torch;
                a list of such maps with ``rgb``'s list, a ``(B, H, W)`` batch with ``rgb``'s batch.
            seed: for generators that sample sensor noise. An int (None: 0, ``volo translate``'s default): image
                ``i`` of the call is seeded by ``sample_seed(seed, str(i))``; a sequence of ints, one per image:
                each image is translated as a call of its own with its seed would translate it.

        Returns:
            ``(rgb_out, depth_out)`` shaped like the inputs (a list for lists, a batch for a batch): colour with
            ``rgb``'s type, dtype and device, depth float32 metres (exactly ``0`` where invalid) with ``depth``'s
            type and device.

        Raises:
            VoloError: a wrong type, shape, dtype or range, naming the argument (``rgb[1]: ...``).
        """
        form, pairs = _pairs(rgb, depth)
        seeds = _seeds(seed, len(pairs))
        images = [_image(name, r, d) for name, r, d in pairs]
        xs, oor = [], 0
        for rgb_t, depth_t in images:
            sample = RGBDSample.from_depth(rgb_t.to(self.device), depth_t.to(self.device))
            x, valid = to_network(sample, self.loaded.codec)
            xs.append(x)
            oor += int((sample.valid & ~valid).sum())
        self.out_of_range_px = oor
        outs = [_outputs(y, self.loaded, r, d) for y, (_, r, d) in zip(self._translate(xs, seeds), pairs, strict=True)]
        return _assemble(form, outs, rgb, depth)

    def _translate(self, xs: list[torch.Tensor], seeds: list[int]) -> list[torch.Tensor]:
        """``(4, H, W)`` network tensors -> their translations, equal sizes sharing network calls."""
        out: list[torch.Tensor | None] = [None] * len(xs)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, x in enumerate(xs):
            groups.setdefault((int(x.shape[-2]), int(x.shape[-1])), []).append(i)
        for size, idx in groups.items():
            hp, wp = padded_size(*size, self.loaded.size_multiple, self.loaded.requires_square, self.loaded.min_size)
            step = max(1, self.max_batch_pixels // (hp * wp))
            for k in range(0, len(idx), step):
                chunk = idx[k : k + step]
                y = self._network(torch.stack([xs[i] for i in chunk]), [seeds[i] for i in chunk])
                for j, i in enumerate(chunk):
                    out[i] = y[j]
        return out  # type: ignore[return-value]

    def _network(self, x: torch.Tensor, seeds: list[int]) -> torch.Tensor:
        """One network call; with ``auto`` the first call also decides the mode (as ``volo translate``'s first
        batch does)."""
        if self._candidates is None:
            return translate_tensors(self.loaded, x, precision=self.precision, seeds=seeds)
        y, used, self.depth_check = fastest_within_tolerance(
            lambda mode: translate_tensors(self.loaded, x, precision=mode, seeds=seeds), self._candidates,
            self.loaded.codec, self.depth_tolerance_mm,
        )
        self.precision, self._candidates = used, None
        return y


# ------------------------------------------------------------------------------------------------ conversions


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray | torch.Tensor):
        return f"{type(x).__name__} of shape {tuple(x.shape)}"
    return f"{type(x).__name__} of {len(x)}" if isinstance(x, list | tuple) else type(x).__name__


def _array(name: str, x: Any) -> Array:
    if not isinstance(x, np.ndarray | torch.Tensor):
        raise VoloError(f"{name}: expected a numpy array or a torch tensor, got {_describe(x)}")
    return x


def _pairs(rgb: Any, depth: Any) -> tuple[str, list[tuple[str, Array, Array]]]:
    """The call's form (``one``, ``list`` or ``batch``) and ``(name suffix, rgb, depth)`` per image."""
    if isinstance(rgb, list | tuple):
        if not isinstance(depth, list | tuple) or len(depth) != len(rgb):
            raise VoloError(f"depth: expected a list of {len(rgb)} depth maps (one per rgb image), got "
                            f"{_describe(depth)}")
        return "list", [(f"[{i}]", r, d) for i, (r, d) in enumerate(zip(rgb, depth, strict=True))]
    rgb, depth = _array("rgb", rgb), _array("depth", depth)
    if rgb.ndim != 4:
        return "one", [("", rgb, depth)]
    if depth.ndim != 3 or depth.shape[0] != rgb.shape[0]:
        raise VoloError(f"depth: expected a ({rgb.shape[0]}, H, W) batch for rgb of shape {tuple(rgb.shape)}, got "
                        f"shape {tuple(depth.shape)}")
    return "batch", [(f"[{i}]", rgb[i], depth[i]) for i in range(rgb.shape[0])]


def _seeds(seed: Any, n: int) -> list[int]:
    """One noise seed per image (see :meth:`Translator.__call__`)."""
    if seed is None:
        seed = 0
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
        return [sample_seed(int(seed), str(i)) for i in range(n)]
    if isinstance(seed, Sequence) and all(isinstance(s, int | np.integer) and not isinstance(s, bool) for s in seed):
        if len(seed) != n:
            raise VoloError(f"seed: {len(seed)} seeds for {n} image(s); give one int or one seed per image")
        return [sample_seed(int(s), "0") for s in seed]
    raise VoloError(f"seed {seed!r}: expected None, an int or a sequence of ints (one per image)")


def _kind(x: Array) -> str:
    """``uint8``, ``float`` (16, 32 or 64 bits) or the dtype's name."""
    if isinstance(x, torch.Tensor):
        if x.dtype == torch.uint8:
            return "uint8"
        return "float" if x.is_floating_point() else str(x.dtype).removeprefix("torch.")
    if x.dtype == np.uint8:
        return "uint8"
    return "float" if x.dtype.kind == "f" and x.dtype.itemsize <= 8 else str(x.dtype)


def _tensor(x: Array) -> torch.Tensor:
    """A tensor view (numpy: on the CPU, native byte order) without gradient history."""
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("=")))
    return x.detach()


def _image(suffix: str, rgb: Any, depth: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Check one image -> ``rgb (3, H, W)`` float32 in ``[0, 1]`` and ``depth (H, W)`` float32 metres.

    Raises:
        VoloError: naming ``rgb{suffix}`` or ``depth{suffix}`` and what was expected.
    """
    rgb, depth = _array(f"rgb{suffix}", rgb), _array(f"depth{suffix}", depth)
    shape = tuple(rgb.shape)
    if len(shape) != 3 or shape[2] != 3:
        hint = "; channels first? move them last" if len(shape) == 3 and shape[0] == 3 else ""
        raise VoloError(f"rgb{suffix}: expected shape (H, W, 3), got {shape}{hint}")
    kind = _kind(rgb)
    if kind not in ("uint8", "float"):
        raise VoloError(f"rgb{suffix}: dtype {kind}: expected uint8 (0-255) or float in [0, 1]")
    t = _tensor(rgb).float()
    if kind == "uint8":
        t = t / 255.0
    elif t.numel() and not bool(torch.isfinite(t).all()):
        raise VoloError(f"rgb{suffix}: float colour has NaN or inf values; expected values in [0, 1]")
    elif t.numel() and not (float(t.min()) >= 0 and float(t.max()) <= 1):
        raise VoloError(f"rgb{suffix}: float colour must be in [0, 1], got values in [{float(t.min()):.4g}, "
                        f"{float(t.max()):.4g}] (pass 0-255 colour as uint8)")
    if tuple(depth.shape) != shape[:2]:
        raise VoloError(f"depth{suffix}: expected shape {shape[:2]} (H, W of rgb{suffix}), got {tuple(depth.shape)}")
    if _kind(depth) != "float":
        raise VoloError(f"depth{suffix}: dtype {_kind(depth)}: expected float metres (0 = invalid); divide "
                        "millimetre units by 1000")
    return t.permute(2, 0, 1), _tensor(depth).float()


def _outputs(y: torch.Tensor, loaded: LoadedGenerator, rgb: Array, depth: Array) -> tuple[Array, Array]:
    """One ``(4, H, W)`` translation -> ``(rgb_out, depth_out)`` like the inputs ``rgb`` and ``depth``."""
    rgb_t, depth_t, _ = from_network(y, loaded.codec)
    hwc = torch.nan_to_num(rgb_t, nan=0.0).permute(1, 2, 0)
    like = _Like.of(rgb)
    if like.dtype == torch.uint8:
        hwc = (hwc.double() * 255.0).round()  # as an 8-bit PNG stores it (round half to even, like np.rint)
    return like.give(hwc), _Like.of(depth).give(depth_t[0], torch.float32)


def _assemble(form: str, outs: list[tuple[Array, Array]], rgb: Any, depth: Any) -> tuple[Any, Any]:
    """The outputs in the call's form: one pair, two lists, or two batches."""
    if form == "one":
        return outs[0]
    rgbs, depths = [o[0] for o in outs], [o[1] for o in outs]
    if form == "list":
        return rgbs, depths
    if not outs:  # an empty batch
        return _Like.of(rgb).give(_tensor(rgb).clone()), _Like.of(depth).give(_tensor(depth), torch.float32)
    return _stack(rgbs), _stack(depths)


def _stack(items: list[Array]) -> Array:
    return np.stack(items) if isinstance(items[0], np.ndarray) else torch.stack(items)
