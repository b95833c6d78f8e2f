"""The first stage of a translation: open the source, plan one output per sample, refuse unsafe destinations, decide
which samples need no work (skipped, or failed before reading), and read the others into network tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from volo_adapt.data.sample import DepthCodec, to_network
from volo_adapt.errors import VoloError, first_line
from volo_adapt.inference.batching import PendingSample
from volo_adapt.inference.writers import OutputPlan, find_collisions, plan_outputs, source_root


@dataclass
class SourcePlan:
    """Everything known about a translation before any sample is read.

    Attributes:
        spec: the source spec as given.
        kind: its kind (:func:`volo_adapt.data.sources.source_kind`).
        refs: its samples, in order.
        root: the source root (outputs mirror paths relative to it).
        out: the output folder, absolute, symlinks resolved.
        plans: one :class:`~volo_adapt.inference.writers.OutputPlan` per sample, aligned with ``refs``.
        collisions: ``{key: reason}`` for samples whose outputs would land on another sample's.
    """

    spec: str
    kind: str
    refs: list
    root: Path
    out: Path
    plans: list[OutputPlan]
    collisions: dict[str, str]


def plan_source(spec: str, out_dir: str | Path, rgb_format: str) -> SourcePlan:
    """Open ``spec`` and plan its outputs under ``out_dir`` (nothing is written).

    Raises:
        VoloError: unreadable source, unsafe destination (see :func:`check_destination`).
    """
    from volo_adapt.data.sources import open_source, source_kind

    kind = source_kind(spec)
    refs = open_source(spec)
    root = source_root(spec, kind)
    out = Path(out_dir).expanduser().resolve()
    plans = plan_outputs(refs, root, out, rgb_format)
    check_destination(root, out, plans)
    return SourcePlan(spec, kind, refs, root, out, plans, find_collisions(plans))


def check_destination(root: Path, out_dir: Path, plans: list[OutputPlan]) -> None:
    """Refuse an output folder equal to/inside the source root, or outputs landing on inputs (symlinks resolved).

    Raises:
        VoloError: naming both paths.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise VoloError(f"{out_dir}: output exists and is not a folder")
    if out_dir == root:
        raise VoloError(f"{out_dir}: the output folder is the input folder; choose a new folder (inputs are never "
                        "overwritten)")
    if out_dir.is_relative_to(root):
        raise VoloError(f"{out_dir}: the output folder is inside the input folder {root}; choose a folder outside it")
    inputs = {p.expanduser().resolve() for plan in plans for p in plan.inputs}
    for plan in plans:
        for f in plan.files:
            rf = f.resolve()
            if rf in inputs:
                raise VoloError(f"{f}: output would overwrite input file {rf}")
            if rf.is_relative_to(root):
                raise VoloError(f"{f}: output would be written inside the input folder {root}")


def make_output_dir(out: Path) -> None:
    """Create ``out`` (and its parents); VoloError in one line when the file system refuses."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # e.g. a parent is a file, or the disk/permissions refuse it: one line, not a traceback
        raise VoloError(f"{out}: cannot create the output folder ({e.strerror or e})") from e


def settled_without_reading(
    plan: OutputPlan, collisions: dict[str, str], skip_existing: bool
) -> tuple[str, str] | None:
    """``(status, reason)`` for a sample that needs no reading: ``failed`` (a planning problem or an output
    collision) or ``skipped`` (``skip_existing`` and all its outputs exist); None for a sample to translate."""
    if plan.problem or plan.key in collisions:
        return "failed", plan.problem or collisions[plan.key]
    if skip_existing and plan.exists():
        return "skipped", ""
    return None


def read_pending(index: int, ref, plan: OutputPlan, codec: DepthCodec, depth_scale: float) -> PendingSample:
    """Read one sample (RGB and depth aligned by the data layer) and encode it for the network.

    A 16-bit colour PNG kept as PNG sets ``plan.rgb_bits = 16``.

    Raises:
        VoloError: the sample cannot be read (its message is the sample's failure reason, one line).
    """
    from volo_adapt.data.sources import read_sample

    try:
        sample = read_sample(ref, depth_scale=depth_scale)
    except VoloError:
        raise
    except Exception as e:  # noqa: BLE001 - an undecodable file must not stop the other samples
        raise VoloError(f"cannot read ({type(e).__name__}: {first_line(e)})") from e
    x, valid = to_network(sample, codec)
    oor = int((sample.valid & ~valid).sum())
    if plan.rgb is not None and plan.rgb.suffix.lower() == ".png" and sample.meta.get("rgb_format") == "png16":
        plan.rgb_bits = 16  # a 16-bit colour PNG stays 16-bit
    size = sample.size
    rgb_size = tuple(sample.meta.get("rgb_size") or size)
    depth_size = tuple(sample.meta.get("depth_size") or size)
    return PendingSample(index, plan, x, rgb_size, depth_size, oor)
