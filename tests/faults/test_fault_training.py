"""Crashes and bad numbers during training.

* ``kill -9`` of a ``volo train`` subprocess, then ``--resume auto``: training continues from the last complete
  checkpoint; a stray partial file (what a kill during a checkpoint write leaves) is never taken for one, and is
  removed at the next start.
* SIGTERM (preemption): a checkpoint is written and the process exits 0 within a bounded time.
* SIGTERM, SIGINT and SIGUSR1 sent to the whole process group (DataLoader workers included, as ``timeout``,
  ``docker stop`` and SLURM do): each run ends with a checkpoint, exit 0, no traceback, no process left, and the
  next ``--resume auto`` continues from it; SIGUSR1 inside a SLURM job requeues it.
* A damaged ``last.ckpt``: ``--resume auto`` falls back to the newest readable ``step_*.ckpt``.
* A non-finite loss or gradient skips that optimiser step (weights untouched) and is counted in the logs; several
  in a row stop training with a checkpoint of the last good state and a one-line message.
* The health check flags a collapsed run (critic loss stuck at 0, constant generator output) on synthetic
  trajectories, and stays quiet on a healthy one.

Code under test: volo_adapt/training (run.py, module.py, callbacks.py, checkpoint.py) and cli/train.py.
"""

from __future__ import annotations

import csv
import math
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from volo_faults_helpers import REPO, volo_cmd, volo_env, write_two_domains

from volo_adapt.errors import VoloError


@pytest.fixture(scope="module")
def domains(tmp_path_factory) -> tuple[str, str]:
    return write_two_domains(tmp_path_factory.mktemp("domains"), 6)


def _state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _batches(path: Path) -> int:
    return int(_state(path)["volo_train_state"]["batches_done"])


def _wait_for(pred, proc: subprocess.Popen, timeout: float, what: str) -> None:
    t0 = time.monotonic()
    while not pred():
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"volo train exited ({proc.returncode}) before {what}:\n{out[-2000:]}\n{err[-3000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            proc.communicate()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------- kill -9, resume, SIGTERM


