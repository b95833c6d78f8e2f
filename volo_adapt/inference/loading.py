"""Load one trained generator for inference, from a training checkpoint or an exported generator file.

Two file kinds are read:

* a Lightning training checkpoint written by ``volo train`` (``*.ckpt``): a dict with ``"state_dict"`` (keys
  prefixed ``gen_a2b.``, ``gen_b2a.``, ``critic_a.``, ``critic_b.`` and, with EMA, ``gen_a2b_ema.``,
  ``gen_b2a_ema.``) and ``"volo"`` = ``{"format": 1, "volo_version": str, "config": RunConfig.to_dict()}``;
* an exported generator (``volo export --format pt``): a dict ``{"format": "volo-generator", "version": 1,
  "config": ..., "direction": ..., "weights": "ema" | "raw", "state_dict": ..., "normalisation": ...}`` made of
  plain Python types and tensors only.

Both are opened with ``torch.load(weights_only=True)`` (no code runs while unpickling) and memory-mapped, so only
the tensors of the one generator that is needed are read from disk. A Lightning checkpoint may also pickle
non-tensor objects (for example hyper-parameter containers) that ``weights_only`` refuses; such a file is then
loaded with ``weights_only=False`` **only if** it is named ``*.ckpt`` and a static scan of its pickle stream (no code
executed) shows the volo-adapt checkpoint entry. Loading a full training checkpoint that way trusts its source,
like any pickle: only load checkpoints you produced or trust. Exported ``pt`` files never need it and are refused.
"""

from __future__ import annotations

import contextlib
import pickle
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from volo_adapt.config import RunConfig
from volo_adapt.data.sample import DepthCodec
from volo_adapt.errors import CheckpointError, ConfigError

CHECKPOINT_FORMAT = 1
"""Newest training-checkpoint format (``checkpoint["volo"]["format"]``) this version reads."""
EXPORT_FORMAT = "volo-generator"
"""``format`` value of an exported generator file."""
EXPORT_VERSION = 1
"""Newest exported-generator version this version reads."""
DIRECTIONS = ("a2b", "b2a")
"""``a2b``: domain A (synthetic) -> domain B (sensor look); ``b2a``: the reverse."""


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
    direction: str = "a2b",
    use_ema: bool = True,
    map_location: str | torch.device = "cpu",
) -> LoadedGenerator:
    """Load the generator of one direction from a training checkpoint or an exported ``pt`` generator.

    Args:
        path: a ``volo train`` checkpoint (``.ckpt``) or a ``volo export --format pt`` file.
        direction: ``"a2b"`` (A -> B, synthetic -> sensor) or ``"b2a"``.
        use_ema: use the EMA weights when the run kept them (``optim.ema_decay > 0``); ``False`` always uses the
            raw weights. Exported files hold one set of weights chosen at export time, so this is ignored for them.
        map_location: the device the weights are loaded to and the generator is placed on (``"cpu"``,
            ``"cuda"``, a device).

    Returns:
        The generator in eval mode with its codec and config.

    Raises:
        CheckpointError: missing file, not a checkpoint, no ``volo`` entry, a format version from the future, the
            direction (or the EMA weights the config promises) missing, or weights that do not fit the architecture
            of the stored config. The message is one line naming the file and the mismatch.
    """
    path = Path(path)
    if direction not in DIRECTIONS:
        raise CheckpointError(f"--direction {direction!r}: must be one of {', '.join(DIRECTIONS)}")
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a file")
    obj = _torch_load(path, map_location)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a volo-adapt checkpoint (holds a {type(obj).__name__}, expected a dict)")
    if obj.get("format") == EXPORT_FORMAT:
        loaded = _from_export(path, obj, direction)
    elif "state_dict" in obj and "volo" in obj:
        loaded = _from_checkpoint(path, obj, direction, use_ema)
    else:
        loaded = None
    if loaded is not None:
        loaded.module.to(map_location)
        return loaded
    if "state_dict" in obj:
        raise CheckpointError(
            f"{path}: a checkpoint without the 'volo' entry (not written by volo train; cannot rebuild its networks)"
        )
    raise CheckpointError(f"{path}: not a volo-adapt checkpoint or exported generator (keys: {_few(obj)})")


def export_payload(loaded: LoadedGenerator) -> dict[str, Any]:
    """The ``pt`` export of ``loaded``: a dict of plain types and tensors that ``torch.load(weights_only=True)``
    and :func:`load_generator` read back. Tensors are moved to the CPU (state dict keys as the module has them)."""
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


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


