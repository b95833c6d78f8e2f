"""Tests for volo_adapt/training/run.py: smoke training, checkpoints, resume (determinism, mismatch), stops."""

from __future__ import annotations

import csv
import os
import signal
from pathlib import Path

import lightning as L
import pytest
import torch

from tests.training.conftest import smoke_config
from volo_adapt.errors import CheckpointError, ConfigError, VoloError
from volo_adapt.training.run import train

QUIET = {"progress": False}


class StopAt(L.Callback):
    """Ask the trainer to stop after ``n`` batches (simulates a run cut short)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if pl_module.batches_done >= self.n:
            trainer.should_stop = True


def test_smoke_run_writes_checkpoint_config_samples_and_logs(tiny_data, tmp_path):
    res = train(smoke_config(tiny_data), tmp_path / "run", **QUIET)
    run = tmp_path / "run"
    assert res.batches_done == 4 and not res.interrupted
    assert (run / "config.yaml").is_file() and "gen_base: 4" in (run / "config.yaml").read_text()
    assert res.last_checkpoint == run / "checkpoints" / "last.ckpt"
    assert (run / "checkpoints" / "step_0000002.ckpt").is_file()
    assert [p.name for p in res.samples] == ["step_000002.png", "step_000004.png"]
    from PIL import Image

    with Image.open(res.samples[0]) as im:
        assert im.mode == "RGB" and im.size[0] > im.size[1] > 32  # 6 columns, 2 rows per example
    assert not list(run.rglob("*.partial*"))
    ckpt = torch.load(res.last_checkpoint, map_location="cpu", weights_only=True)
    assert ckpt["volo"]["format"] == 1 and ckpt["volo"]["config"]["model"]["gen_base"] == 4
    prefixes = {k.split(".")[0] for k in ckpt["state_dict"]}
    assert prefixes == {"gen_a2b", "gen_b2a", "critic_a", "critic_b", "gen_a2b_ema", "gen_b2a_ema"}
    assert len(ckpt["optimizer_states"]) == 2 and len(ckpt["lr_schedulers"]) == 2
    (metrics,) = list((run / "logs" / "csv").rglob("metrics.csv"))
    header = next(csv.reader(metrics.open()))
    for key in ("loss/G/cycle_A", "loss/G/adv_B", "loss/D/A", "lr/G", "lr/D", "health/skipped_steps",
                "health/fake_std_B", "val/cycle_l1_A"):
        assert key in header, key
    # validation also logs the registered metrics that `volo eval` uses (same functions)
    for key in ("val/depth_noise_vs_range/value_mm", "val/depth_tail_fraction/value",
                "val/geometry_vs_source_median5/mae_mm"):
        assert key in header, key


def test_resume_of_a_finished_run_trains_no_further_batch(tiny_data, tmp_path):
    """Killed after its last batch but before it exited, a run is resumed from a checkpoint that already holds
    train.max_steps batches: the resume must not train one batch more (the soak script found it did)."""
    cfg = ("train.max_steps=2", "train.max_epochs=50", "train.checkpoint_every_n_steps=0",
           "train.sample_every_n_steps=0")
    first = train(smoke_config(tiny_data, *cfg), tmp_path / "r", **QUIET)
    assert first.batches_done == 2
    weights = {k: v.clone() for k, v in first.module.state_dict().items()}
    again = train(smoke_config(tiny_data, *cfg), tmp_path / "r", resume="auto", **QUIET)
    assert again.batches_done == 2
    for k, v in again.module.state_dict().items():
        assert torch.equal(v, weights[k]), k


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tiny_data, tmp_path):
    cfg = ("train.max_steps=-1", "train.checkpoint_every_n_steps=0", "train.sample_every_n_steps=0")
    straight = train(smoke_config(tiny_data, *cfg), tmp_path / "straight", **QUIET)
    first = train(smoke_config(tiny_data, *cfg), tmp_path / "split", callbacks=[StopAt(2)], **QUIET)
    assert first.batches_done == 2
    second = train(smoke_config(tiny_data, *cfg), tmp_path / "split", resume="auto", **QUIET)
    assert second.resumed_from == tmp_path / "split" / "checkpoints" / "last.ckpt"
    assert straight.batches_done == second.batches_done == 4
    s1, s2 = straight.module.state_dict(), second.module.state_dict()
    assert s1.keys() == s2.keys()
    for k in s1:
        assert torch.equal(s1[k], s2[k]), k
    o1 = torch.load(straight.last_checkpoint, weights_only=True)["optimizer_states"]
    o2 = torch.load(second.last_checkpoint, weights_only=True)["optimizer_states"]
    torch.testing.assert_close(o1, o2, rtol=0, atol=0)


class Crash(Exception):
    """Stands in for ``kill -9``: nothing is written on the way out."""


class CrashAfter(L.Callback):
    """Crash as batch ``n + 1`` starts (after everything batch ``n`` wrote)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:
        if pl_module.batches_done == self.n:
            raise Crash


