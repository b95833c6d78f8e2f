"""Training's side of checkpoints: the Lightning adapter, RNG capture, the resume choice and compatibility check,
and ``VoloGANModule.load_from_checkpoint``.

The format itself (the ``volo`` block and its version rule, the ``state_dict`` key layout, the counters, the one
reader and the atomic writer) lives in :mod:`volo_adapt.checkpoint`; its names used by training are re-exported
here (``CHECKPOINT_FORMAT``, ``read_volo_block``, ``stored_batches``).

``checkpoint["volo_train_state"]`` holds the batch counter, image pools, health counters and the RNG states
(torch CPU/CUDA, numpy, python, see :func:`collect_rng_state`), so that a resumed run continues the same random
stream.

``--resume auto`` (:func:`choose_resume_checkpoint`) takes ``last.ckpt``, or the newest readable
``step_*.ckpt`` when ``last.ckpt`` is damaged.
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

from volo_adapt.checkpoint import (
    CHECKPOINT_FORMAT,
    check_volo_block,
    load_checkpoint_file,
    read_volo_block,
    save_checkpoint_file,
    stored_batches,
    stored_config,
)
from volo_adapt.errors import CheckpointError

__all__ = [
    "CHECKPOINT_FORMAT",
    "MODEL_KEYS_THAT_MUST_MATCH",
    "AtomicCheckpointIO",
    "ResumeChoice",
    "check_resume_compatible",
    "checkpoints_dir",
    "choose_resume_checkpoint",
    "collect_rng_state",
    "last_checkpoint",
    "load_module",
    "periodic_checkpoints",
    "read_volo_block",
    "restore_rng_state",
    "stored_batches",
]

MODEL_KEYS_THAT_MUST_MATCH = (
    "generator", "critic", "channels", "gen_base", "critic_base", "gen_kwargs", "critic_kwargs"
)
"""Resuming refuses a checkpoint whose ``model`` section differs in any of these."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning CheckpointIO writing atomically, with fsync.

    Lightning's own ``_atomic_save`` goes through an fsspec transaction (temp file + move) but never
    fsyncs, so after a power loss the renamed file can be empty. Here the bytes are written by
    :func:`volo_adapt.checkpoint.save_checkpoint_file` (a hidden ``.NAME.PID.partial.ckpt`` sibling, fsynced,
    then renamed over the target): the previous checkpoint stays intact until the new one is complete.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        save_checkpoint_file(checkpoint, path)


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


def load_module(
    cls: type[Any], checkpoint_path: str | os.PathLike, map_location: Any = None, strict: bool = True, **kwargs: Any
) -> Any:
    """``VoloGANModule.load_from_checkpoint``: rebuild ``cls(RunConfig)`` from the checkpoint's stored config and load
    its ``state_dict``, as Lightning's ``load_from_checkpoint`` does.

    The module is returned in train mode (Lightning's convention) on the device its weights were loaded to (see
    ``map_location``). Only the weights are loaded: the training state (counters, image pools, RNG streams) is
    restored by resuming (``volo train --resume``), never by this, so loading leaves the global RNGs alone.

    Args:
        cls: the LightningModule class, built as ``cls(cfg)``.
        checkpoint_path: a ``volo train`` checkpoint (any format from 1 to the current one); read weights-only, with
            the trusted fallback of :func:`volo_adapt.checkpoint.load_checkpoint_file` for ``*.ckpt`` files.
        map_location: as for ``torch.load``; None (Lightning's default) puts each tensor back on the device it was
            saved from when that device is available here, else on the CPU.
        strict: as for ``nn.Module.load_state_dict``.
        kwargs: refused: Lightning would override saved hyper-parameters with them, but the stored config is the
            one source of the architecture.

    Raises:
        CheckpointError: any keyword argument, an unreadable or non-volo file, a newer format, an invalid stored
            config or weights that do not fit it; one line naming the file.
    """
    path = Path(checkpoint_path)
    if kwargs:
        raise CheckpointError(
            f"{path}: load_from_checkpoint takes no {', '.join(sorted(kwargs))} (only map_location and strict): the"
            " networks are rebuilt from the config stored in the checkpoint"
        )
    ckpt = load_checkpoint_file(path, map_location or _saved_device_or_cpu, trusted_pickle_fallback=True)
    cfg = stored_config(path, check_volo_block(path, ckpt)["config"])
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not a volo-adapt checkpoint (no 'state_dict' mapping)")
    module = cls(cfg)
    try:
        module.load_state_dict(state, strict=strict)
    except RuntimeError as e:  # missing/unexpected keys or shape mismatches, one per line in torch's message
        raise CheckpointError(f"{path}: weights do not load into {cls.__name__}: {' '.join(str(e).split())}") from e
    device = next((v.device for v in state.values() if isinstance(v, torch.Tensor)), torch.device("cpu"))
    return module.to(device)


def _saved_device_or_cpu(storage: Any, location: str) -> Any:
    """``torch.load`` map_location: keep a CUDA tensor on its GPU when CUDA is available, else move it to the CPU."""
    if location == "cpu" or (location.startswith("cuda") and torch.cuda.is_available()):
        return None  # torch's default: restore to the saved location
    return storage.cpu()


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
    last_ok, last_batches = False, -1  # a readable last.ckpt without a batch counter counts as the oldest
    if last.exists():
        try:
            read_volo_block(last)
            last_ok, last_batches = True, stored_batches(last)
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
        if last_ok:
            return ResumeChoice(step, note=f"{step} is newer than {last} (batch {last_batches}): resuming from it")
        skipped = f" (also unreadable: {len(problems) - 1} newer step checkpoint(s))" if len(problems) > 1 else ""
        return ResumeChoice(step, warnings=[f"{problems[0]}; resuming from {step} instead{skipped}"])
    if last_ok:
        return ResumeChoice(last)
    raise CheckpointError(
        f"{last}: no readable checkpoint to resume from ({'; '.join(problems)}); "
        "start a new run, or pass --resume PATH to a checkpoint kept elsewhere"
    )