def _torch_load(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load`` with ``weights_only=True`` (memory-mapped), falling back as the module docstring says."""
    if not zipfile.is_zipfile(path):
        # torch's own format is a zip archive; the legacy (pre-1.6) format is not written by this project.
        raise CheckpointError(f"{path}: not a PyTorch checkpoint (not a torch zip archive)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=True)
    except pickle.UnpicklingError as e:
        if path.suffix.lower() != ".ckpt":  # exported generators (.pt) never need the fallback: refuse, run nothing
            raise CheckpointError(
                f"{path}: refused: the file pickles non-tensor objects and only a training checkpoint (.ckpt) from"
                " a source you trust may do that (an exported generator holds plain types and tensors only)"
            ) from e
        if not _pickle_mentions_volo(path):
            raise CheckpointError(
                f"{path}: not a volo-adapt checkpoint (it pickles non-tensor objects and has no 'volo' entry)"
            ) from e
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({_first_line(e)})") from e
    # A volo-adapt training checkpoint that also pickles Lightning objects: trusted as the module docstring says.
    try:
        return torch.load(path, map_location=map_location, weights_only=False, mmap=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file, reported in one line
        raise CheckpointError(f"{path}: cannot read checkpoint ({_first_line(e)})") from e


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
        return {"volo", "volo_version", "state_dict"} <= strings
    except Exception:  # noqa: BLE001 - a file we cannot scan is simply not trusted
        return False


def _config_from(path: Path, d: Any) -> RunConfig:
    if not isinstance(d, dict):
        raise CheckpointError(f"{path}: the stored config is not a mapping")
    try:
        return RunConfig.from_dict(d, where=f"{path} (stored config)")
    except ConfigError as e:
        raise CheckpointError(f"{path}: stored config is invalid: {e}") from e


def _from_checkpoint(path: Path, ckpt: dict, direction: str, use_ema: bool) -> LoadedGenerator:
    volo = ckpt["volo"]
    if not isinstance(volo, dict) or "format" not in volo or "config" not in volo:
        raise CheckpointError(f"{path}: the 'volo' entry lacks 'format'/'config'")
    fmt = volo["format"]
    if not isinstance(fmt, int) or fmt < 1:
        raise CheckpointError(f"{path}: unknown checkpoint format {fmt!r}")
    if fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path}: checkpoint format {fmt} is newer than this volo-adapt reads ({CHECKPOINT_FORMAT});"
            f" written by volo-adapt {volo.get('volo_version', '?')}, upgrade to load it"
        )
    cfg = _config_from(path, volo["config"])
    state = ckpt["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: 'state_dict' is not a mapping")
    raw_prefix = f"gen_{direction}."
    ema_prefix = f"gen_{direction}_ema."
    has_raw = any(k.startswith(raw_prefix) for k in state)
    has_ema = any(k.startswith(ema_prefix) for k in state)
    ema_on = cfg.optim.ema_decay > 0
    if use_ema and ema_on:
        if not has_ema:
            raise CheckpointError(
                f"{path}: config has EMA on (optim.ema_decay={cfg.optim.ema_decay}) but no {ema_prefix}* weights;"
                " use --no-ema for the raw weights"
            )
        prefix, weights = ema_prefix, "ema"
    else:
        prefix, weights = raw_prefix, "raw"
    if prefix == raw_prefix and not has_raw:
        gens = sorted({k.split(".", 1)[0] for k in state if k.startswith("gen_")})
        raise CheckpointError(
            f"{path}: no generator for direction {direction}"
            f" (no {raw_prefix}* weights; has: {', '.join(gens) or 'none'})"
        )
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    module = _build_and_load(path, cfg, sub)
    return _finish(module, cfg, direction, path, weights, "checkpoint")


def _from_export(path: Path, obj: dict, direction: str) -> LoadedGenerator:
    version = obj.get("version")
    if not isinstance(version, int) or version < 1:
        raise CheckpointError(f"{path}: exported generator has an unknown version {version!r}")
    if version > EXPORT_VERSION:
        raise CheckpointError(
            f"{path}: exported generator version {version} is newer than this volo-adapt reads ({EXPORT_VERSION})"
        )
    stored = obj.get("direction")
    if stored != direction:
        raise CheckpointError(
            f"{path}: exported generator is direction {stored}, not {direction} (pass --direction {stored})"
        )
    for key in ("config", "state_dict"):
        if not isinstance(obj.get(key), dict):
            raise CheckpointError(f"{path}: exported generator lacks '{key}'")
    cfg = _config_from(path, obj["config"])
    module = _build_and_load(path, cfg, obj["state_dict"])
    return _finish(module, cfg, direction, path, str(obj.get("weights", "raw")), "export")


def _build_and_load(path: Path, cfg: RunConfig, state: dict) -> nn.Module:
    """Build the generator of ``cfg`` and load ``state`` strictly; mismatches become a one-line CheckpointError."""
    from volo_adapt.build import build_generator

    try:
        module = build_generator(cfg.model, cfg.data)
    except (ConfigError, TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: cannot build generator {cfg.model.generator!r}: {_first_line(e)}") from e
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
        raise CheckpointError(f"{path}: weights do not load into {cfg.model.generator}: {_first_line(e)}") from e
    return module


def _list(items: list[str], n: int = 3) -> str:
    return ", ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def _finish(module: nn.Module, cfg: RunConfig, direction: str, path: Path, weights: str, kind: str) -> LoadedGenerator:
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
        direction=direction,
        size_multiple=size_multiple,
        source=path,
        weights=weights,
        kind=kind,
    )
