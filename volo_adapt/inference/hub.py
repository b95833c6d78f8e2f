"""One generator in the Hugging Face Hub model layout: a folder that ``huggingface-cli upload`` can publish as is.

The folder (``volo export --format hub``, :func:`write_hub_folder`) holds

* ``model.safetensors``: the generator's ``state_dict`` (keys as the module has them, tensors on the CPU);
* ``config.json``: ``format`` :data:`HUB_FORMAT`, ``format_version`` :data:`HUB_VERSION`, ``volo_version``, the
  run's ``config`` (``RunConfig.to_dict()``, what rebuilds the generator), ``direction`` (``a2b`` | ``b2a``),
  ``weights`` (``ema`` | ``raw``), ``codec`` (``near``/``far`` metres, ``depth_gap``, ``depth_scale``, ``channels``)
  and ``normalisation`` (the input/output contract of :mod:`volo_adapt.inference.metadata`);
* ``README.md``: the model card (:mod:`volo_adapt.inference.model_card`).

:func:`load_hub_generator` reads such a folder, or a Hub id through ``huggingface_hub.snapshot_download`` (which
works offline from its cache with ``HF_HUB_OFFLINE=1``), and returns the :class:`LoadedGenerator` that
:func:`~volo_adapt.inference.loading.load_generator` returns. It never unpickles anything: safetensors and JSON only.
Both need the optional ``hub`` extra (``pip install 'volo-adapt[hub]'``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from volo_adapt.atomic import atomic_path, atomic_write_bytes, temp_path_for
from volo_adapt.checkpoint import check_version, stored_config
from volo_adapt.directions import parse_direction
from volo_adapt.errors import CheckpointError, OptionError, VoloError, first_line
from volo_adapt.inference.loading import LoadedGenerator, _build_and_load, _finish
from volo_adapt.inference.metadata import normalisation_metadata

HUB_FORMAT = "volo-generator-hub"
"""``format`` value of a Hub-layout ``config.json``."""
HUB_VERSION = 1
"""Version of the Hub layout this release writes and the newest it reads."""
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
HUB_EXTRA = "pip install 'volo-adapt[hub]'"
"""How to install what this module needs (safetensors, huggingface_hub)."""
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
"""What a Hub id (``name`` or ``org/name``) looks like; anything else that does not exist is a missing folder."""


def require_hub_extra(what: str, module: str = "safetensors") -> ModuleType:
    """Import ``module`` (``safetensors.torch``, ``huggingface_hub``) or fail in one line naming the extra.

    Raises:
        VoloError: ``"{what} needs the optional 'hub' extra (...): pip install 'volo-adapt[hub]'"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        top = module.split(".")[0]
        raise VoloError(f"{what} needs the optional 'hub' extra ({top} is not installed): {HUB_EXTRA}") from e


def hub_config(loaded: LoadedGenerator) -> dict[str, Any]:
    """The ``config.json`` of ``loaded`` (JSON-serialisable; see the module docstring)."""
    from volo_adapt import __version__

    cfg = loaded.config
    return {
        "format": HUB_FORMAT,
        "format_version": HUB_VERSION,
        "volo_version": __version__,
        "library_name": "volo-adapt",
        "generator": cfg.model.generator,
        "direction": loaded.direction,
        "weights": loaded.weights,
        "source": Path(loaded.source).name,
        "codec": {
            "near": loaded.codec.near,
            "far": loaded.codec.far,
            "depth_gap": loaded.codec.gap,
            "depth_scale": cfg.data.depth_scale,
            "channels": cfg.model.channels,
        },
        "size_multiple": loaded.size_multiple,
        "requires_square": loaded.requires_square,
        "min_size": loaded.min_size,
        "normalisation": normalisation_metadata(loaded),
        "config": cfg.to_dict(),
    }