def test_kill9_then_resume_auto_then_sigterm(domains, tmp_path):
    """kill -9 mid-training; --resume auto continues from the newest checkpoint (a planted partial file is
    ignored); SIGTERM of the resumed run writes last.ckpt and exits 0 within 60 s."""
    a, b = domains
    run = tmp_path / "run"
    ckdir = run / "checkpoints"
    argv = ["train", "--config", "smoke", "--data-a", a, "--data-b", b, "--out", str(run),
            "--max-steps", "100000", "--max-epochs", "100000",
            "--set", "train.checkpoint_every_n_steps=2", "--set", "train.sample_every_n_steps=0",
            "--set", "train.logger=none", "--set", "train.val_batches=1"]
    env = volo_env()

    # 1) kill -9 once two periodic checkpoints exist (training is in full swing)
    p1 = subprocess.Popen(volo_cmd(*argv), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)
    _wait_for(lambda: (ckdir / "step_0000004.ckpt").exists(), p1, 600, "the second periodic checkpoint")
    p1.send_signal(signal.SIGKILL)
    p1.communicate()
    killed_at = time.time()
    assert p1.returncode == -signal.SIGKILL
    last = ckdir / "last.ckpt"
    n_last = _batches(last)  # complete and loadable weights-only: never half-written
    assert n_last >= 2 and n_last % 2 == 0
    assert (ckdir / f"step_{n_last:07d}.ckpt").is_file()
    # --resume auto continues from the newest readable checkpoint: step_{n_last + 2} when the kill fell between
    # writing it and copying it to last.ckpt (the test waited for a step that never came in that case)
    n = max(_batches(p) for p in ckdir.glob("step_*.ckpt"))
    assert n in (n_last, n_last + 2)
    # what a kill during a checkpoint write leaves behind: a hidden partial file with garbage in it
    stray = ckdir / ".last.999999.partial.ckpt"
    stray.write_bytes(b"PK\x03\x04 half a checkpoint")

    # 2) --resume auto continues from batch n; 3) SIGTERM once it has written a new periodic checkpoint
    p2 = subprocess.Popen(volo_cmd(*argv, "--resume", "auto"), cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    nxt = ckdir / f"step_{n + 2:07d}.ckpt"

    def written_after_resume() -> bool:
        try:
            return nxt.stat().st_mtime > killed_at
        except FileNotFoundError:
            return False

    _wait_for(written_after_resume, p2, 600, "a checkpoint written after the resume")
    p2.send_signal(signal.SIGTERM)
    try:
        out, err = p2.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p2.kill()
        pytest.fail("SIGTERM did not stop volo train within 60 s")
    assert p2.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert f"resuming at batch {n}" in out
    assert "interrupted" in out
    m = _batches(last)
    assert m >= n + 2
    # the resumed run's first periodic checkpoint comes straight after batch n: nothing was redone from 0
    assert _batches(ckdir / f"step_{n + 2:07d}.ckpt") == n + 2
    assert not stray.exists()  # never loaded, and removed at the start of the resumed run
    # the kill -9 may itself have left a partial file (it can fall inside a checkpoint write), so the count may be
    # 2; compared without spaces and table borders, as a long note wraps inside the start-up table's cell
    compact = re.sub(r"[\s\u2502]", "", out)
    said = re.search(r"removed(\d+)partialfile\(s\)acrashleftbehind:", compact)
    assert said is not None and int(said.group(1)) >= 1, out[-3000:]
    assert ".last.999999.partial.ckpt" in compact[said.end():]


# ------------------------------------------------------------------- stop signals to the whole process group


def _group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (from /proc; zombies excluded)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@pytest.mark.parametrize("workers", [0, 2])
def test_stop_signals_to_the_process_group_checkpoint_exit_0_and_resume(domains, tmp_path, workers):
    """``kill -SIG -PGID`` (what ``timeout -s TERM``, ``docker stop`` and SLURM do: DataLoader workers get the
    signal too) with SIGTERM, then SIGINT, then SIGUSR1, each run resuming from the previous one: every run exits 0
    without a traceback, says which signal stopped it, leaves last.ckpt at the batch it stopped after and no process
    of its group behind; the next --resume auto continues from there. The SIGUSR1 run is inside a (fake) SLURM job
    and requeues it with scontrol."""
    a, b = domains
    run = tmp_path / "run"
    ckdir = run / "checkpoints"
    last = ckdir / "last.ckpt"
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    requeued = tmp_path / "scontrol_args"
    (fake_bin / "scontrol").write_text(f'#!/bin/sh\necho "$@" > {requeued}\n')
    (fake_bin / "scontrol").chmod(0o755)
    argv = ["train", "--config", "smoke", "--data-a", a, "--data-b", b, "--out", str(run),
            "--max-steps", "100000", "--max-epochs", "100000", "--resume", "auto",
            "--set", "train.checkpoint_every_n_steps=2", "--set", "train.sample_every_n_steps=0",
            "--set", "train.logger=none", "--set", "train.val_batches=1", "--set", f"data.num_workers={workers}"]
    done = 0
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        env = volo_env()
        if sig == signal.SIGUSR1:
            env.update(SLURM_JOB_ID="4242", PATH=f"{fake_bin}{os.pathsep}{env['PATH']}")
        proc = subprocess.Popen(volo_cmd(*argv), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)  # its own process group, like a job
        def trained_two_more(after: int = done) -> bool:  # a periodic checkpoint at least two batches later
            return any(int(p.stem[5:]) >= after + 2 for p in ckdir.glob("step_*.ckpt"))

        # generous: a safety net for a very busy machine, not a timing assertion
        _wait_for(trained_two_more, proc, 900, f"two batches after {done} before {sig.name}")
        os.killpg(proc.pid, sig)
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"{sig.name} to the group did not stop volo train")
        assert proc.returncode == 0, err[-3000:]
        assert "Traceback" not in err and "Error" not in err, err[-3000:]
        text = " ".join(out.split())
        assert f"interrupted ({sig.name})" in text, out[-2000:]
        if done:
            assert f"resuming at batch {done}" in text
        n = _batches(last)
        assert n >= done + 2 and f"interrupted ({sig.name}): {n} batches" in text
        t0 = time.monotonic()  # DataLoader workers end when their loader shuts down (at once) or by torch's watchdog
        while (left := _group_members(proc.pid)) and time.monotonic() - t0 < 60:
            time.sleep(0.1)
        assert not left, f"processes of the stopped run still alive: {left}"
        done = n
    assert requeued.read_text().split() == ["requeue", "4242"]
    assert "SLURM job 4242 requeued" in text


