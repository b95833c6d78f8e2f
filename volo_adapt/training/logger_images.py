"""Send one image (a sample grid, an evaluation plot) to every experiment logger of a run, each in its own way.

TensorBoard: ``add_image`` (tag, step). wandb: ``WandbLogger.log_image`` (key, step on its ``trainer/global_step``
axis). MLflow: ``log_image`` with key and step where the installed MLflow has them (>= 2.18: a step slider in its UI),
else an artifact ``<tag>/step_NNNNNN.png``. The CSV log takes no images. Lightning's loggers are recognised by type
(imported only when one of them is in use), anything else by an ``experiment.add_image`` method, as before.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np
import torch


def to_hwc_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] (a tensor or array) -> ``(H, W, 3)`` uint8, as :func:`samples.save_png` rounds.

    An ``(H, W, 3)`` uint8 array (a PNG read back) is returned as it is.
    """
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] in (3, 4):
        return image
    arr = image.detach().float().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image, np.float32)
    return (np.clip(arr, 0.0, 1.0).transpose(1, 2, 0) * 255.0 + 0.5).astype(np.uint8)


def _kind(logger: Any) -> str:
    """``wandb`` | ``mlflow`` | ``other``, without importing a tracker package that is not loaded already."""
    if "lightning.pytorch.loggers.wandb" in sys.modules:
        from lightning.pytorch.loggers import WandbLogger

        if isinstance(logger, WandbLogger):
            return "wandb"
    if "lightning.pytorch.loggers.mlflow" in sys.modules:
        from lightning.pytorch.loggers import MLFlowLogger

        if isinstance(logger, MLFlowLogger):
            return "mlflow"
    return "other"


def mlflow_log_image(client: Any, run_id: str, tag: str, image: np.ndarray, step: int) -> None:
    """``image`` ``(H, W, 3)`` uint8 to an MLflow run: under ``key=tag`` at ``step`` where supported, else as the
    artifact ``<tag>/step_NNNNNN.png``."""
    if "key" in inspect.signature(client.log_image).parameters:
        client.log_image(run_id, image, key=tag.replace("/", "_"), step=step)
    else:
        client.log_image(run_id, image, artifact_file=f"{tag}/step_{step:06d}.png")


def log_image(loggers: Iterable[Any], tag: str, image: torch.Tensor | np.ndarray, step: int) -> None:
    """Send ``image`` to each of ``loggers`` (Lightning loggers) under ``tag`` at ``step``.

    Args:
        loggers: ``trainer.loggers``.
        tag: e.g. ``samples``.
        image: ``(3, H, W)`` float in [0, 1] (tensor or array), or ``(H, W, 3)`` uint8.
        step: the x-axis value (batches for sample grids).
    """
    for logger in loggers:
        kind = _kind(logger)
        if kind == "wandb":
            logger.log_image(key=tag, images=[to_hwc_uint8(image)], step=step)
        elif kind == "mlflow":
            mlflow_log_image(logger.experiment, logger.run_id, tag, to_hwc_uint8(image), step)
        else:
            exp = getattr(logger, "experiment", None)
            if hasattr(exp, "add_image"):
                if isinstance(image, np.ndarray) and image.dtype == np.uint8:
                    exp.add_image(tag, image, global_step=step, dataformats="HWC")
                else:
                    exp.add_image(tag, image, global_step=step, dataformats="CHW")
