"""Checkpoint format, atomic checkpoint IO, RNG capture and the resume compatibility check.

A volo-adapt checkpoint is a normal Lightning checkpoint (``state_dict``, ``optimizer_states``,
``lr_schedulers``, ``loops``, ``callbacks``...) plus:

* ``checkpoint["volo"] = {"format": 1, "volo_version": str, "config": RunConfig.to_dict()}``; this is what
  ``volo translate`` / ``export`` read to rebuild the generators. ``state_dict`` keys start with
  ``gen_a2b.``, ``gen_b2a.``, ``critic_a.``, ``critic_b.`` and, with EMA, ``gen_a2b_ema.``, ``gen_b2a_ema.``.
* ``checkpoint["volo_train_state"]``: batch counter, image pools, health counters and the RNG states
  (torch CPU/CUDA, numpy, python), so that a resumed run continues the same random stream.

``--resume auto`` (:func:`choose_resume_checkpoint`) takes ``last.ckpt``, or the newest readable
``step_*.ckpt`` when ``last.ckpt`` is damaged.

Everything stored is loadable with ``torch.load(weights_only=True)`` (tensors, numbers, strings, lists).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from volo_adapt.atomic import atomic_path
from volo_adapt.errors import CheckpointError

CHECKPOINT_FORMAT = 1
"""Version of the ``checkpoint["volo"]`` block; bump when its meaning changes."""

MODEL_KEYS_THAT_MUST_MATCH = (
    "generator", "critic", "channels", "gen_base", "critic_base", "gen_kwargs", "critic_kwargs"
)
"""Resuming refuses a checkpoint whose ``model`` section differs in any of these."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO writing through :func:`volo_adapt.atomic.atomic_path`.

    Lightning's own ``_atomic_save`` goes through an fsspec transaction (temp file + move) but never
    fsyncs, so after a power loss the renamed file can be empty. Here the bytes are written to a hidden
    ``.NAME.PID.partial.ckpt`` sibling, fsynced, then renamed over the target: the previous checkpoint
    stays intact until the new one is complete.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            torch.save(checkpoint, f)


def collect_rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU, CUDA if initialised, numpy, python) in a weights-only-safe form."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]),
                  float(np_state[4])],
        "python": list(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`collect_rng_state` (missing entries are left alone)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        states = state["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)


def read_volo_block(path: str | os.PathLike) -> dict[str, Any]:
    """Load a checkpoint's ``volo`` block (config, versions); CheckpointError if it is not a volo checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # torch raises many types for corrupt/foreign files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint ({first})") from e
    block = ckpt.get("volo") if isinstance(ckpt, dict) else None
    if not isinstance(block, dict) or "config" not in block:
        raise CheckpointError(f"{path}: not a volo-adapt training checkpoint (no 'volo' block)")
    if block.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {block.get('format')} is not supported "
            f"(this volo-adapt reads {CHECKPOINT_FORMAT})"
        )
    return block


def check_resume_compatible(path: str | os.PathLike, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """Raise CheckpointError naming every ``model.*`` key where the checkpoint and the run config differ.

    Returns:
        The checkpoint's stored run config (a ``RunConfig.to_dict()`` dict).
    """
    block = read_volo_block(path)
    saved = block["config"].get("model", {})
    diffs = [
        f"model.{k}: checkpoint {saved.get(k)!r} vs config {model_cfg.get(k)!r}"
        for k in MODEL_KEYS_THAT_MUST_MATCH
        if saved.get(k) != model_cfg.get(k)
    ]
    if diffs:
        raise CheckpointError(f"{path}: was trained with a different model config ({'; '.join(diffs)})")
    return block["config"]


def checkpoints_dir(run_dir: str | os.PathLike) -> Path:
    """``RUN_DIR/checkpoints``."""
    return Path(run_dir) / "checkpoints"


def last_checkpoint(run_dir: str | os.PathLike) -> Path:
    """``RUN_DIR/checkpoints/last.ckpt`` (may not exist)."""
    return checkpoints_dir(run_dir) / "last.ckpt"


def _step_number(path: Path) -> int | None:
    digits = path.stem[len("step_"):]
    return int(digits) if path.stem.startswith("step_") and digits.isdigit() else None


def periodic_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """``RUN_DIR/checkpoints/step_NNNNNNN.ckpt`` files, newest (highest batch) first."""
    folder = checkpoints_dir(run_dir)
    found = [(n, p) for p in (folder.glob("step_*.ckpt") if folder.is_dir() else [])
             if (n := _step_number(p)) is not None and p.is_file()]
    return [p for _, p in sorted(found, reverse=True)]


def stored_batches(path: Path) -> int:
    """The batch counter stored in a checkpoint that :func:`read_volo_block` accepted (-1 if it has none)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        return int(ckpt["volo_train_state"]["batches_done"])
    except Exception:  # read_volo_block accepted the file; a missing counter only means "oldest"
        return -1


@dataclass
class ResumeChoice:
    """What ``--resume auto`` continues from.

    Attributes:
        path: the checkpoint to load, or None to start fresh.
        warnings: one-line warnings to show (a damaged ``last.ckpt`` and the file used instead).
        note: a one-line remark (starting fresh; a periodic checkpoint newer than ``last.ckpt``).
    """

    path: Path | None
    warnings: list[str] = field(default_factory=list)
    note: str | None = None


def choose_resume_checkpoint(run_dir: str | os.PathLike) -> ResumeChoice:
    """The newest readable checkpoint of a run: normally ``last.ckpt``.

    * ``last.ckpt`` unreadable or missing: the newest readable ``step_*.ckpt``, with a warning naming both files
      (a damaged ``last.ckpt`` then costs the batches since that periodic checkpoint, not the run).
    * a ``step_N.ckpt`` newer than ``last.ckpt``: the process was killed between writing it and copying it to
      ``last.ckpt``; the step file is used (nothing is lost) and a note says so.

    "Readable" means :func:`read_volo_block` succeeds: the zip directory, the pickle and the ``volo`` block load
    weights-only (tensor bytes are memory-mapped, not read), which catches truncated and foreign files.

    Raises:
        CheckpointError: checkpoints exist but none is readable (starting fresh would silently throw the run
            away).
    """
    last = last_checkpoint(run_dir)
    periodic = periodic_checkpoints(run_dir)
    if not last.exists() and not periodic:
        return ResumeChoice(None, note=f"--resume auto: no checkpoint at {last}, starting fresh")
    problems: list[str] = []
    last_batches = -1
    if last.exists():
        try:
            read_volo_block(last)
            last_batches = stored_batches(last)
        except CheckpointError as e:
            problems.append(str(e))
    else:
        problems.append(f"{last}: missing")
    for step in periodic:
        if (_step_number(step) or 0) <= last_batches:
            break  # last.ckpt is at least as new as every remaining periodic checkpoint
        try:
            read_volo_block(step)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        if last_batches >= 0:
            return ResumeChoice(step, note=f"{step} is newer than {last} (batch {last_batches}): resuming from it")
        skipped = f" (also unreadable: {len(problems) - 1} newer step checkpoint(s))" if len(problems) > 1 else ""
        return ResumeChoice(step, warnings=[f"{problems[0]}; resuming from {step} instead{skipped}"])
    if last_batches >= 0:
        return ResumeChoice(last)
    raise CheckpointError(
        f"{last}: no readable checkpoint to resume from ({'; '.join(problems)}); "
        "start a new run, or pass --resume PATH to a checkpoint kept elsewhere"
    )