# ------------------------------------------------------------------------------------------------ bad numbers


class Inject(L.Callback):
    """Corrupt chosen batches (by batch number, counted from 0): NaN inputs, or NaN gradients of one generator.
    Records the weights before each corrupted batch and after it."""

    def __init__(self, nan_input: set[int] = frozenset(), nan_grad: set[int] = frozenset()) -> None:
        self.nan_input, self.nan_grad = set(nan_input), set(nan_grad)
        self.before: dict[int, dict[str, torch.Tensor]] = {}
        self.after: dict[int, dict[str, torch.Tensor]] = {}
        self._hook = None

    @staticmethod
    def _weights(m) -> dict[str, torch.Tensor]:
        """Trained parameters of the four networks (spectral-norm weights as their stored ``original``), by
        state-dict key. Buffers (power-iteration vectors) advance on every forward pass and are left out."""
        nets = ("gen_a2b.", "gen_b2a.", "critic_a.", "critic_b.")
        return {k: v.detach().clone() for k, v in m.named_parameters() if k.startswith(nets)}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        n = pl_module.batches_done
        if n in self.nan_input | self.nan_grad:
            self.before[n] = self._weights(pl_module)
        if n in self.nan_input:
            batch["A"].fill_(float("nan"))
        if n in self.nan_grad:
            p = next(pl_module.gen_a2b.parameters())
            self._hook = p.register_hook(lambda g: torch.full_like(g, float("nan")))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        n = pl_module.batches_done - 1
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if n in self.before:
            self.after[n] = self._weights(pl_module)


def _cfg(domains, *extra: str):
    from volo_adapt.config import load_config

    a, b = domains
    return load_config("smoke", [f"data.data_a=[{a}]", f"data.data_b=[{b}]", "train.sample_every_n_steps=0",
                                 "train.checkpoint_every_n_steps=0", "train.logger=csv", "train.max_epochs=100",
                                 "train.val_batches=1", *extra])


def _changed(before: dict, after: dict, prefix: str) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix))


def test_non_finite_loss_and_gradient_skip_the_step_and_are_logged(domains, tmp_path):
    from volo_adapt.training.run import train

    inject = Inject(nan_input={1}, nan_grad={3})
    res = train(_cfg(domains, "train.max_steps=5"), tmp_path / "run", progress=False, callbacks=[inject])
    assert res.batches_done == 5
    # batch 1: NaN input -> non-finite losses -> both optimiser steps skipped, no weight moved
    b1, a1 = inject.before[1], inject.after[1]
    assert all(torch.equal(b1[k], a1[k]) for k in b1)
    # batch 3: finite losses, NaN gradient in gen_a2b -> the generator step is skipped, the critics still learn
    b3, a3 = inject.before[3], inject.after[3]
    assert not _changed(b3, a3, "gen_a2b.") and not _changed(b3, a3, "gen_b2a.")
    assert _changed(b3, a3, "critic_a.")
    assert res.skipped_steps == 3
    for k, t in res.module.state_dict().items():
        assert torch.isfinite(t.float()).all(), k
    # logged: health/skipped_steps in the CSV log reaches 3
    rows = list(csv.DictReader(open(next((tmp_path / "run" / "logs").rglob("metrics.csv")))))
    skipped = [float(r["health/skipped_steps"]) for r in rows if r.get("health/skipped_steps")]
    assert max(skipped) == 3.0


