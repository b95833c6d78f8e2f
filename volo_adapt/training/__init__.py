"""Training: the LightningModule, schedules, image pool, EMA, callbacks, checkpoints and :func:`train`.

Import :func:`volo_adapt.training.run.train` for the library entry point (``volo train`` wraps it).
"""

from __future__ import annotations

from volo_adapt.training.module import OPTIMIZER_ORDER, VoloGANModule
from volo_adapt.training.run import TrainResult, train

__all__ = ["OPTIMIZER_ORDER", "TrainResult", "VoloGANModule", "train"]
