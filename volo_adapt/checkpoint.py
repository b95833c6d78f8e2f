"""The volo-adapt checkpoint format, in one place: its versions, its one reader and writer, its key layout.

Two file kinds:

* a **training checkpoint** (``*.ckpt``, written by ``volo train`` through Lightning): Lightning's own entries
  (``state_dict``, ``optimizer_states``, ``lr_schedulers``, ``loops``, ``callbacks``, ``global_step``...) plus

  - ``checkpoint["volo"]`` (:func:`volo_block`) = ``{"format": int, "volo_version": str, "config":
    RunConfig.to_dict()}``, which is what inference and ``VoloGANModule.load_from_checkpoint`` rebuild the
    networks from;
  - ``checkpoint["volo_train_state"]``: ``batches_done`` (:func:`stored_batches`), image pools, health counters
    and RNG states, for resuming;
  - ``state_dict`` keys ``<network>.<parameter>``, one network per name of :func:`network_name`: ``gen_a2b``,
    ``gen_b2a``, ``critic_a``, ``critic_b`` and, with EMA (``optim.ema_decay > 0``), ``gen_a2b_ema``,
    ``gen_b2a_ema`` (:func:`network_state` extracts one).

* an **exported generator** (``volo export --format pt``): ``{"format": EXPORT_FORMAT, "version": int, "config":
  ..., "direction": ..., "weights": "ema" | "raw", "state_dict": ..., "normalisation": ...}``.

Version rule (:func:`check_volo_block`, :func:`check_export_version`), the same for training resume and inference:
versions 1 up to this release's are read; a newer one is refused with "upgrade volo-adapt"; a missing or garbled
one means the file is not a volo-adapt checkpoint.

:func:`load_checkpoint_file` is the one place volo-adapt unpickles a file; see its docstring for the safety rules.
Everything volo-adapt stores loads weights-only (tensors, numbers, strings, lists, dicts).
"""

from __future__ import annotations

import os
import pickle
import pickletools
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from volo_adapt.atomic import atomic_path
from volo_adapt.config import RunConfig
from volo_adapt.directions import Direction, Domain
from volo_adapt.errors import CheckpointError, ConfigError, first_line

CHECKPOINT_FORMAT = 1
"""Version of the training checkpoint's ``volo`` block this release writes and the newest it reads; bump when its
meaning changes (older versions stay readable)."""
VOLO_KEY = "volo"
"""Checkpoint entry holding the format, the writer's version and the run config."""
TRAIN_STATE_KEY = "volo_train_state"
"""Checkpoint entry holding the training state (``batches_done``, pools, RNG states)."""
EXPORT_FORMAT = "volo-generator"
"""``format`` value of an exported generator file."""
EXPORT_VERSION = 1
"""Version of the exported-generator dict this release writes and the newest it reads."""
EMA_SUFFIX = "_ema"
"""Suffix of an EMA generator's name (``gen_a2b_ema``)."""


# ---------------------------------------------------------------------------------------------------- reading