def test_consecutive_non_finite_steps_stop_with_last_good_checkpoint(domains, tmp_path):
    from volo_adapt.training.run import train

    inject = Inject(nan_input=set(range(2, 100)))
    run = tmp_path / "run"
    with pytest.raises(VoloError) as e:
        train(_cfg(domains, "train.max_steps=50", "train.max_bad_steps=3"), run, progress=False, callbacks=[inject])
    msg = str(e.value)
    last = run / "checkpoints" / "last.ckpt"
    assert "\n" not in msg and "diverged" in msg and str(last) in msg and "3 batches in a row" in msg
    state = _state(last)
    assert state["volo_train_state"]["batches_done"] == 5  # stopped after 2 good + 3 bad batches
    good = inject.before[2]  # the weights after the last good batch
    for k, v in good.items():
        assert torch.equal(state["state_dict"][k], v), k
        assert torch.isfinite(v.float()).all()
    for k, v in state["state_dict"].items():  # buffers too: nothing non-finite was saved
        assert torch.isfinite(v.float()).all(), k


# ------------------------------------------------------------------------------------------------ health check


def _run_health(trajectory: list[dict], **kw) -> list[str]:
    from volo_adapt.training.callbacks import HealthMonitor

    warned: list[str] = []
    mon = HealthMonitor(warmup=20, warn=warned.append, **kw)
    module = SimpleNamespace(batches_done=0, last_stats={}, log_dict=lambda *a, **k: None)
    for stats in trajectory:
        module.batches_done += 1
        module.last_stats = stats
        mon.on_train_batch_end(None, module, None, None, module.batches_done - 1)
    assert warned == mon.messages
    return warned


def _healthy(i: int) -> dict:
    return {"d_loss_A": 0.25 + 0.05 * math.sin(i), "d_loss_B": 0.3, "fake_std_A": 0.2, "fake_std_B": 0.25,
            "fake_batch_spread": 0.1}


def test_health_check_quiet_on_a_healthy_run():
    assert _run_health([_healthy(i) for i in range(300)]) == []


def test_health_check_flags_critic_loss_stuck_at_zero():
    traj = [_healthy(i) for i in range(50)] + [{**_healthy(i), "d_loss_A": 0.0} for i in range(400)]
    msgs = _run_health(traj)
    assert len(msgs) == 1 and "critic_a" in msgs[0] and "stuck" in msgs[0]


def test_health_check_flags_constant_generator_output():
    traj = [_healthy(i) for i in range(30)] + [{**_healthy(i), "fake_std_B": 0.0, "fake_batch_spread": 0.0}
                                               for i in range(10)]
    msgs = _run_health(traj)
    assert len(msgs) == 1 and "collapse" in msgs[0]
    # same output for every input of the batch, even if each image has some texture
    traj = [_healthy(i) for i in range(30)] + [{**_healthy(i), "fake_batch_spread": 1e-6} for i in range(10)]
    assert any("collapse" in m for m in _run_health(traj))


# ------------------------------------------------------------------------------------- corrupt checkpoint, bad data


def test_corrupt_last_checkpoint_is_one_line_naming_it(domains, tmp_path):
    """A last.ckpt damaged outside volo-adapt (disk error, a non-atomic copy): --resume auto refuses it in one line
    naming it, before any training."""
    from volo_adapt.errors import CheckpointError
    from volo_adapt.training.run import train

    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, last)
    last.write_bytes(last.read_bytes()[:700])
    with pytest.raises(CheckpointError) as e:
        train(_cfg(domains, "train.max_steps=1"), tmp_path / "run", resume="auto", progress=False)
    assert str(last) in str(e.value) and "\n" not in str(e.value)


