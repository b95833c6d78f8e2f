"""Add a ``volo eval`` report to the experiment logger of the run its checkpoint belongs to.

``volo eval --ckpt RUN/checkpoints/x.ckpt`` already appends to ``RUN/metrics.jsonl``; :func:`log_eval_to_run` also
writes the model's metric values, as ``eval/<metric>/<key>`` at the checkpoint's batch count (the x-axis of the
training curves), and the given plot PNGs to the logger ``RUN/config.yaml`` names:

* tensorboard: a new event file in ``RUN/logs/tensorboard`` (scalars, images ``eval/<plot name>``);
* wandb: the run's wandb run, resumed by the id in ``RUN/logs/wandb_run.json`` (same mode rule as training);
* mlflow: the run's MLflow run (``RUN/logs/mlflow_run.json``): metrics, and the plots as artifacts ``eval_plots/``;
* and, for each of them and for csv, a new ``RUN/logs/csv/version_N/metrics.csv``.

A checkpoint outside a run folder (no ``config.yaml`` beside ``checkpoints/``), ``train.logger: none`` or a tracker
package missing here (a warning) log nothing.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from volo_adapt.errors import ConfigError, first_line
from volo_adapt.training.tracker_runs import (
    file_store_allowed,
    finish_wandb_run,
    logs_dir,
    mlflow_uri,
    read_ids,
    wandb_mode,
)

log = logging.getLogger(__name__)


def run_logger(run_dir: Path) -> str | None:
    """The ``train.logger`` of the run folder's ``config.yaml`` (``tensorboard`` when the key is absent); None when
    ``run_dir`` has no readable config (not a run folder)."""
    try:
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(cfg, dict):
        return None
    train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    return str(train.get("logger", "tensorboard"))


def eval_metrics(report: Any) -> dict[str, float]:
    """``{"eval/<metric>/<key>": value}`` of the report's ``model`` comparison, finite values only."""
    return {f"eval/{k}": float(v) for k, v in report.flat("model").items()
            if isinstance(v, int | float) and math.isfinite(v)}


def log_eval_to_run(report: Any, ckpt_path: str | os.PathLike, plot_paths: Sequence[str | os.PathLike] = ()
                    ) -> list[str]:
    """Write ``report``'s metrics (and ``plot_paths``' PNGs) to the logger of the checkpoint's run.

    Args:
        report: an :class:`~volo_adapt.metrics.evaluate.EvalReport` (``flat("model")`` is logged).
        ckpt_path: the evaluated checkpoint, ``RUN/checkpoints/*.ckpt`` for anything to be logged.
        plot_paths: files ``volo eval --plots`` wrote; the ``.png`` ones are logged as images.

    Returns:
        One line per logger written to, e.g. ``tensorboard: runs/v1/logs/tensorboard`` (empty: nothing logged).
    """
    from volo_adapt.checkpoint import stored_batches
    from volo_adapt.metrics.report import run_dir_for
    from volo_adapt.training.loggers import check_logger_installed

    ckpt = Path(ckpt_path)
    run_dir = run_dir_for(ckpt)
    kind = run_logger(run_dir) if ckpt.resolve().parent.name == "checkpoints" else None
    if kind in (None, "none"):
        return []
    try:
        check_logger_installed(kind)
    except ConfigError as e:
        log.warning("eval metrics not sent to the run's %s logger: %s", kind, first_line(e))
        kind = "csv"
    metrics = eval_metrics(report)
    images = [Path(p) for p in plot_paths if Path(p).suffix.lower() == ".png"]
    step = max(stored_batches(ckpt), 0)
    writers = {"tensorboard": _to_tensorboard, "wandb": _to_wandb, "mlflow": _to_mlflow}
    done = [writers[kind](run_dir, metrics, images, step)] if kind in writers else []
    done.append(_to_csv(run_dir, metrics, step))
    return [line for line in done if line]


def _read_png(path: Path) -> Any:
    """``(H, W, 3)`` uint8 array of a PNG."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _to_csv(run_dir: Path, metrics: dict[str, float], step: int) -> str:
    from lightning.pytorch.loggers import CSVLogger

    logger = CSVLogger(save_dir=str(logs_dir(run_dir)), name="csv")
    logger.log_metrics(metrics, step=step)
    logger.save()
    return f"csv: {Path(logger.log_dir) / 'metrics.csv'}"


def _to_tensorboard(run_dir: Path, metrics: dict[str, float], images: list[Path], step: int) -> str:
    from torch.utils.tensorboard import SummaryWriter

    folder = logs_dir(run_dir) / "tensorboard"
    writer = SummaryWriter(log_dir=str(folder))
    try:
        for k, v in metrics.items():
            writer.add_scalar(k, v, global_step=step)
        for p in images:
            writer.add_image(f"eval/{p.stem}", _read_png(p), global_step=step, dataformats="HWC")
    finally:
        writer.close()
    return f"tensorboard: {folder}"


def _to_mlflow(run_dir: Path, metrics: dict[str, float], images: list[Path], step: int) -> str | None:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    saved = read_ids(logs_dir(run_dir) / "mlflow_run.json")
    if not saved.get("run_id"):
        log.warning("eval metrics not sent to MLflow: %s has no MLflow run id", logs_dir(run_dir) / "mlflow_run.json")
        return None
    uri, local = mlflow_uri(run_dir, saved)
    run_id = str(saved["run_id"])
    with file_store_allowed(local):
        client = MlflowClient(uri)
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, now, step) for k, v in metrics.items()])
        for p in images:
            client.log_artifact(run_id, str(p), artifact_path="eval_plots")
    return f"mlflow: run {run_id} at {uri}"


def _to_wandb(run_dir: Path, metrics: dict[str, float], images: list[Path], step: int) -> str | None:
    import wandb

    saved = read_ids(logs_dir(run_dir) / "wandb_run.json")
    if not saved.get("id"):
        log.warning("eval metrics not sent to wandb: %s has no wandb run id", logs_dir(run_dir) / "wandb_run.json")
        return None
    _wait_for_a_new_segment_name(logs_dir(run_dir) / "wandb", str(saved["id"]))
    run = wandb.init(dir=str(logs_dir(run_dir)), project=saved.get("project"), id=str(saved["id"]), resume="allow",
                     mode=wandb_mode(), reinit="create_new")  # never the caller's own active run
    try:
        run.define_metric("trainer/global_step")
        run.define_metric("eval/*", step_metric="trainer/global_step")
        pictures = {f"eval/{p.stem}": wandb.Image(str(p)) for p in images}
        run.log({**metrics, **pictures, "trainer/global_step": step})
    finally:
        finish_wandb_run(run)
    return f"wandb: run {saved['id']} in {logs_dir(run_dir) / 'wandb'}"


def _wait_for_a_new_segment_name(wandb_dir: Path, run_id: str) -> None:
    """Sleep into the next second while a segment folder of ``run_id`` is named after the current one.

    wandb names each segment ``{offline-run,run}-YYYYMMDD_HHMMSS-<id>`` after its start second (local time); a
    resumed segment started in the same second as the previous one (a tiny run evaluated at once) writes into that
    segment's folder and its records are lost. No wandb setting names the folder, hence the wait (at most ~1 s).
    """
    from datetime import datetime

    while True:
        now = time.time()
        stamp = datetime.fromtimestamp(now).strftime("%Y%m%d_%H%M%S")
        if not any((wandb_dir / f"{mode}-{stamp}-{run_id}").exists() for mode in ("run", "offline-run")):
            return
        time.sleep(math.ceil(now) - now + 0.01)
