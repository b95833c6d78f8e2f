"""The wandb and MLflow runs of a run folder: where they write, and the ids that tie every start to one tracker run.

A run folder has one tracker run. Its id is written on the first start (rank 0) and read by every later start
(``--resume``) and by ``volo eval`` of the run's checkpoints (:mod:`volo_adapt.training.log_eval`):

* ``RUN_DIR/logs/wandb_run.json``: ``{"id": ..., "project": ...}``; the files go to ``RUN_DIR/logs/wandb/``.
* ``RUN_DIR/logs/mlflow_run.json``: ``{"run_id": ..., "tracking_uri": ...}``; ``tracking_uri`` is None for the
  run folder's own file store ``RUN_DIR/logs/mlruns`` (so the folder can be moved), else ``MLFLOW_TRACKING_URI``.

wandb runs offline unless ``WANDB_MODE`` is set or a wandb API key is set up (``WANDB_API_KEY`` or ``wandb login``'s
``~/.netrc`` entry): an offline run is uploaded later with ``wandb sync RUN_DIR/logs/wandb/offline-run-*``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lightning.pytorch.loggers import WandbLogger  # Lightning is loaded by then: only make_loggers imports this module
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from volo_adapt.atomic import atomic_write_bytes

WANDB_PROJECT = "volo-adapt"
"""wandb project (``WANDB_PROJECT`` overrides it) and MLflow experiment name (``MLFLOW_EXPERIMENT_NAME`` overrides)."""


def logs_dir(run_dir: str | os.PathLike) -> Path:
    """``RUN_DIR/logs``: where every logger of a run writes."""
    return Path(run_dir) / "logs"


def read_ids(path: Path) -> dict[str, Any]:
    """The JSON object saved at ``path``; ``{}`` when missing or unreadable (a new tracker run is then started)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_ids(path: Path, data: dict[str, Any]) -> None:
    if rank_zero_only.rank == 0:
        atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


# ------------------------------------------------------------------------------------------------------------ wandb


def _has_wandb_key() -> bool:
    """True when a wandb API key is set up: ``WANDB_API_KEY``, or a ``.netrc`` entry for the wandb host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    import netrc

    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname or "api.wandb.ai"
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def wandb_mode() -> str:
    """The wandb mode of a run: ``WANDB_MODE`` when set, else ``online`` with an API key set up, else ``offline``."""
    return os.environ.get("WANDB_MODE") or ("online" if _has_wandb_key() else "offline")


class FinishingWandbLogger(WandbLogger):
    """Lightning's ``WandbLogger`` that finishes its wandb run when training ends (Lightning's leaves it open until
    the process exits); a stopped or failed run finishes with exit code 1 and is continued by the next start."""

    def finalize(self, status: str) -> None:
        super().finalize(status)
        if status in ("success", "failed") and self._experiment is not None:
            finish_wandb_run(self._experiment, exit_code=0 if status == "success" else 1)
            self._experiment = None


def finish_wandb_run(run: Any, exit_code: int = 0) -> None:
    """Finish a wandb run and return once its ``run-<id>.wandb`` is complete on disk.

    ``run.finish()`` returns before the wandb-core service has written the segment (seen with wandb 0.31: the file
    completed ~20 ms later, so a reader right after found records missing); ``wandb.teardown()`` waits for the
    service. Skipped while another run of the caller's is active, since teardown would finish that one too; its
    own teardown (at the latest, at exit) flushes both.
    """
    import wandb

    run.finish(exit_code=exit_code)
    if wandb.run is None:
        wandb.teardown()


def wandb_logger(run_dir: Path) -> FinishingWandbLogger:
    """The logger of the run folder's wandb run (files in ``RUN_DIR/logs/wandb/``): its id is saved on the first
    start and resumed afterwards."""
    from wandb.sdk.lib.runid import generate_id

    ids_path = logs_dir(run_dir) / "wandb_run.json"
    saved = read_ids(ids_path)
    run_id = str(saved.get("id") or generate_id())
    project = str(saved.get("project") or os.environ.get("WANDB_PROJECT") or WANDB_PROJECT)
    if saved.get("id") != run_id or saved.get("project") != project:
        _write_ids(ids_path, {"id": run_id, "project": project})
    return FinishingWandbLogger(save_dir=str(logs_dir(run_dir)), project=project, id=run_id,
                                name=Path(run_dir).resolve().name, mode=wandb_mode())


# ----------------------------------------------------------------------------------------------------------- mlflow


def mlflow_uri(run_dir: Path, saved: dict[str, Any] | None = None) -> tuple[str, bool]:
    """``(tracking URI, is the run folder's own file store)``: the saved URI, else ``MLFLOW_TRACKING_URI``, else
    ``file:RUN_DIR/logs/mlruns`` (absolute)."""
    uri = (saved or {}).get("tracking_uri") or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return str(uri), False
    return f"file:{(logs_dir(run_dir) / 'mlruns').resolve()}", True


@contextlib.contextmanager
def file_store_allowed(local: bool) -> Iterator[None]:
    """Let MLflow >= 3 open a file store (refused unless ``MLFLOW_ALLOW_FILE_STORE``) while a client is made.

    MLflow keeps one store object per URI, so the permission is needed only when the first client of a URI is
    made; the variable is restored afterwards, and a value the user set is left alone.
    """
    if not local or "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        yield
        return
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def mlflow_logger(run_dir: Path) -> Any:
    """Lightning's ``MLFlowLogger`` on the run folder's MLflow run: created on the first start (rank 0), its id saved
    in ``RUN_DIR/logs/mlflow_run.json`` and continued by later starts."""
    from lightning.pytorch.loggers import MLFlowLogger

    ids_path = logs_dir(run_dir) / "mlflow_run.json"
    saved = read_ids(ids_path)
    uri, local = mlflow_uri(run_dir, saved)
    experiment = os.environ.get("MLFLOW_EXPERIMENT_NAME") or WANDB_PROJECT
    with file_store_allowed(local):
        run_id = saved.get("run_id") if _mlflow_run_exists(uri, saved.get("run_id")) else None
        logger = MLFlowLogger(experiment_name=experiment, run_name=Path(run_dir).resolve().name, tracking_uri=uri,
                              run_id=run_id)
        if rank_zero_only.rank == 0 and run_id is None:  # create the run now, to save its id before training
            _write_ids(ids_path, {"run_id": logger.run_id, "tracking_uri": None if local else uri})
    return logger


def _mlflow_run_exists(uri: str, run_id: Any) -> bool:
    """True when ``run_id`` names a run (not deleted) of the store at ``uri``."""
    if not run_id:
        return False
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        return MlflowClient(uri).get_run(str(run_id)).info.lifecycle_stage != "deleted"
    except MlflowException:
        return False