def test_two_resumes_give_the_same_weights_as_an_uninterrupted_run(tiny_data, tmp_path):
    """A crash right after the periodic checkpoint of batch 4 (the last batch of epoch 2), then a SIGTERM during
    batch 6 (the last of epoch 3), then the rest: the weights and optimiser states equal an uninterrupted run's.
    Checkpoints written in on_train_batch_end of an epoch's last batch made Lightning skip the next epoch's start
    after a resume, so the second resume continued one epoch behind (other learning rates): they are written at
    the epoch's end instead."""
    cfg = ("train.max_steps=8", "train.max_epochs=50", "train.checkpoint_every_n_steps=2",
           "train.sample_every_n_steps=0")
    straight = train(smoke_config(tiny_data, *cfg), tmp_path / "straight", **QUIET)
    with pytest.raises(Crash):
        train(smoke_config(tiny_data, *cfg), tmp_path / "split", callbacks=[CrashAfter(4)], **QUIET)
    stopped = train(smoke_config(tiny_data, *cfg), tmp_path / "split", resume="auto",
                    callbacks=[SignalAt(signal.SIGTERM, 6)], **QUIET)
    assert stopped.interrupted and stopped.batches_done == 6
    final = train(smoke_config(tiny_data, *cfg), tmp_path / "split", resume="auto", **QUIET)
    assert final.batches_done == 8 and not final.interrupted
    s1, s2 = straight.module.state_dict(), final.module.state_dict()
    for k in s1:
        assert torch.equal(s1[k], s2[k]), k
    o1 = torch.load(straight.last_checkpoint, weights_only=True)
    o2 = torch.load(final.last_checkpoint, weights_only=True)
    torch.testing.assert_close(o1["optimizer_states"], o2["optimizer_states"], rtol=0, atol=0)
    assert o1["epoch"] == o2["epoch"]


def test_resume_from_a_different_model_config_says_what_differs(tiny_data, tmp_path):
    res = train(smoke_config(tiny_data, "train.max_steps=1"), tmp_path / "r", **QUIET)
    with pytest.raises(CheckpointError, match=r"model\.gen_base: checkpoint 4 vs config 8"):
        train(smoke_config(tiny_data, "model.gen_base=8"), tmp_path / "r2", resume=res.last_checkpoint, **QUIET)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        train(smoke_config(tiny_data), tmp_path / "r3", resume=tmp_path / "missing.ckpt", **QUIET)


def test_resume_auto_without_checkpoint_starts_fresh_and_says_so(tiny_data, tmp_path):
    res = train(smoke_config(tiny_data, "train.max_steps=1"), tmp_path / "fresh", resume="auto", **QUIET)
    assert res.resumed_from is None and any("starting fresh" in n for n in res.notes)


