"""Training: the LightningModule, schedules, image pool, EMA, callbacks, checkpoints and :func:`train`.

Import :func:`volo_adapt.training.run.train` for the library entry point (``volo train`` wraps it).

The names below are loaded on first use (PEP 562): importing a light submodule such as
``volo_adapt.training.schedules`` (whose choice lists config validation reads) does not pull in Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "OPTIMIZER_ORDER": "volo_adapt.training.module",
    "VoloGANModule": "volo_adapt.training.module",
    "TrainResult": "volo_adapt.training.run",
    "train": "volo_adapt.training.run",
}

__all__ = ["OPTIMIZER_ORDER", "TrainResult", "VoloGANModule", "train"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
