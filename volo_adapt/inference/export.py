"""Export one generator as a standalone file: ``pt`` (weights-only dict), TorchScript or ONNX; or as a folder in the
Hugging Face Hub layout (``hub``: ``model.safetensors``, ``config.json``, a model card; see
:mod:`volo_adapt.inference.hub`).

Every format carries the normalisation contract of :mod:`volo_adapt.inference.metadata` (codec near/far/gap,
channel order R, G, B, D, value range [0, 1], invalid = 0 in every channel, ``size_multiple``):

* ``pt``: a dict of plain types and tensors (a weights-only load reads it, and so does
  :func:`~volo_adapt.inference.loading.load_generator`; format constants in :mod:`volo_adapt.checkpoint`); key
  ``normalisation``.
* ``torchscript``: ``torch.jit.trace`` of the generator with spectral norm baked into plain weights; the contract is
  the extra file ``volo.json`` (``torch.jit.load(path, _extra_files={"volo.json": ""})``).
* ``onnx``: ``torch.onnx.export`` with dynamic batch, height and width (multiples of ``size_multiple``; equal for a
  square-only generator); the contract is the JSON string under the ``volo`` key of ``metadata_props``. Needs the
  optional ``onnx`` extra (``pip install 'volo-adapt[onnx]'``).
* ``hub``: a folder; the contract is ``normalisation`` in its ``config.json``. Needs the optional ``hub`` extra.

Exported graphs take inputs whose sides are already multiples of ``size_multiple``: padding and cropping (see
:func:`~volo_adapt.inference.engine.translate_tensors`) are left to the caller and described in the metadata.
Every file is written atomically.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from volo_adapt.atomic import atomic_path
from volo_adapt.checkpoint import save_checkpoint_file
from volo_adapt.errors import VoloError, first_line
from volo_adapt.inference.loading import LoadedGenerator, export_payload
from volo_adapt.inference.metadata import normalisation_metadata

EXPORT_FORMATS = ("pt", "torchscript", "onnx", "hub")
"""Formats :func:`export_generator` writes."""
ONNX_OPSET = 18
"""ONNX opset of exported graphs."""


def export_generator(
    loaded: LoadedGenerator, out: str | Path, fmt: str = "pt", example_size: int | None = None, **hub_options: Any
) -> Path:
    """Write ``loaded``'s generator to ``out`` as a standalone file (a folder for ``hub``).

    Args:
        loaded: the generator (any device; exports are made from a CPU copy).
        out: destination file (parents are created; an existing file is replaced atomically); for ``hub`` a folder.
        fmt: ``"pt"``, ``"torchscript"``, ``"onnx"`` or ``"hub"``.
        example_size: side of the square example input used for tracing (default: ``2 * min_size`` rounded to
            ``size_multiple``); the traced graph accepts other sizes too.
        **hub_options: for ``hub`` only: ``eval_report``, ``license``, ``force`` of
            :func:`~volo_adapt.inference.hub.write_hub_folder`.

    Returns:
        ``out`` as a Path.

    Raises:
        VoloError: unknown format, an optional extra not installed, or the file cannot be written.
    """
    out = Path(out)
    if fmt not in EXPORT_FORMATS:
        raise VoloError(f"--format {fmt!r}: must be one of {', '.join(EXPORT_FORMATS)}")
    if fmt == "hub":
        from volo_adapt.inference.hub import write_hub_folder

        return write_hub_folder(loaded, out, **hub_options)
    if hub_options:
        raise VoloError(f"{', '.join(sorted(hub_options))}: only for the hub format, not {fmt}")
    if out.is_dir():
        raise VoloError(f"{out}: is a directory; give the output file name")
    meta = normalisation_metadata(loaded)
    if fmt == "pt":
        save_checkpoint_file(export_payload(loaded), out)
        return out
    module = plain_module(loaded)
    side = example_size or _default_side(loaded)
    example = torch.rand(2, loaded.config.model.channels, side, side, generator=torch.Generator().manual_seed(0))
    if fmt == "torchscript":
        _export_torchscript(module, example, out, meta)
    else:
        _export_onnx(module, example, out, meta, loaded)
    return out


def plain_module(loaded: LoadedGenerator) -> nn.Module:
    """A CPU fp32 eval-mode copy of the generator with every parametrisation (spectral norm) baked into its weight.

    In eval mode spectral norm uses its stored power-iteration vectors, so the baked copy computes exactly what the
    parametrised module computes. The copy is rebuilt from the config and loaded with the weights rather than
    ``deepcopy``-ed: a deep copy shares torch's dynamically created parametrised classes with the original, and
    removing a parametrisation from the copy would break the original.
    """
    from torch.nn.utils import parametrize

    from volo_adapt.build import build_generator

    module = build_generator(loaded.config.model, loaded.config.data, loaded.direction)
    module.load_state_dict({k: v.detach().cpu() for k, v in loaded.module.state_dict().items()})
    module = module.float().eval()
    # exported graphs are the deterministic generator: a traced/ONNX graph cannot take per-sample seeds, and
    # volo translate (which samples sensor noise reproducibly) is the tool for noisy samples
    for m in module.modules():
        if hasattr(m, "sample_by_default"):
            m.sample_by_default = False
    for m in module.modules():
        if parametrize.is_parametrized(m):
            for name in list(m.parametrizations.keys()):
                parametrize.remove_parametrizations(m, name, leave_parametrized=True)
    module.requires_grad_(False)
    return module


def _default_side(loaded: LoadedGenerator) -> int:
    m = loaded.size_multiple
    return max(-(-2 * loaded.min_size // m) * m, m)


def _export_torchscript(module: nn.Module, example: torch.Tensor, out: Path, meta: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks in forward are evaluated at trace time
        try:
            with torch.no_grad():
                traced = torch.jit.trace(module, example, check_trace=False)
        except (TypeError, RuntimeError) as e:
            # e.g. Python arithmetic on a traced size (round() of a tensor) in a future layer: one line for the user
            # instead of the tracer's traceback, nothing written
            raise VoloError(f"--format torchscript: this generator cannot be traced ({first_line(e)}); "
                            "export --format pt or hub instead") from e
    with atomic_path(out) as tmp:
        torch.jit.save(traced, str(tmp), _extra_files={"volo.json": json.dumps(meta, indent=1)})


def _export_onnx(module: nn.Module, example: torch.Tensor, out: Path, meta: dict, loaded: LoadedGenerator) -> None:
    try:
        import onnx
    except ImportError as e:
        raise VoloError(
            "--format onnx needs the optional 'onnx' extra: pip install 'volo-adapt[onnx]'"
        ) from e
    with tempfile.TemporaryDirectory(prefix="volo-onnx-") as tmpdir:
        raw = Path(tmpdir) / "model.onnx"
        _onnx_export(module, example, raw, loaded)
        model = onnx.load(str(raw))
    entry = model.metadata_props.add()
    entry.key = "volo"
    entry.value = json.dumps(meta)
    for key, value in (("size_multiple", str(loaded.size_multiple)), ("direction", loaded.direction)):
        e = model.metadata_props.add()
        e.key, e.value = key, value
    model.producer_name = "volo-adapt"
    with atomic_path(out) as tmp:
        onnx.save(model, str(tmp))


def _onnx_export(module: nn.Module, example: torch.Tensor, path: Path, loaded: LoadedGenerator) -> None:
    """Export with dynamic B, H, W: the dynamo exporter first, the TorchScript-based one as a fallback."""
    from torch.export import Dim

    m = loaded.size_multiple
    batch = Dim("batch", min=1, max=1024)
    hq = Dim("h_div", min=max(1, -(-loaded.min_size // m)), max=4096 // m)
    wq = hq if loaded.requires_square else Dim("w_div", min=max(1, -(-loaded.min_size // m)), max=4096 // m)
    dynamic_shapes = {"x": {0: batch, 2: m * hq, 3: m * wq}}
    common = dict(input_names=["rgbd"], output_names=["rgbd_translated"], opset_version=ONNX_OPSET)
    errors = []
    try:
        with warnings.catch_warnings(), contextlib_redirect():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(path),
                **common,
                dynamo=True,
                external_data=False,
                dynamic_shapes=dynamic_shapes,
            )
        fixed = _fixed_input_dims(path)
        if not fixed:
            return
        # the dynamo exporter may fall back on its own to a graph traced at the example's size: not an export
        errors.append(f"dynamo exporter: input dimensions {fixed} came out fixed")
    except Exception as e:  # noqa: BLE001 - try the other exporter, report both if it fails too
        errors.append(f"dynamo exporter: {first_line(e)}")
    try:
        with warnings.catch_warnings(), contextlib_redirect():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (example,),
                str(path),
                **common,
                dynamo=False,
                dynamic_axes={"rgbd": {0: "batch", 2: "height", 3: "width"},
                              "rgbd_translated": {0: "batch", 2: "height", 3: "width"}},
            )
    except Exception as e:  # noqa: BLE001
        errors.append(f"torchscript exporter: {first_line(e)}")
        raise VoloError(f"ONNX export of {loaded.config.model.generator} failed ({'; '.join(errors)})") from e


def _fixed_input_dims(path: Path) -> list[int]:
    """The batch / height / width axes (0, 2, 3) of the ONNX file's first input that have a fixed size."""
    import onnx

    dims = onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim
    return [i for i in (0, 2, 3) if i < len(dims) and not dims[i].dim_param]


@contextlib.contextmanager
def contextlib_redirect():
    """Silence the exporters' progress prints on stdout and their log warnings (e.g. "torchvision is not installed"),
    which would garble the CLI's output; real failures still raise."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logging.disable(previous)