def test_resume_without_data_arguments_continues_on_the_checkpoints_data(tiny_data, tmp_path):
    first = train(smoke_config(tiny_data, "train.max_steps=1"), tmp_path / "run", **QUIET)
    assert first.last_checkpoint is not None
    no_data = smoke_config(tiny_data, "train.max_steps=2")
    no_data = no_data.replace(data={"data_a": [], "data_b": []})
    res = train(no_data, tmp_path / "run", resume="auto", **QUIET)
    # never silently falls back to the built-in demo set on resume
    assert res.config.data.data_a == [tiny_data[0]] and res.config.data.data_b == [tiny_data[1]]
    assert any("checkpoint's data" in n for n in res.notes)
    assert res.resumed_from is not None and res.batches_done == 2


def test_dry_run_reads_no_data_and_writes_nothing(tmp_path):
    from volo_adapt.config import load_config

    cfg = load_config("smoke", ["data.data_a=[/nonexistent/a]", "data.data_b=[/nonexistent/b]"])
    res = train(cfg, tmp_path / "dry", dry_run=True)
    assert res.dry_run and res.param_counts["gen_a2b"] > 0 and not (tmp_path / "dry").exists()


def test_one_domain_only_is_refused(tmp_path):
    from volo_adapt.config import load_config

    with pytest.raises(ConfigError, match="data.data_b"):
        train(load_config("smoke", ["data.data_a=[x]"]), tmp_path / "x", **QUIET)


def test_non_finite_losses_stop_after_max_bad_steps_keeping_the_last_good_weights(tiny_data, tmp_path, monkeypatch):
    import volo_adapt.training.objective as module_mod

    monkeypatch.setattr(module_mod, "adversarial_g_loss", lambda kind, scores: torch.tensor(float("nan")))
    cfg = smoke_config(tiny_data, "train.max_bad_steps=2", "train.max_steps=-1", "train.max_epochs=5")
    with pytest.raises(VoloError, match="diverged.*last.ckpt"):
        train(cfg, tmp_path / "nan", **QUIET)
    ckpt = torch.load(tmp_path / "nan" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["volo_train_state"]["batches_done"] == 2 and ckpt["volo_train_state"]["skipped_steps"] >= 2
    L.seed_everything(cfg.train.seed, verbose=False)
    from volo_adapt.training.module import VoloGANModule

    initial = VoloGANModule(cfg).gen_a2b.state_dict()
    for k, v in initial.items():  # no generator step was taken
        if not k.endswith(("_u", "_v")):  # spectral-norm power-iteration vectors move on every forward
            assert torch.equal(ckpt["state_dict"][f"gen_a2b.{k}"], v), k


class SignalAt(L.Callback):
    """Send ``sig`` to this process once, at the start of batch ``n`` (counted from 1) or of validation batch ``n``
    (``validation=True``): the signal lands in the middle of a step, as a scheduler's would."""

    def __init__(self, sig: signal.Signals, n: int, validation: bool = False) -> None:
        self.sig, self.n, self.validation, self.sent = sig, n, validation, False

    def _maybe_send(self, count: int) -> None:
        if count == self.n and not self.sent:
            self.sent = True
            os.kill(os.getpid(), self.sig)

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:
        if not self.validation:
            self._maybe_send(pl_module.batches_done + 1)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        if self.validation and not trainer.sanity_checking:
            self._maybe_send(pl_module.batches_done)


@pytest.fixture
def saved_checkpoints(monkeypatch) -> list[Path]:
    """Every checkpoint path written through AtomicCheckpointIO during the test, in order."""
    from volo_adapt.training.checkpoint import AtomicCheckpointIO

    paths: list[Path] = []
    original = AtomicCheckpointIO.save_checkpoint

    def recording(self, checkpoint, path, storage_options=None):
        paths.append(Path(path))
        return original(self, checkpoint, path, storage_options)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", recording)
    return paths


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=lambda s: s.name)
def test_stop_signal_writes_last_checkpoint_once_and_resume_continues(tiny_data, tmp_path, saved_checkpoints, sig,
                                                                      workers):
    """SIGTERM, SIGINT or SIGUSR1 to the training process (the main process only; the process-group case is in
    tests/faults/test_fault_training.py) during batch 2: the batch finishes, last.ckpt is written exactly once
    holding batch 2, train() returns normally saying which signal, the signal handlers are restored, and
    --resume auto continues from batch 2."""
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    common = ("train.checkpoint_every_n_steps=0", "train.sample_every_n_steps=0", f"data.num_workers={workers}")
    res = train(smoke_config(tiny_data, *common, "train.max_steps=-1", "train.max_epochs=50"), tmp_path / "run",
                callbacks=[SignalAt(sig, 2)], **QUIET)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert res.interrupted and res.stop_signal == sig.name and res.batches_done == 2
    assert saved_checkpoints == [last]
    assert torch.load(last, weights_only=True)["volo_train_state"]["batches_done"] == 2
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before
    again = train(smoke_config(tiny_data, *common, "train.max_steps=3"), tmp_path / "run", resume="auto", **QUIET)
    assert again.resumed_from == last and again.batches_done == 3 and not again.interrupted