def test_damaged_last_checkpoint_falls_back_to_the_newest_readable_step(domains, tmp_path, caplog):
    """last.ckpt truncated and the newest periodic checkpoint too: --resume auto continues from the newest readable
    one, with one warning line naming the damaged last.ckpt and the file used, and training goes on from there."""
    from volo_adapt.training.run import train

    run = tmp_path / "run"
    first = train(_cfg(domains, "train.max_steps=4", "train.checkpoint_every_n_steps=2"), run, progress=False)
    ckdir = run / "checkpoints"
    assert first.batches_done == 4 and _batches(ckdir / "step_0000004.ckpt") == 4
    for name in ("last.ckpt", "step_0000004.ckpt"):
        data = (ckdir / name).read_bytes()
        (ckdir / name).write_bytes(data[: len(data) // 2])
    with caplog.at_level("WARNING", logger="volo_adapt.training.run"):
        res = train(_cfg(domains, "train.max_steps=5"), run, resume="auto", progress=False)
    assert res.resumed_from == ckdir / "step_0000002.ckpt" and res.batches_done == 5
    (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "\n" not in warning and str(ckdir / "last.ckpt") in warning and str(ckdir / "step_0000002.ckpt") in warning
    assert "not a readable checkpoint" in warning and any("resuming from" in n for n in res.notes)
    assert _batches(ckdir / "last.ckpt") == 5  # last.ckpt is whole again


def _fake_checkpoint(path: Path, batches: int) -> None:
    from volo_adapt.config import RunConfig

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"volo": {"format": 1, "config": RunConfig().to_dict()},
                "volo_train_state": {"batches_done": batches}}, path)


def test_choose_resume_checkpoint_takes_the_newest_readable(tmp_path):
    """--resume auto's choice, case by case, on small stand-in checkpoints (no training)."""
    from volo_adapt.errors import CheckpointError
    from volo_adapt.training.checkpoint import choose_resume_checkpoint

    ck = tmp_path / "checkpoints"
    assert choose_resume_checkpoint(tmp_path).path is None  # nothing yet: start fresh
    for n in (2, 4, 6):
        _fake_checkpoint(ck / f"step_{n:07d}.ckpt", n)
    _fake_checkpoint(ck / "last.ckpt", 6)
    choice = choose_resume_checkpoint(tmp_path)
    assert choice.path == ck / "last.ckpt" and not choice.warnings and choice.note is None
    # killed between writing step_8 and copying it to last.ckpt: step_8 is newer and nothing is lost
    _fake_checkpoint(ck / "step_0000008.ckpt", 8)
    choice = choose_resume_checkpoint(tmp_path)
    assert choice.path == ck / "step_0000008.ckpt" and not choice.warnings and "newer than" in choice.note
    # last.ckpt and the two newest periodic checkpoints truncated: the newest readable one, one warning line
    for name in ("last.ckpt", "step_0000008.ckpt", "step_0000006.ckpt"):
        (ck / name).write_bytes((ck / name).read_bytes()[:300])
    choice = choose_resume_checkpoint(tmp_path)
    assert choice.path == ck / "step_0000004.ckpt"
    (warning,) = choice.warnings
    assert warning.startswith(f"{ck / 'last.ckpt'}: not a readable checkpoint") and "\n" not in warning
    assert f"resuming from {ck / 'step_0000004.ckpt'} instead" in warning and "2 newer" in warning
    for name in ("step_0000004.ckpt", "step_0000002.ckpt"):
        (ck / name).write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no readable checkpoint to resume from"):
        choose_resume_checkpoint(tmp_path)


def test_no_last_checkpoint_but_periodic_ones_resumes_from_the_newest(domains, tmp_path):
    """Killed between writing step_N.ckpt and copying it to last.ckpt (the first time): the step file is used."""
    from volo_adapt.training.run import train

    run = tmp_path / "run"
    train(_cfg(domains, "train.max_steps=2", "train.checkpoint_every_n_steps=2"), run, progress=False)
    (run / "checkpoints" / "last.ckpt").unlink()
    res = train(_cfg(domains, "train.max_steps=3"), run, resume="auto", progress=False)
    assert res.resumed_from == run / "checkpoints" / "step_0000002.ckpt" and res.batches_done == 3


def test_unreadable_training_sample_is_named_before_training(domains, tmp_path):
    import shutil

    from volo_adapt.errors import DataError
    from volo_adapt.training.run import train

    a, b = domains
    bad_a = tmp_path / "A"
    shutil.copytree(a, bad_a)
    bad = bad_a / "rgb" / "3.png"
    bad.write_bytes(bad.read_bytes()[:60])
    with pytest.raises(DataError) as e:
        train(_cfg((str(bad_a), b), "train.max_steps=1"), tmp_path / "run", progress=False)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "run" / "checkpoints").exists()
