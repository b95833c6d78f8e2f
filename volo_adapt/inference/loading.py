"""Load one trained generator for inference, from a training checkpoint or an exported generator file.

Two file kinds are read (their layout, version rule and safety rules are :mod:`volo_adapt.checkpoint`'s):

* a training checkpoint written by ``volo train`` (``*.ckpt``): the generator of one direction, EMA or raw, out
  of its ``state_dict``, rebuilt from the config of its ``volo`` entry;
* an exported generator (``volo export --format pt``): one generator, its config and its normalisation contract.

Files are opened weights-only and memory-mapped by :func:`volo_adapt.checkpoint.load_checkpoint_file` (so only
the tensors of the one generator that is needed are read from disk), with its trusted fallback for a ``*.ckpt``
training checkpoint that also pickles Lightning objects: loading such a file trusts its source, like any pickle;
only load checkpoints you produced or trust. Exported ``pt`` files never need it and are refused.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from volo_adapt.checkpoint import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    VOLO_KEY,
    check_export_version,
    check_volo_block,
    load_checkpoint_file,
    network_name,
    network_state,
    stored_config,
    stored_networks,
)
from volo_adapt.config import RunConfig
from volo_adapt.data.sample import DepthCodec
from volo_adapt.directions import Direction, parse_direction
from volo_adapt.errors import CheckpointError, ConfigError, first_line


@dataclass
class LoadedGenerator:
    """One generator ready for inference.

    Attributes:
        module: the generator, in eval mode, gradients off. Input ``(B, C, H, W)`` float in ``[0, 1]`` (C = 4:
            RGB then codec-encoded depth, all channels 0 where depth is invalid); output the same shape in ``[0, 1]``.
            H and W must be multiples of ``size_multiple`` (see :func:`volo_adapt.inference.engine.translate_tensors`,
            which pads and crops for you).
        codec: the depth codec of the training run (metres <-> 4th channel).
        config: the training run's full configuration.
        direction: ``"a2b"`` or ``"b2a"``.
        size_multiple: H and W of the network input must be multiples of this.
        source: the file the weights came from.
        weights: ``"ema"`` (exponential moving average of the weights) or ``"raw"`` (the trained weights).
        kind: ``"checkpoint"`` (training checkpoint) or ``"export"`` (exported ``pt`` generator).
    """

    module: nn.Module
    codec: DepthCodec
    config: RunConfig
    direction: str
    size_multiple: int
    source: Path
    weights: str = "raw"
    kind: str = "checkpoint"

    @property
    def requires_square(self) -> bool:
        """True when the architecture only accepts ``H == W`` (the VoloGAN attention transposes H and W)."""
        return bool(getattr(self.module, "requires_square", False))

    @property
    def min_size(self) -> int:
        """Smallest H and W the architecture accepts, pixels."""
        return int(getattr(self.module, "min_size", self.size_multiple))


def load_generator(
    path: str | Path,
    direction: str | Direction = "a2b",
    use_ema: bool = True,
    map_location: str | torch.device = "cpu",
) -> LoadedGenerator:
    """Load the generator of one direction from a training checkpoint or an exported ``pt`` generator.

    Args:
        path: a ``volo train`` checkpoint (``.ckpt``) or a ``volo export --format pt`` file.
        direction: ``"a2b"`` (A -> B, synthetic -> sensor) or ``"b2a"`` (any case), or a :class:`Direction`.
        use_ema: use the EMA weights when the run kept them (``optim.ema_decay > 0``); ``False`` always uses the
            raw weights. Exported files hold one set of weights chosen at export time, so this is ignored for them.
        map_location: the device the weights are loaded to and the generator is placed on (``"cpu"``,
            ``"cuda"``, a device).

    Returns:
        The generator in eval mode with its codec and config.

    Raises:
        DirectionError: ``direction`` is neither ``a2b`` nor ``b2a``.
        CheckpointError: missing file, not a checkpoint, no ``volo`` entry, a format version from the future, the
            direction (or the EMA weights the config promises) missing, or weights that do not fit the architecture
            of the stored config. The message is one line naming the file and the mismatch.
    """
    path = Path(path)
    d = parse_direction(direction)
    if path.is_dir() and (path / "config.json").is_file():  # a `volo export --format hub` folder (no pickle)
        from volo_adapt.inference.hub import load_hub_generator

        loaded = load_hub_generator(path, map_location=map_location)
        if loaded.direction != d.value:
            raise CheckpointError(f"{path}: this folder holds the {loaded.direction} generator, not {d.value}")
        return loaded
    obj = load_checkpoint_file(path, map_location, trusted_pickle_fallback=True)
    if isinstance(obj, dict) and obj.get("format") == EXPORT_FORMAT:
        loaded = _from_export(path, obj, d)
    elif isinstance(obj, dict) and "state_dict" not in obj and VOLO_KEY not in obj:
        raise CheckpointError(f"{path}: not a volo-adapt checkpoint or exported generator (keys: {_few(obj)})")
    else:
        loaded = _from_checkpoint(path, obj, d, use_ema)
    loaded.module.to(map_location)
    return loaded


def export_payload(loaded: LoadedGenerator) -> dict[str, Any]:
    """The ``pt`` export of ``loaded``: a dict of plain types and tensors (``format`` :data:`EXPORT_FORMAT`,
    ``version`` :data:`EXPORT_VERSION`) that a weights-only load and :func:`load_generator` read back. Tensors are
    moved to the CPU (state dict keys as the module has them)."""
    from volo_adapt import __version__
    from volo_adapt.inference.metadata import normalisation_metadata

    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "volo_version": __version__,
        "config": loaded.config.to_dict(),
        "direction": loaded.direction,
        "weights": loaded.weights,
        "source": str(loaded.source),
        "normalisation": normalisation_metadata(loaded),
        "state_dict": {k: v.detach().cpu().clone() for k, v in loaded.module.state_dict().items()},
    }


# --------------------------------------------------------------------------------------------------- internals


def _few(d: dict, n: int = 6) -> str:
    keys = [str(k) for k in list(d)[:n]]
    return ", ".join(keys) + (f", ... ({len(d)} in all)" if len(d) > n else "") if keys else "none"


def _from_checkpoint(path: Path, ckpt: Any, direction: Direction, use_ema: bool) -> LoadedGenerator:
    cfg = stored_config(path, check_volo_block(path, ckpt)["config"])
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: 'state_dict' is not a mapping")
    ema_on = cfg.optim.ema_decay > 0
    weights = "ema" if use_ema and ema_on else "raw"
    sub = network_state(state, direction, ema=weights == "ema")
    if not sub and weights == "ema":
        raise CheckpointError(
            f"{path}: config has EMA on (optim.ema_decay={cfg.optim.ema_decay}) but no"
            f" {network_name(direction, ema=True)}.* weights; load the raw weights instead (use_ema=False)"
        )
    if not sub:
        raise CheckpointError(
            f"{path}: no generator for direction {direction.value}"
            f" (no {network_name(direction)}.* weights; has: {', '.join(stored_networks(state)) or 'none'})"
        )
    module = _build_and_load(path, cfg, sub, direction)
    return _finish(module, cfg, direction, path, weights, "checkpoint")


def _from_export(path: Path, obj: dict, direction: Direction) -> LoadedGenerator:
    check_export_version(path, obj)
    stored = obj.get("direction")
    if stored != direction.value:
        raise CheckpointError(
            f"{path}: exported generator is direction {stored}, not {direction.value} (load it as direction {stored})"
        )
    for key in ("config", "state_dict"):
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(f"{path}: exported generator lacks '{key}'")
    cfg = stored_config(path, obj["config"])
    module = _build_and_load(path, cfg, obj["state_dict"], direction)
    return _finish(module, cfg, direction, path, str(obj.get("weights", "raw")), "export")


def _build_and_load(path: Path, cfg: RunConfig, state: dict, direction: Direction) -> nn.Module:
    """Build the generator of ``cfg`` and load ``state`` strictly; mismatches become a one-line CheckpointError."""
    from volo_adapt.build import build_generator

    try:
        module = build_generator(cfg.model, cfg.data, direction.value)
    except (ConfigError, TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: cannot build generator {cfg.model.generator!r}: {first_line(e)}") from e
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and isinstance(state[k], torch.Tensor) and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        what = []
        if shapes:
            what.append(f"shape mismatch (checkpoint vs model): {_list(shapes)}")
        if missing:
            what.append(f"missing: {_list(missing)}")
        if unexpected:
            what.append(f"unexpected: {_list(unexpected)}")
        arch = f"{cfg.model.generator} (gen_base={cfg.model.gen_base}, channels={cfg.model.channels})"
        raise CheckpointError(f"{path}: weights do not match the config's generator {arch}: {'; '.join(what)}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as e:  # dtype or other incompatibilities not caught above
        raise CheckpointError(f"{path}: weights do not load into {cfg.model.generator}: {first_line(e)}") from e
    return module


def _list(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _finish(
    module: nn.Module, cfg: RunConfig, direction: Direction, path: Path, weights: str, kind: str
) -> LoadedGenerator:
    from volo_adapt.build import build_codec

    module.eval()
    module.requires_grad_(False)
    with contextlib.suppress(AttributeError):
        module.float()
    size_multiple = int(getattr(module, "size_multiple", 1))
    assert size_multiple >= 1, size_multiple
    return LoadedGenerator(
        module=module,
        codec=build_codec(cfg.data),
        config=cfg,
        direction=direction.value,
        size_multiple=size_multiple,
        source=path,
        weights=weights,
        kind=kind,
    )