def test_stop_signal_during_validation_stops_there_and_resumes(tiny_data, tmp_path, saved_checkpoints):
    """A SIGTERM that lands during the validation after batch 2: last.ckpt holds batch 2 and the run resumes."""
    cfg = ("train.checkpoint_every_n_steps=0", "train.sample_every_n_steps=0", "train.val_every_n_steps=2")
    res = train(smoke_config(tiny_data, *cfg, "train.max_steps=-1", "train.max_epochs=50"), tmp_path / "run",
                callbacks=[SignalAt(signal.SIGTERM, 2, validation=True)], **QUIET)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert res.interrupted and res.batches_done == 2 and saved_checkpoints == [last]
    again = train(smoke_config(tiny_data, *cfg, "train.max_steps=3"), tmp_path / "run", resume="auto", **QUIET)
    assert again.batches_done == 3 and not again.interrupted


def test_stop_signal_before_the_first_batch_writes_nothing(tiny_data, tmp_path, saved_checkpoints):
    """A signal during start-up (here: while the start-up table is shown) ends the run before any batch; nothing
    was trained, so nothing is written, and a resumed run's checkpoint is left as it was."""
    common = ("train.checkpoint_every_n_steps=0", "train.sample_every_n_steps=0")

    def term(info):
        os.kill(os.getpid(), signal.SIGTERM)

    res = train(smoke_config(tiny_data, *common), tmp_path / "fresh", on_start=term, **QUIET)
    assert res.interrupted and res.batches_done == 0 and res.last_checkpoint is None and saved_checkpoints == []
    first = train(smoke_config(tiny_data, *common, "train.max_steps=1"), tmp_path / "run", **QUIET)
    data = first.last_checkpoint.read_bytes()
    saved_checkpoints.clear()
    res = train(smoke_config(tiny_data, *common), tmp_path / "run", resume="auto", on_start=term, **QUIET)
    assert res.interrupted and res.batches_done == 1 and saved_checkpoints == []
    assert first.last_checkpoint.read_bytes() == data


def test_second_ctrl_c_aborts_at_once_without_writing(tiny_data, tmp_path, saved_checkpoints):
    """Ctrl-C twice: the second one does not wait for the batch (KeyboardInterrupt, which Lightning turns into
    exit code 1) and writes no checkpoint (it may land mid-batch); the handlers are restored afterwards."""

    class TwoCtrlC(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, *args) -> None:
            if pl_module.batches_done == 1:
                os.kill(os.getpid(), signal.SIGINT)
                os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(SystemExit) as e:
        train(smoke_config(tiny_data, "train.checkpoint_every_n_steps=0"), tmp_path / "int", callbacks=[TwoCtrlC()],
              **QUIET)
    assert e.value.code == 1 and saved_checkpoints == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the session's (tests/conftest.py)


def test_strategy_mapping():
    from volo_adapt.config import load_config
    from volo_adapt.training.trainer_setup import lightning_strategy as _strategy

    assert _strategy(load_config("smoke", ["train.strategy=ddp"])) == "ddp_find_unused_parameters_true"
    assert _strategy(load_config("smoke", ["train.devices=2"])) == "ddp_find_unused_parameters_true"
    assert _strategy(load_config("smoke", ["train.devices=1"])) == "auto"
