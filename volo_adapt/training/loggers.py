"""The experiment loggers a run writes to (``train.logger``), and the names config validation accepts.

Where each writes, under ``RUN_DIR/logs/``:

* ``tensorboard``: ``tensorboard/`` (event files), plus the CSV log.
* ``csv``: ``csv/version_N/metrics.csv`` alone (one version per start or resume).
* ``wandb``: ``wandb/`` (offline unless ``WANDB_MODE`` says otherwise or a wandb API key is set up: see
  :func:`volo_adapt.training.tracker_runs.wandb_mode`), plus the CSV log.
* ``mlflow``: the local file store ``mlruns/`` unless ``MLFLOW_TRACKING_URI`` is set, plus the CSV log.
* ``none``: nothing.

wandb and mlflow continue the same tracker run for every start of a run folder (the ids are kept in
``RUN_DIR/logs/wandb_run.json`` and ``mlflow_run.json``), so a resumed run and ``volo eval`` of its checkpoints add
to it. Lightning (and the optional tracker packages) are imported only when loggers are made, so config validation
can read :data:`LOGGERS` cheaply and a TensorBoard run never imports wandb or mlflow.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from volo_adapt.config import RunConfig
from volo_adapt.errors import ConfigError

LOGGERS = ("tensorboard", "csv", "wandb", "mlflow", "none")
"""``train.logger`` values: TensorBoard, wandb or MLflow (each with the CSV log beside it), the CSV log alone, or
none."""

TRACKER_PACKAGES = {"wandb": ("wandb", "wandb"), "mlflow": ("mlflow", "mlflow")}
"""``train.logger`` value -> (module it imports, ``volo-adapt`` extra that installs it) for the optional trackers."""


def check_logger_installed(kind: str) -> None:
    """Refuse a ``train.logger`` whose package is missing, before anything is built (no import: a spec lookup).

    Raises:
        ConfigError: ``train.logger wandb needs the wandb package: pip install 'volo-adapt[wandb]'``.
    """
    if kind not in TRACKER_PACKAGES:
        return
    module, extra = TRACKER_PACKAGES[kind]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install or a module without a spec: as good as missing
        found = False
    if not found:
        raise ConfigError(f"train.logger {kind} needs the {module} package: pip install 'volo-adapt[{extra}]'")


def make_loggers(cfg: RunConfig, run_dir: Path) -> list[Any]:
    """The Lightning loggers of ``train.logger``, writing under ``RUN_DIR/logs/`` (empty list for ``none``).

    Raises:
        ConfigError: the logger's package is not installed (see :func:`check_logger_installed`).
    """
    kind = cfg.train.logger
    check_logger_installed(kind)
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    out: list[Any] = []
    if kind == "tensorboard":
        out.append(TensorBoardLogger(save_dir=str(run_dir / "logs"), name="", version="tensorboard",
                                     default_hp_metric=False))
    elif kind == "wandb":
        from volo_adapt.training.tracker_runs import wandb_logger

        out.append(wandb_logger(run_dir))
    elif kind == "mlflow":
        from volo_adapt.training.tracker_runs import mlflow_logger

        out.append(mlflow_logger(run_dir))
    if kind != "none":  # the CSV log is always kept next to a tracker: easy to script
        # logs/csv/version_N/metrics.csv: a resumed run gets a new version (CSVLogger would overwrite the old file)
        out.append(CSVLogger(save_dir=str(run_dir / "logs"), name="csv"))
    return out
