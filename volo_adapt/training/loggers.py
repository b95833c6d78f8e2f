"""The experiment loggers a run writes to (``train.logger``), and the names config validation accepts.

Lightning is imported only when loggers are made, so config validation can read :data:`LOGGERS` cheaply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from volo_adapt.config import RunConfig

LOGGERS = ("tensorboard", "csv", "none")
"""``train.logger`` values: TensorBoard (with the CSV log beside it), the CSV log alone, or none."""


def make_loggers(cfg: RunConfig, run_dir: Path) -> list[Any]:
    """The Lightning loggers of ``train.logger``, writing under ``RUN_DIR/logs/`` (empty list for ``none``)."""
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    kind = cfg.train.logger
    out: list[Any] = []
    if kind == "tensorboard":
        out.append(TensorBoardLogger(save_dir=str(run_dir / "logs"), name="", version="tensorboard",
                                     default_hp_metric=False))
    if kind in ("tensorboard", "csv"):  # the CSV log is always kept next to TensorBoard: easy to script
        # logs/csv/version_N/metrics.csv: a resumed run gets a new version (CSVLogger would overwrite the old file)
        out.append(CSVLogger(save_dir=str(run_dir / "logs"), name="csv"))
    return out