def load_checkpoint_file(
    path: str | os.PathLike, map_location: Any = "cpu", *, trusted_pickle_fallback: bool = False
) -> Any:
    """Unpickle a checkpoint or exported file: the one ``torch.load`` of volo-adapt.

    The file is read with ``weights_only=True`` (no code runs while unpickling) and memory-mapped (tensor bytes are
    read from disk only when used). A Lightning checkpoint may also pickle non-tensor objects (hyper-parameter
    containers) that ``weights_only`` refuses. Such a file is refused, unless ``trusted_pickle_fallback`` is set,
    it is named ``*.ckpt`` and a static scan of its pickle stream (nothing executed) shows the volo-adapt entry:
    it is then loaded with ``weights_only=False``, which trusts its source like any pickle.

    Args:
        path: the file.
        map_location: where tensors go, as for ``torch.load`` (``"cpu"``, ``"cuda"``, a device, a dict, a callable).
        trusted_pickle_fallback: allow the fallback above (inference and ``load_from_checkpoint``; never resume).

    Returns:
        Whatever the file holds (a dict for every file volo-adapt writes).

    Raises:
        CheckpointError: missing file, not a torch zip archive, unreadable, or refused; one line naming ``path``.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    if not zipfile.is_zipfile(path):  # torch's format is a zip archive; this project never wrote the legacy one
        raise CheckpointError(f"{path}: not a readable checkpoint (not a PyTorch checkpoint: not a zip archive)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        _refuse_pickled_objects(path, trusted_pickle_fallback, e)
    except Exception as e:  # noqa: BLE001 - torch raises many types for corrupt files; all are one-line errors
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line(e)})") from e
    try:  # a volo-adapt training checkpoint that also pickles Lightning objects, trusted as documented above
        return torch.load(path, map_location=map_location, weights_only=False, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file, reported in one line
        raise CheckpointError(f"{path}: not a readable checkpoint ({first_line(e)})") from e


def _refuse_pickled_objects(path: Path, trusted_pickle_fallback: bool, e: Exception) -> None:
    """Raise unless the weights-only refusal ``e`` of ``path`` may fall back (see :func:`load_checkpoint_file`)."""
    if not trusted_pickle_fallback:
        raise CheckpointError(
            f"{path}: refused: the file pickles non-tensor objects ({first_line(e)}); volo-adapt reads only"
            " plain types and tensors here"
        ) from e
    if path.suffix.lower() != ".ckpt":  # exported generators (.pt) never need the fallback: refuse, run nothing
        raise CheckpointError(
            f"{path}: refused: the file pickles non-tensor objects and only a training checkpoint (.ckpt) from"
            " a source you trust may do that (an exported generator holds plain types and tensors only)"
        ) from e
    if not _pickle_mentions_volo(path):
        raise CheckpointError(
            f"{path}: not a volo-adapt checkpoint (it pickles non-tensor objects and has no 'volo' entry)"
        ) from e


def _pickle_mentions_volo(path: Path) -> bool:
    """Statically scan the checkpoint's pickle stream (nothing executed) for the ``volo`` checkpoint entry."""
    try:
        with zipfile.ZipFile(path) as zf:
            name = next((n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if name is None:
                return False
            data = zf.read(name)
        strings = set()
        for op, arg, _ in pickletools.genops(data):
            if isinstance(arg, str) and op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.add(arg)
        return {VOLO_KEY, "volo_version", "state_dict"} <= strings
    except Exception:  # noqa: BLE001 - a file we cannot scan is simply not trusted
        return False


def check_volo_block(path: str | os.PathLike, ckpt: Any) -> dict[str, Any]:
    """Apply the version rule to a loaded training checkpoint and return its ``volo`` block.

    Formats 1 to :data:`CHECKPOINT_FORMAT` are accepted; the block's ``config`` must be a mapping.

    Raises:
        CheckpointError: "not a volo-adapt checkpoint" (not a dict, no ``volo`` entry, a missing or garbled format
            or config) or "checkpoint format N is newer than this volo-adapt reads (M); upgrade volo-adapt".
    """
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a volo-adapt checkpoint (holds a {type(ckpt).__name__}, expected a dict)")
    block = ckpt.get(VOLO_KEY)
    if block is None:
        raise CheckpointError(
            f"{path}: not a volo-adapt checkpoint (a checkpoint without the 'volo' entry: not written by volo train,"
            " its networks cannot be rebuilt)"
        )
    fmt = block.get("format") if isinstance(block, dict) else None
    check_version(
        path, fmt, CHECKPOINT_FORMAT, what="checkpoint format",
        garbled=f"not a volo-adapt checkpoint (its 'volo' entry has format {fmt!r}; volo-adapt writes formats 1 to"
        f" {CHECKPOINT_FORMAT})", writer=block.get("volo_version", "?"),
    )
    if not isinstance(block.get("config"), dict):
        raise CheckpointError(f"{path}: not a volo-adapt checkpoint (its 'volo' entry has no 'config' mapping)")
    return block


def read_volo_block(path: str | os.PathLike) -> dict[str, Any]:
    """Load a training checkpoint weights-only (no fallback) and return its checked ``volo`` block.

    Tensor bytes are memory-mapped, not read, so this is a cheap readability check of the zip directory, the pickle
    and the block. Raises CheckpointError as :func:`load_checkpoint_file` and :func:`check_volo_block` do.
    """
    return check_volo_block(path, load_checkpoint_file(path))


def check_export_version(path: str | os.PathLike, obj: dict[str, Any]) -> int:
    """The version of an exported generator dict (``obj["format"] == EXPORT_FORMAT``), 1 to :data:`EXPORT_VERSION`.

    Raises:
        CheckpointError: a missing or garbled version, or one newer than this release reads.
    """
    version = obj.get("version")
    return check_version(path, version, EXPORT_VERSION, what="exported generator version",
                         garbled=f"exported generator has an unknown version {version!r}",
                         writer=obj.get("volo_version"))


def check_version(path: str | os.PathLike, version: Any, newest: int, *, what: str, garbled: str,
                  writer: str | None = None) -> int:
    """The one version rule of every file volo-adapt writes (training checkpoints, exported generators, hub
    folders): versions 1 to ``newest`` are read; anything else is refused with one line.

    Args:
        path: the file or folder, named in the message.
        version: the stored version (an int >= 1 when the file is ours).
        newest: the newest version this release reads.
        what: how the message names the version (``"checkpoint format"``).
        garbled: the message for a missing, non-integer or < 1 version.
        writer: the volo-adapt release that wrote the file, when it says.

    Returns:
        ``version``.

    Raises:
        CheckpointError: ``PATH: <garbled>``, or ``PATH: <what> N is newer than this volo-adapt reads (M); upgrade
            volo-adapt (the file was written by volo-adapt X)``.
    """
    if type(version) is not int or version < 1:
        raise CheckpointError(f"{path}: {garbled}")
    if version > newest:
        by = f" (the file was written by volo-adapt {writer})" if writer else ""
        raise CheckpointError(f"{path}: {what} {version} is newer than this volo-adapt reads ({newest}); upgrade"
                              f" volo-adapt{by}")
    return version


def stored_config(path: str | os.PathLike, d: Any) -> RunConfig:
    """The run config stored in a checkpoint (``volo["config"]``) or an exported generator (``config``).

    Raises:
        CheckpointError: not a mapping, or not a valid config of this release (unknown key, other config version).
    """
    if not isinstance(d, dict):
        raise CheckpointError(f"{path}: the stored config is not a mapping")
    try:
        return RunConfig.from_dict(d, where=f"{path} (stored config)")
    except ConfigError as e:
        raise CheckpointError(f"{path}: stored config is invalid: {e}") from e


# ---------------------------------------------------------------------------------------------------- counters


def stored_batches(path: str | os.PathLike) -> int:
    """``volo_train_state["batches_done"]`` of a checkpoint: training batches completed, or -1 if it has none or
    cannot be read (the counter only orders checkpoints; :func:`read_volo_block` reports real errors)."""
    try:
        return int(load_checkpoint_file(path)[TRAIN_STATE_KEY]["batches_done"])
    except Exception:  # noqa: BLE001 - a missing counter only means "oldest"
        return -1


def stored_global_step(path: str | os.PathLike) -> int | None:
    """Lightning's ``global_step`` of a checkpoint (optimiser steps: two per batch), or None if it has none or
    cannot be read (provenance only)."""
    try:
        step = load_checkpoint_file(path).get("global_step")
    except Exception:  # noqa: BLE001 - the step is provenance only; the loaders report real errors
        return None
    return step if type(step) is int else None


# ---------------------------------------------------------------------------------------------------- key layout


def network_name(net: Direction | Domain, ema: bool = False) -> str:
    """Name of one network in the module and in ``state_dict`` keys.

    Args:
        net: a :class:`Direction` for its generator (``gen_a2b``), a :class:`Domain` for its critic (``critic_a``).
        ema: the generator's EMA copy (``gen_a2b_ema``); critics have none.
    """
    if isinstance(net, Direction):
        return net.generator + (EMA_SUFFIX if ema else "")
    if isinstance(net, Domain):
        if ema:
            raise ValueError(f"critic {net.critic} has no EMA copy")
        return net.critic
    raise TypeError(f"expected a Direction or a Domain, got {net!r}")


def network_state(state_dict: Mapping[str, Any], net: Direction | Domain, ema: bool = False) -> dict[str, Any]:
    """One network's weights out of a checkpoint's ``state_dict``, keys without the network prefix (as the network's
    own ``state_dict()`` has them); empty when the checkpoint does not hold that network. See :func:`network_name`."""
    prefix = network_name(net, ema) + "."
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def stored_networks(state_dict: Mapping[str, Any]) -> list[str]:
    """Sorted names of the networks a ``state_dict`` holds (``["critic_a", ..., "gen_b2a_ema"]``)."""
    return sorted({str(k).split(".", 1)[0] for k in state_dict})


# ---------------------------------------------------------------------------------------------------- writing


def volo_block(cfg: RunConfig) -> dict[str, Any]:
    """The ``checkpoint["volo"]`` block a training checkpoint carries: this format, this release, ``cfg``."""
    from volo_adapt import __version__

    return {"format": CHECKPOINT_FORMAT, "volo_version": __version__, "config": cfg.to_dict()}


def save_checkpoint_file(obj: dict[str, Any], path: str | os.PathLike) -> None:
    """``torch.save`` ``obj`` to ``path`` atomically (see :func:`volo_adapt.atomic.atomic_path`).

    The bytes go to a hidden ``.STEM.PID.partial.SUFFIX`` sibling, are fsynced, then renamed over ``path``: the previous
    file stays intact until the new one is complete (a power loss never leaves an empty checkpoint).

    Raises:
        VoloError: the file cannot be written (full disk, permissions), naming ``path``.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)
