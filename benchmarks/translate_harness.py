"""Translate variants of one preset's generator: what ``volo translate`` spends in the network, per mode.

The generator has **random weights** (speed does not depend on them; the depth errors do, and a trained network's
will differ: ``volo translate --precision auto`` therefore measures the error of the fast mode on the user's own
first batch, see ``volo_adapt/inference/engine.py``). A sensor-aware generator's residual head starts at zero
(its untrained output is its input, in every precision); here it is drawn from N(0, 0.02^2) so that the
correction, and its rounding, are not zero.

Modes (all through :func:`volo_adapt.inference.engine.translate_tensors` except ``eager_fp32``):

* ``eager_fp32``: a plain loop, ``module(x)`` under ``no_grad`` with PyTorch's default flags (the reference);
* ``exact``: ``--precision 32`` (named ``exact (= auto here)`` where ``auto`` resolves to it);
* ``auto (MODE)``: what ``--precision auto`` uses on this device and batch (:func:`auto_choice`: the first fast mode
  within the default depth tolerance of exact fp32; listed only when it is not ``exact``);
* ``tf32``: CUDA only, ``--precision tf32`` (when ``auto`` is not already it);
* ``bf16``: ``--precision bf16`` (listed on devices with native bf16, or when asked for);
* ``compiled``: ``--compile`` with the ``auto`` precision (only with ``--compile``; compile time excluded).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def loaded_from_module(module: nn.Module, cfg):
    """A :class:`~volo_adapt.inference.loading.LoadedGenerator` around ``module`` (a generator of run config
    ``cfg``), as ``volo translate`` would load it."""
    from volo_adapt.build import build_codec
    from volo_adapt.inference.loading import LoadedGenerator

    return LoadedGenerator(module=module, codec=build_codec(cfg.data), config=cfg, direction="a2b",
                           size_multiple=int(getattr(module, "size_multiple", 1)), source=Path("<benchmark>"))


def loaded_generator(preset: str, size: int, device: str, seed: int = 0):
    """The preset's generator with random weights, loaded as by ``volo translate``."""
    from volo_adapt.build import build_generator
    from volo_adapt.config import load_config
    from volo_adapt.models.sensor_head import SensorAwareGenerator

    cfg = load_config(preset, [f"data.image_size={size}"])
    torch.manual_seed(seed)
    module = build_generator(cfg.model, cfg.data)
    if isinstance(module, SensorAwareGenerator):
        nn.init.normal_(module.head.weight, std=0.02)
    return loaded_from_module(module.eval().requires_grad_(False).to(device), cfg)


def auto_choice(loaded, x: torch.Tensor, seeds: list[int], tolerance_mm: float) -> str:
    """The mode ``volo translate --precision auto`` would use on batch ``x``: the first of
    :func:`~volo_adapt.inference.engine.auto_candidates` within ``tolerance_mm`` of exact fp32, else ``32``."""
    from volo_adapt.inference.engine import auto_candidates, depth_difference, translate_tensors, within_tolerance

    candidates = auto_candidates(x.device)
    if not candidates:
        return "32"
    exact = translate_tensors(loaded, x, precision="32", seeds=seeds)
    for mode in candidates:
        out = translate_tensors(loaded, x, precision=mode, seeds=seeds)
        if within_tolerance(depth_difference(out, exact, loaded.codec), tolerance_mm):
            return mode
    return "32"


def translate_calls(preset: str, size: int, batch: int, device: str, modes: list[str], x: torch.Tensor
                    ) -> tuple[dict[str, Callable[[], torch.Tensor]], object]:
    """``mode -> call`` returning the translated batch (float32), and the loaded generator (for its codec)."""
    from volo_adapt.inference.engine import DEFAULT_DEPTH_TOLERANCE_MM, takes_seeds, translate_tensors

    loaded = loaded_generator(preset, size, device)
    seeds = list(range(batch))
    auto = auto_choice(loaded, x, seeds, DEFAULT_DEPTH_TOLERANCE_MM)

    def through(precision: str, gen=loaded) -> Callable[[], torch.Tensor]:
        return lambda: translate_tensors(gen, x, precision=precision, seeds=seeds)

    def eager() -> torch.Tensor:
        with torch.no_grad():
            return loaded.module(x, seeds=seeds) if takes_seeds(loaded.module) else loaded.module(x)

    calls: dict[str, Callable[[], torch.Tensor]] = {"eager_fp32": eager}
    calls["exact (= auto here)" if auto == "32" else "exact"] = through("32")
    if auto != "32":
        calls[f"auto ({auto})"] = through(auto)
    if "bf16" in modes and auto != "bf16":
        calls["bf16"] = through("bf16")
    if x.device.type == "cuda" and auto != "tf32":
        calls["tf32"] = through("tf32")
    if "compiled" in modes:
        compiled = copy.copy(loaded)
        compiled.module = torch.compile(copy.deepcopy(loaded.module))
        calls[f"compiled ({auto})"] = through(auto, compiled)
    return calls, loaded
