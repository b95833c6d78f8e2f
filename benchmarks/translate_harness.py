"""Translate variants of one preset's generator: what ``volo translate`` spends in the network, per mode.

The generator has **random weights** (speed does not depend on them; the depth errors do, and a trained network's
will differ: ``volo translate --precision auto`` therefore measures the error of the fast mode on the user's own
first batch, see ``volo_adapt/inference/engine.py``). A sensor-aware generator's residual head starts at zero
(its untrained output is its input, in every precision); here it is drawn from N(0, 0.02^2) so that the
correction, and its rounding, are not zero.

Modes (all through :func:`volo_adapt.inference.engine.translate_batch` except ``eager_fp32``):

* ``eager_fp32``: a plain loop, ``module(x)`` under ``no_grad`` with PyTorch's default flags (the reference);
* ``exact``: ``--precision 32``;
* ``auto``: ``--precision auto`` as resolved on this device (listed only when it differs from ``exact``);
* ``bf16``: ``--precision bf16`` (listed on devices with native bf16, or when asked for);
* ``compiled``: ``--compile`` with the ``auto`` precision (only with ``--compile``; compile time excluded).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn


def loaded_generator(preset: str, size: int, device: str, seed: int = 0):
    """A :class:`~volo_adapt.inference.loading.LoadedGenerator` around the preset's generator with random weights."""
    from volo_adapt.build import build_codec, build_generator
    from volo_adapt.config import load_config
    from volo_adapt.inference.loading import LoadedGenerator
    from volo_adapt.models.sensor_head import SensorAwareGenerator

    cfg = load_config(preset, [f"data.image_size={size}"])
    torch.manual_seed(seed)
    module = build_generator(cfg.model, cfg.data)
    if isinstance(module, SensorAwareGenerator):
        nn.init.normal_(module.head.weight, std=0.02)
    module = module.eval().requires_grad_(False).to(device)
    return LoadedGenerator(module=module, codec=build_codec(cfg.data), config=cfg, direction="a2b",
                           size_multiple=int(module.size_multiple), source=Path(f"<random {preset}>"))


def translate_calls(preset: str, size: int, batch: int, device: str, modes: list[str], x: torch.Tensor
                    ) -> tuple[dict[str, Callable[[], torch.Tensor]], object]:
    """``mode -> call`` returning the translated batch (float32), and the loaded generator (for its codec)."""
    from volo_adapt.inference.engine import resolve_precision, translate_batch

    dev = torch.device(device)
    loaded = loaded_generator(preset, size, device)
    seeds = list(range(batch))
    auto = resolve_precision("auto", dev)

    def through(precision: str, gen=loaded) -> Callable[[], torch.Tensor]:
        return lambda: translate_batch(gen, x, precision=precision, seeds=seeds)

    def eager() -> torch.Tensor:
        from volo_adapt.inference.engine import takes_seeds

        with torch.no_grad():
            return loaded.module(x, seeds=seeds) if takes_seeds(loaded.module) else loaded.module(x)

    calls: dict[str, Callable[[], torch.Tensor]] = {"eager_fp32": eager, "exact": through("32")}
    if "auto" in modes and auto != "32":
        calls[f"auto ({auto})"] = through(auto)
    if "bf16" in modes and auto != "bf16":
        calls["bf16"] = through("bf16")
    if "compiled" in modes:
        compiled = copy.copy(loaded)
        compiled.module = torch.compile(copy.deepcopy(loaded.module))
        calls[f"compiled ({auto})"] = through(auto, compiled)
    return calls, loaded
