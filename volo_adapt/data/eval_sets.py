"""Evaluation sets: data sources read at one square evaluation size as network tensors (the data side of
``volo eval``; :mod:`volo_adapt.metrics.evaluate` judges the tensors).

Evaluation size: every image (source, target, paired) is brought to one square size ``S`` with the same policy as
the training DataModule (:func:`volo_adapt.data.dataset.fit_square` without random crop: shorter side resized to
``S``, RGB antialiased, depth and mask nearest, then the centred ``S x S`` window). Images are then encoded with the
run's :class:`~volo_adapt.data.sample.DepthCodec` (depth outside ``[near, far]`` becomes invalid, exactly as in
training).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from volo_adapt.data.sample import DepthCodec, to_network
from volo_adapt.directions import Direction, parse_direction
from volo_adapt.errors import DataError


@dataclass(frozen=True)
class EvalSources:
    """Which data an evaluation reads, already oriented by the translation direction.

    Attributes:
        source: specs of the domain the generator translates (see :func:`volo_adapt.data.sources.open_source`).
        target: specs of the domain it is judged against.
        paired: folder with ``A/`` and ``B/`` holding the same scenes (same sample names), or None.
        demo: True when these are the built-in demo benchmark's.
    """

    source: list[str]
    target: list[str]
    paired: str | Path | None = None
    demo: bool = False

    def info(self) -> dict[str, Any]:
        """The report's ``data`` provenance: ``source``, ``target``, ``paired`` (str or None), ``demo``."""
        return {
            "source": list(self.source),
            "target": list(self.target),
            "paired": None if self.paired is None else str(self.paired),
            "demo": self.demo,
        }


@dataclass
class EvalSet:
    """Network tensors of one evaluation, all ``(N, 4, S, S)`` float32 in ``[0, 1]`` (RGB, then encoded depth).

    Attributes:
        source: the domain to translate.
        target: real images of the domain judged against.
        paired_source: source renderings of scenes whose true target rendering is known, or None.
        paired_target: those true target renderings, aligned with ``paired_source``, or None.
    """

    source: torch.Tensor
    target: torch.Tensor
    paired_source: torch.Tensor | None = None
    paired_target: torch.Tensor | None = None


class PairedFolderError(DataError):
    """A paired folder that cannot be used: ``paired folder ROOT: PROBLEM`` (``root`` and ``problem`` kept, so a
    front end can name its own option for the folder)."""

    def __init__(self, root: Path, problem: str) -> None:
        self.root, self.problem = root, problem
        super().__init__(f"paired folder {root}: {problem}")


def load_network_tensors(
    specs: Sequence[str], image_size: int, codec: DepthCodec, depth_scale: float, max_samples: int | None = None
) -> tuple[torch.Tensor, list[str]]:
    """Read every sample of the given sources at the evaluation size.

    Args:
        specs: data source specs (see :func:`volo_adapt.data.sources.open_source`).
        image_size: square evaluation side ``S`` (the DataModule's validation size policy).
        codec: encodes depth for the network.
        depth_scale: integer-depth units per metre.
        max_samples: keep the first N samples (sorted by key, per the concatenated sources).

    Returns:
        ``(x, keys)``: ``(N, 4, S, S)`` float32 in ``[0, 1]`` and the sample keys.
    """
    from volo_adapt.data.sources import open_source

    refs = [r for spec in specs for r in open_source(spec)]
    if max_samples is not None:
        refs = refs[:max_samples]
    return torch.stack([_load(ref, image_size, codec, depth_scale) for ref in refs]), [r.key for r in refs]


def load_paired(
    root: Path,
    direction: str | Direction,
    image_size: int,
    codec: DepthCodec,
    depth_scale: float,
    max_samples: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``root/A`` and ``root/B`` (same scenes, same keys) as ``(source, true target)`` for ``direction``.

    Returns:
        Two ``(P, 4, S, S)`` float32 tensors in ``[0, 1]``, aligned by sorted sample key (the first ``max_samples``).

    Raises:
        PairedFolderError: a missing ``A/`` or ``B/``, or names that differ between them.
    """
    from volo_adapt.data.sources import open_source

    d = parse_direction(direction)
    src_dir, tgt_dir = root / d.source.value, root / d.target.value
    for sub in (src_dir, tgt_dir):
        if not sub.is_dir():
            raise PairedFolderError(root, f"missing folder {sub.name}/ (expected {root}/A and {root}/B)")
    src = {r.key: r for r in open_source(str(src_dir))}
    tgt = {r.key: r for r in open_source(str(tgt_dir))}
    if set(src) != set(tgt):
        only = sorted(set(src) ^ set(tgt))
        raise PairedFolderError(
            root,
            f"A/ and B/ must hold the same sample names; unmatched: {', '.join(only[:5])}"
            + (f" (+{len(only) - 5} more)" if len(only) > 5 else ""),
        )
    keys = sorted(src)[:max_samples] if max_samples is not None else sorted(src)
    return (torch.stack([_load(src[k], image_size, codec, depth_scale) for k in keys]),
            torch.stack([_load(tgt[k], image_size, codec, depth_scale) for k in keys]))


def load_eval_set(
    sources: EvalSources,
    direction: str | Direction,
    image_size: int,
    codec: DepthCodec,
    depth_scale: float,
    max_samples: int | None = None,
) -> EvalSet:
    """Read ``sources`` at ``image_size`` (at most ``max_samples`` images per set); see :class:`EvalSet`.

    Raises:
        DataError: unreadable data; PairedFolderError: an unusable paired folder.
    """
    source, _ = load_network_tensors(sources.source, image_size, codec, depth_scale, max_samples)
    target, _ = load_network_tensors(sources.target, image_size, codec, depth_scale, max_samples)
    if sources.paired is None:
        return EvalSet(source, target)
    paired = load_paired(Path(sources.paired), direction, image_size, codec, depth_scale, max_samples)
    return EvalSet(source, target, *paired)


def _load(ref: Any, image_size: int, codec: DepthCodec, depth_scale: float) -> torch.Tensor:
    """One sample at the evaluation size: ``(4, S, S)`` float32 in ``[0, 1]``."""
    from volo_adapt.data.dataset import fit_square
    from volo_adapt.data.sources import read_sample

    return to_network(fit_square(read_sample(ref, depth_scale), image_size, random_crop=False), codec)[0]
