"""Tests for the experiment loggers (training/loggers.py, tracker_runs.py, logger_images.py, log_eval.py).

Each tracker runs fully offline: wandb in offline mode with every folder under tmp_path, MLflow on a file store
under the run folder. A 2-batch 16 px run per logger, then its files are read back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from cli.main import run as volo
from tests.training.conftest import smoke_config
from volo_adapt.errors import ConfigError
from volo_adapt.training.log_eval import log_eval_to_run
from volo_adapt.training.loggers import LOGGERS, check_logger_installed
from volo_adapt.training.run import train

TINY = ("train.max_steps=2", "train.sample_every_n_steps=2", "train.checkpoint_every_n_steps=0",
        "data.image_size=16", "model.gen_kwargs={levels: 2}")
"""Two batches at 16 px, a sample grid after the second, validation at the end of the (2-batch) epoch."""

REPORT = SimpleNamespace(flat=lambda comparison="model": {"c2st_rgbd_acc/acc": 0.55, "depth_tail_fraction/abs_diff":
                                                          0.125, "broken/value": float("nan")})
"""A stand-in for an EvalReport: only ``flat("model")`` is read."""


def _tiny_run(tiny_data, out: Path, logger: str):
    return train(smoke_config(tiny_data, *TINY, f"train.logger={logger}"), out, progress=False)


def _plot(tmp_path: Path) -> Path:
    from PIL import Image

    path = tmp_path / "plots" / "noise_curve.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 16), (200, 30, 30)).save(path)
    return path


@pytest.fixture
def offline_wandb(tmp_path, monkeypatch):
    """wandb offline, silent, every folder it may write under tmp_path; its service stopped afterwards."""
    pytest.importorskip("wandb")
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(var, str(tmp_path / "wandb_home" / var.lower()))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_CODE", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    yield
    import wandb

    wandb.finish()
    wandb.teardown()


@pytest.fixture
def local_mlflow(monkeypatch):
    pytest.importorskip("mlflow")
    for var in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_ALLOW_FILE_STORE"):
        monkeypatch.delenv(var, raising=False)


def test_loggers_listed_for_config_validation():
    assert LOGGERS == ("tensorboard", "csv", "wandb", "mlflow", "none")


def test_tensorboard_run_imports_no_tracker_package(tmp_path):
    """A default run makes its loggers and logs an image without importing wandb or mlflow (a fresh process)."""
    code = (
        "import sys, torch\n"
        "from pathlib import Path\n"
        "from volo_adapt.config import load_config\n"
        "from volo_adapt.training.loggers import make_loggers\n"
        "from volo_adapt.training.logger_images import log_image\n"
        f"loggers = make_loggers(load_config('smoke', ['train.logger=tensorboard']), Path({str(tmp_path)!r}))\n"
        "log_image(loggers, 'samples', torch.rand(3, 8, 8), 1)\n"
        "print(sorted(m for m in ('wandb', 'mlflow') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_missing_package_is_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` fails, as when it is not installed
    with pytest.raises(ConfigError) as e:
        check_logger_installed("wandb")
    assert str(e.value) == "train.logger wandb needs the wandb package: pip install 'volo-adapt[wandb]'"
    check_logger_installed("tensorboard")  # the built-in loggers need nothing


def test_missing_package_names_the_flag(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(SystemExit) as exc:
        volo(["train", "--config", "smoke", "--logger", "mlflow", "--out", str(tmp_path / "r"), "--dry-run"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Traceback" not in err
    assert "--logger mlflow needs the mlflow package: pip install 'volo-adapt[mlflow]'" in err
    assert not (tmp_path / "r").exists()


def test_tensorboard_run_and_eval_on_its_checkpoint(tiny_data, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    res = _tiny_run(tiny_data, run, "tensorboard")
    lines = log_eval_to_run(REPORT, res.last_checkpoint, [_plot(tmp_path)])
    assert lines[0] == f"tensorboard: {run / 'logs' / 'tensorboard'}" and lines[1].startswith("csv: ")
    acc = EventAccumulator(str(run / "logs" / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    scalars, images = set(acc.Tags()["scalars"]), set(acc.Tags()["images"])
    assert {"loss/G/total", "loss/D/A", "lr/G", "lr/D", "val/cycle_l1_A"} <= scalars
    assert {"samples", "eval/noise_curve"} <= images
    assert [(e.step, e.value) for e in acc.Scalars("eval/c2st_rgbd_acc/acc")] == [(2, pytest.approx(0.55))]
    assert "eval/broken/value" not in scalars  # non-finite values are not logged
    csvs = sorted((run / "logs" / "csv").glob("version_*/metrics.csv"))
    assert len(csvs) == 2 and "eval/depth_tail_fraction/abs_diff" in csvs[-1].read_text()


def test_mlflow_run_logs_scalars_images_and_eval_to_the_same_run(tiny_data, tmp_path, local_mlflow):
    from mlflow.tracking import MlflowClient

    from volo_adapt.training.tracker_runs import file_store_allowed, read_ids

    run = tmp_path / "run"
    res = _tiny_run(tiny_data, run, "mlflow")
    run_id = read_ids(run / "logs" / "mlflow_run.json")["run_id"]
    log_eval_to_run(REPORT, res.last_checkpoint, [_plot(tmp_path)])
    with file_store_allowed(True):
        client = MlflowClient(f"file:{run / 'logs' / 'mlruns'}")
        data = client.get_run(run_id).data
        artifacts = {a.path for a in client.list_artifacts(run_id)}
        plots = [a.path for a in client.list_artifacts(run_id, "eval_plots")]
        evals = client.get_metric_history(run_id, "eval/c2st_rgbd_acc/acc")
    assert {"loss/G/total", "loss/D/A", "lr/G", "lr/D", "val/cycle_l1_A"} <= set(data.metrics)
    assert "images" in artifacts  # the sample grid (log_image with key and step)
    assert plots == ["eval_plots/noise_curve.png"]
    assert [(m.step, m.value) for m in evals] == [(2, pytest.approx(0.55))]
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # allowed only while our clients are made
    assert len(list((run / "logs" / "csv").glob("version_*/metrics.csv"))) == 2  # the CSV log beside it


def test_mlflow_logger_continues_the_run_folders_run(tmp_path, local_mlflow):
    from volo_adapt.training.tracker_runs import mlflow_logger

    first = mlflow_logger(tmp_path / "run").run_id
    assert mlflow_logger(tmp_path / "run").run_id == first


def test_wandb_offline_run_and_eval_on_its_checkpoint(tiny_data, tmp_path, offline_wandb):
    run = tmp_path / "run"
    res = _tiny_run(tiny_data, run, "wandb")
    wandb_id = json.loads((run / "logs" / "wandb_run.json").read_text())["id"]
    (train_dir,) = sorted((run / "logs" / "wandb").glob(f"offline-run-*-{wandb_id}"))
    history = (train_dir / f"run-{wandb_id}.wandb").read_bytes()  # protobuf records: the keys appear verbatim
    for key in (b"loss/G/total", b"lr/G", b"val/cycle_l1_A", b"samples"):
        assert key in history, key
    assert list((train_dir / "files" / "media" / "images").glob("samples_*.png"))
    import wandb

    (tmp_path / "caller").mkdir()
    callers_run = wandb.init(dir=str(tmp_path / "caller"), project="caller", mode="offline")  # a library user's own
    try:
        lines = log_eval_to_run(REPORT, res.last_checkpoint, [_plot(tmp_path)])
        assert wandb.run is callers_run  # neither returned for the eval segment nor finished by it
    finally:
        callers_run.finish()
        wandb.teardown()  # with a caller's run active, the eval segment is flushed by the caller's teardown
    assert lines[0].startswith(f"wandb: run {wandb_id}")
    dirs = sorted((run / "logs" / "wandb").glob(f"offline-run-*-{wandb_id}"))  # a second segment, same run id
    eval_bytes = b"".join(p.read_bytes() for d in dirs for p in d.glob("run-*.wandb"))
    assert b"eval/c2st_rgbd_acc/acc" in eval_bytes
    assert not list(tmp_path.glob("wandb")) and not Path("wandb").exists()


def test_eval_segment_waits_for_a_wandb_folder_name_of_its_own(tmp_path):
    """A resumed wandb segment started in the same second as the last one would share (and lose) its folder."""
    import time
    from datetime import datetime

    from volo_adapt.training.log_eval import _wait_for_a_new_segment_name

    def stamp() -> str:
        return datetime.fromtimestamp(time.time()).strftime("%Y%m%d_%H%M%S")

    taken = stamp()
    (tmp_path / f"offline-run-{taken}-abc").mkdir()
    _wait_for_a_new_segment_name(tmp_path, "abc")
    assert stamp() != taken
    started = time.monotonic()
    _wait_for_a_new_segment_name(tmp_path, "other-id")  # another run's folder: no wait
    assert time.monotonic() - started < 0.5


def test_wandb_mode_is_offline_unless_asked_or_logged_in(tmp_path, monkeypatch):
    from volo_adapt.training.tracker_runs import wandb_mode

    for var in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    assert wandb_mode() == "offline"  # no .netrc at all
    netrc.write_text("machine example.org login user password secret\n")
    assert wandb_mode() == "offline"
    netrc.write_text("machine api.wandb.ai login user password 0123456789abcdef\n")  # what `wandb login` writes
    assert wandb_mode() == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_mode() == "disabled"


def test_logger_flag_sets_the_config_key(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        volo(["train", "--config", "smoke", "--logger", "csv", "--out", str(tmp_path / "r"), "--dry-run"])
    assert exc.value.code in (0, None) and "logger: csv" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        volo(["train", "--config", "smoke", "--logger", "comet", "--dry-run"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--logger: must be one of tensorboard, csv, wandb, mlflow, none" in err