def write_hub_folder(
    loaded: LoadedGenerator,
    out_dir: str | Path,
    *,
    eval_report: dict[str, Any] | None = None,
    license: str = "apache-2.0",
    force: bool = False,
) -> Path:
    """Write ``loaded`` as a Hub-layout folder (``model.safetensors``, ``config.json``, ``README.md``).

    A new (or empty) ``out_dir`` is written as a hidden sibling and renamed into place, so it appears complete or
    not at all. With ``force``, the three files of a non-empty folder are replaced one by one, each atomically,
    ``config.json`` removed first and written after the weights (an interrupted write leaves a folder that fails to
    load with "no config.json", never new weights under an old config); other files there are left alone.

    Args:
        loaded: the generator (any device). out_dir: the folder. eval_report: a ``volo eval`` report dict
            (:func:`~volo_adapt.inference.model_card.read_eval_report`) for the model card, or None.
        license: the Hub licence id written in the card. force: write into a non-empty folder.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        OptionError: ``out_dir`` is a file, or not empty without ``force`` (option ``force``).
        VoloError: the extra is not installed, or a file cannot be written.
    """
    from volo_adapt.inference.model_card import model_card

    st = require_hub_extra("the hub format", "safetensors.torch")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OptionError("out_dir", "is a file; the hub format writes a folder", value=str(out))
    existing = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if existing and not force:
        raise OptionError("force", f"needed to write into {out}, which is not empty (holds {_few(existing)})")
    card = model_card(hub_config(loaded), eval_report, name=out.resolve().name, license=license)
    staging = temp_path_for(out)
    try:
        if existing:
            _write_files(st, loaded, out, card)
            return out
        shutil.rmtree(staging, ignore_errors=True)
        _write_files(st, loaded, staging, card)
        with contextlib.suppress(FileNotFoundError):
            out.rmdir()  # an empty folder: replaced by the complete one
        os.replace(staging, out)
    except OSError as e:
        raise VoloError(f"{out}: cannot write ({e.strerror or e})") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_files(st: ModuleType, loaded: LoadedGenerator, folder: Path, card: str) -> None:
    """Weights, then ``config.json`` (removed first), then the card; each file atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).unlink(missing_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in loaded.module.state_dict().items()}
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        st.save_file(tensors, str(tmp), metadata={"format": "pt"})
    config = json.dumps(hub_config(loaded), indent=2, allow_nan=False)
    atomic_write_bytes(folder / CONFIG_FILE, (config + "\n").encode())
    atomic_write_bytes(folder / CARD_FILE, card.encode())


def _few(names: list[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f", ... ({len(names)} in all)" if len(names) > n else "")


# ---------------------------------------------------------------------------------------------------- reading


def load_hub_generator(
    folder_or_id: str | Path, map_location: str | torch.device = "cpu", revision: str | None = None
) -> LoadedGenerator:
    """Load the generator of a Hub-layout folder, or of a Hub model id (``org/name``).

    Nothing is unpickled: the weights are read with safetensors and the config is JSON.

    Args:
        folder_or_id: a folder written by ``volo export --format hub``, or a Hub id resolved through
            ``huggingface_hub.snapshot_download`` (its cache; ``HF_HUB_OFFLINE=1`` uses the cache only).
        map_location: the device the generator is placed on.
        revision: the Hub revision (branch, tag or commit; default ``main``); ignored for a local folder.

    Returns:
        The generator in eval mode (``kind="hub"``, ``source`` the folder it was read from).

    Raises:
        CheckpointError: a missing folder or file, a ``config.json`` of another format or a newer version, a stored
            config that is invalid, or weights that do not fit its generator; one line.
        VoloError: the ``hub`` extra is not installed.
    """
    st = require_hub_extra("loading a Hub-layout model", "safetensors.torch")
    folder = resolve_hub_folder(folder_or_id, revision)
    meta = read_hub_config(folder)
    path = folder / CONFIG_FILE
    cfg = stored_config(path, meta.get("config"))
    try:
        direction = parse_direction(str(meta.get("direction")))
    except VoloError as e:
        raise CheckpointError(f"{path}: {first_line(e)}") from e
    weights = meta.get("weights")
    if weights not in ("ema", "raw"):
        raise CheckpointError(f"{path}: 'weights' is {weights!r}, expected 'ema' or 'raw'")
    state = _read_weights(st, folder / WEIGHTS_FILE)
    module = _build_and_load(folder / WEIGHTS_FILE, cfg, state, direction)
    loaded = _finish(module, cfg, direction, folder, weights, "hub")
    loaded.module.to(map_location)
    return loaded


def resolve_hub_folder(folder_or_id: str | Path, revision: str | None = None) -> Path:
    """The local folder of ``folder_or_id``: itself when it exists, else the Hub snapshot of that id.

    Raises:
        CheckpointError: a file instead of a folder, a path that does not exist (and is no Hub id), or an id the
            Hub (or, offline, its cache) does not have.
    """
    path = Path(folder_or_id)
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(
            f"{path}: is a file; expected a Hub-layout folder ({CONFIG_FILE} + {WEIGHTS_FILE}) or a Hub id"
            " (training checkpoints and .pt exports load with load_generator / Translator.from_checkpoint)"
        )
    text = str(folder_or_id)
    if isinstance(folder_or_id, Path) or not _HUB_ID.match(text) or ".." in text:
        raise CheckpointError(f"{text}: no such folder")
    hub = require_hub_extra(f"loading the Hub id {text!r}", "huggingface_hub")
    try:
        snapshot = hub.snapshot_download(repo_id=text, revision=revision, allow_patterns=[CONFIG_FILE, WEIGHTS_FILE])
    except Exception as e:  # noqa: BLE001 - offline without a cache, unknown repo, network: all one-line errors
        raise CheckpointError(
            f"{text}: no such folder, and the Hugging Face Hub cannot provide it ({type(e).__name__}: {first_line(e)})"
        ) from e
    return Path(snapshot)


def read_hub_config(folder: Path) -> dict[str, Any]:
    """``folder/config.json``, checked: this format, a version from 1 to :data:`HUB_VERSION`.

    Raises:
        CheckpointError: missing or unreadable, not JSON, another format, a missing or newer version.
    """
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{folder}: no {CONFIG_FILE} (not a volo-adapt Hub-layout model folder)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable JSON file ({first_line(e)})") from e
    fmt = meta.get("format") if isinstance(meta, dict) else None
    if fmt != HUB_FORMAT:
        raise CheckpointError(f"{path}: not a volo-adapt model config (format {fmt!r}, expected {HUB_FORMAT!r})")
    version = meta.get("format_version")
    check_version(path, version, HUB_VERSION, what="format_version", garbled=f"unknown format_version {version!r}",
                  writer=meta.get("volo_version", "?"))
    return meta


def _read_weights(st: ModuleType, path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, on the CPU (no pickle involved)."""
    if not path.is_file():
        raise CheckpointError(f"{path.parent}: no {WEIGHTS_FILE} (the generator's weights)")
    try:
        return st.load_file(str(path), device="cpu")
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types for corrupt files
        raise CheckpointError(f"{path}: not a readable safetensors file ({first_line(e)})") from e
