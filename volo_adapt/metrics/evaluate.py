"""The library entry of ``volo eval``: translate, run the registered metrics and the baselines.

Three levels, each built on the next:

* :func:`evaluate`: a generator and data source specs (the data is read by :mod:`volo_adapt.data.eval_sets` at
  one square size ``S``, the checkpoint's training ``data.image_size`` unless ``image_size`` is given);
* :func:`evaluate_generator`: a generator and already-read tensors (:class:`~volo_adapt.data.eval_sets.EvalSet`);
* :func:`evaluate_tensors`: any translate function and tensors.

Data defaults: with no sources, the built-in demo benchmark's test split is used (``A/test`` translated and
judged against ``B/test``) and, because the demo has ground truth, its ``paired/`` folders too.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from volo_adapt.data.eval_sets import EvalSet, EvalSources
from volo_adapt.data.sample import DepthCodec
from volo_adapt.directions import Direction, parse_direction
from volo_adapt.errors import DataError
from volo_adapt.metrics import progress as _progress
from volo_adapt.metrics.apply import Log, make_val_metrics_fn, run_metrics, validation_metrics
from volo_adapt.metrics.baselines import comparison_inputs
from volo_adapt.metrics.progress import ProgressFn, WorkCounter
from volo_adapt.metrics.registry import MetricInputs, MetricOptions, MetricResult, get_metric, resolve_metric_names

__all__ = [
    "EvalReport",
    "Log",
    "check_sets",
    "checkpoint_step",
    "default_demo_sources",
    "eval_sources",
    "evaluate",
    "evaluate_generator",
    "evaluate_tensors",
    "make_val_metrics_fn",
    "metric_units",
    "run_info",
    "run_metrics",
    "translate_all",
    "translate_sets",
    "validation_metrics",
]


@dataclass
class EvalReport:
    """Everything one evaluation produced.

    Attributes:
        results: ``{metric: {comparison: MetricResult}}``; a comparison is absent where the metric is n/a
            (e.g. geometry for the target-halves floor, paired metrics without paired data).
        skipped: ``{metric: one-line reason}`` for metrics that could not run at all (e.g. FID without weights).
        info: provenance: checkpoint, global_step, direction, data sources, counts, eval size, options, timestamp.
        tensors: the evaluated network tensors (``source``, ``translated``, ``target`` and optionally
            ``paired_source``, ``paired_translated``, ``paired_target``), ``(N, 4, S, S)`` float32 in ``[0, 1]``,
            kept for plots; not serialised.
        codec: the depth codec of those tensors.
    """

    results: dict[str, dict[str, MetricResult]]
    skipped: dict[str, str]
    info: dict[str, Any]
    tensors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)
    codec: DepthCodec | None = None

    def flat(self, comparison: str = "model") -> dict[str, float]:
        """``{"metric/key": value}`` of one comparison (NaN kept)."""
        return {
            f"{m}/{k}": v
            for m, by_cmp in self.results.items()
            if comparison in by_cmp
            for k, v in by_cmp[comparison].values.items()
        }


def translate_all(
    translate: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int, log: Log | None = None
) -> torch.Tensor:
    """Apply ``translate`` to ``(N, 4, H, W)`` in batches; returns ``(N, 4, H, W)`` float32 on the CPU."""
    out = []
    for i in range(0, len(x), batch_size):
        if log is not None:
            log(f"translating {i}/{len(x)}")
        y = translate(x[i : i + batch_size])
        assert y.shape == x[i : i + batch_size].shape, f"translation changed the shape to {tuple(y.shape)}"
        out.append(y.detach().float().cpu().clamp(0, 1))
        _progress.advance(1)
    return torch.cat(out) if out else x.new_zeros((0, *x.shape[1:]))


def evaluate_tensors(
    translate: Callable[[torch.Tensor], torch.Tensor],
    source: torch.Tensor,
    target: torch.Tensor,
    codec: DepthCodec,
    *,
    paired_source: torch.Tensor | None = None,
    paired_target: torch.Tensor | None = None,
    metrics: str | Sequence[str] | None = None,
    options: MetricOptions | None = None,
    batch_size: int = 8,
    info: dict[str, Any] | None = None,
    log: Log | None = None,
    baselines: bool = True,
    progress: ProgressFn | None = None,
) -> EvalReport:
    """Translate ``source`` (and ``paired_source``), then run the metrics for the model and both baselines.

    Args:
        translate: maps ``(B, 4, H, W)`` network tensors in ``[0, 1]`` to the same shape.
        source: ``(N, 4, S, S)`` source-domain tensors, float32 ``[0, 1]``.
        target: ``(M, 4, S, S)`` real target-domain tensors.
        codec: depth codec of all tensors.
        paired_source: ``(P, 4, S, S)`` source renderings of scenes whose true target rendering is known.
        paired_target: ``(P, 4, S, S)`` those true target renderings, aligned with ``paired_source``.
        metrics: names (or a comma-separated string); default all registered metrics.
        options: metric settings.
        batch_size: translation batch size.
        info: provenance merged into the report's ``info``.
        log: progress callback (one short line per step).
        baselines: also compute the identity and target-halves comparisons (False: the model only, for a second
            generator judged on the same data, whose baselines would repeat the first report's exactly).
        progress: ``progress(advance, total)`` (:mod:`volo_adapt.metrics.progress`); changes no number.

    Returns:
        :class:`EvalReport`.
    """
    names = resolve_metric_names(metrics if metrics is None or isinstance(metrics, str) else list(metrics))
    options = options or MetricOptions()
    check_sets(source, target)
    batches = math.ceil(len(source) / batch_size) + (0 if paired_source is None else
                                                     math.ceil(len(paired_source) / batch_size))
    # the plan needs only which inputs exist and how many images: 1x1-pixel views of the sets (no copies)
    px = [None if t is None else t[..., :1, :1] for t in (source, target, paired_source, paired_target)]
    units = metric_units(_comparisons(px[0], px[0], px[1], codec, options, px[2], px[2], px[3], baselines), names)
    counter = WorkCounter(progress, batches + sum(units))
    with _progress.counting(counter):
        translated, paired_translated = translate_sets(translate, source, paired_source, paired_target,
                                                       options.seed, batch_size, log)
        counter.reach(batches)
        comparisons = _comparisons(source, translated, target, codec, options, paired_source, paired_translated,
                                   paired_target, baselines)
        results, skipped = _run_counted(comparisons, names, units, log, counter)
    full_info = {**run_info(source, target, paired_source, "floor" in comparisons, names, options, codec),
                 **(info or {})}
    tensors = {"source": source, "translated": translated, "target": target}
    if paired_source is not None:
        tensors.update(paired_source=paired_source, paired_translated=paired_translated, paired_target=paired_target)
    return EvalReport(results, skipped, full_info, tensors, codec)


def _comparisons(
    source: torch.Tensor, translated: torch.Tensor, target: torch.Tensor, codec: DepthCodec, options: MetricOptions,
    paired_source: torch.Tensor | None, paired_translated: torch.Tensor | None, paired_target: torch.Tensor | None,
    baselines: bool,
) -> dict[str, MetricInputs]:
    """:func:`~volo_adapt.metrics.baselines.comparison_inputs`, only ``model`` without ``baselines``."""
    comparisons = comparison_inputs(
        source, translated, target, codec, options,
        paired_source=paired_source, paired_translated=paired_translated, paired_target=paired_target,
    )
    return comparisons if baselines else {"model": comparisons["model"]}


def metric_units(comparisons: dict[str, MetricInputs], names: Sequence[str]) -> list[int]:
    """Units of work of each named metric for a progress bar: one per comparison it runs on, C2ST metrics (names
    ``c2st_*``) ``c2st_repeats x c2st_epochs`` per comparison (one per training epoch); at least 1 per metric."""
    options = next(iter(comparisons.values())).options
    out = []
    for name in names:
        spec = get_metric(name)
        runs = sum(1 for inp in comparisons.values() if all(inp.has(r) for r in spec.requires))
        per_run = options.c2st_repeats * options.c2st_epochs if name.startswith("c2st_") else 1
        out.append(max(1, runs * per_run))
    return out


def _run_counted(
    comparisons: dict[str, MetricInputs], names: Sequence[str], units: Sequence[int], log: Log | None,
    counter: WorkCounter,
) -> tuple[dict[str, dict[str, MetricResult]], dict[str, str]]:
    """:func:`run_metrics` one metric at a time (same results, same order), the counter at each metric's milestone."""
    results: dict[str, dict[str, MetricResult]] = {}
    skipped: dict[str, str] = {}
    for name, n in zip(names, units, strict=True):
        done = counter.done
        r, s = run_metrics(comparisons, [name], log)
        results.update(r)
        skipped.update(s)
        counter.reach(done + n)
    return results, skipped


def check_sets(source: torch.Tensor, target: torch.Tensor) -> None:
    """DataError unless there are >= 2 source and >= 2 target images of one size (``(N, 4, S, S)`` each)."""
    if len(source) < 2 or len(target) < 2:
        raise DataError(f"evaluation needs at least 2 source and 2 target images, got {len(source)} and {len(target)}")
    if source.shape[1:] != target.shape[1:]:
        raise DataError(f"source and target sizes differ: {tuple(source.shape[1:])} vs {tuple(target.shape[1:])}")


def translate_sets(
    translate: Callable[[torch.Tensor], torch.Tensor],
    source: torch.Tensor,
    paired_source: torch.Tensor | None,
    paired_target: torch.Tensor | None,
    seed: int,
    batch_size: int,
    log: Log | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(translated source, translated paired source or None)``, float32 on the CPU, shapes as the inputs.

    Generators that sample sensor noise draw from torch's global RNG: it is seeded with ``seed`` here (the
    caller's stream is restored afterwards) so that an evaluation is reproducible.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        translated = translate_all(translate, source, batch_size, log)
        paired_translated = None
        if paired_source is not None:
            assert paired_target is not None and paired_target.shape == paired_source.shape
            paired_translated = translate_all(translate, paired_source, batch_size, log)
    return translated, paired_translated


def run_info(
    source: torch.Tensor,
    target: torch.Tensor,
    paired_source: torch.Tensor | None,
    floor: bool,
    names: list[str],
    options: MetricOptions,
    codec: DepthCodec,
) -> dict[str, Any]:
    """The report's ``info`` about the run itself: timestamp, counts, eval size, metrics, options, codec."""
    return {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "counts": {
            "source": len(source),
            "target": len(target),
            "paired": 0 if paired_source is None else len(paired_source),
            "floor_half": len(target) // 2 if floor else 0,
        },
        "eval_size": list(source.shape[-2:]),
        "metrics": names,
        "options": {
            "seed": options.seed,
            "c2st_epochs": options.c2st_epochs,
            "c2st_repeats": options.c2st_repeats,
            "c2st_size": options.c2st_size,
            "depth_bin_m": options.depth_bin_m,
            "inception_weights": None if options.inception_weights is None else str(options.inception_weights),
        },
        "codec": {"near": codec.near, "far": codec.far, "gap": codec.gap},
    }


def checkpoint_step(path: Path) -> int | None:
    """``global_step`` stored in a training checkpoint (optimiser steps, two per batch), or None."""
    from volo_adapt.checkpoint import stored_global_step

    return stored_global_step(path)


def default_demo_sources(size: int, n_train: int) -> tuple[list[str], list[str], Path]:
    """``(A/test, B/test, paired/)`` of the built-in demo benchmark (generated on first use).

    ``size`` and ``n_train`` select the same demo set training used (``data.demo_size``, ``data.demo_count``).
    """
    from volo_adapt.synth.demo_set import demo_splits

    demo = demo_splits(size, n_train)
    return [str(demo.test_a)], [str(demo.test_b)], demo.paired


def evaluate(
    loaded: Any,
    source_a: Sequence[str] | None = None,
    source_b: Sequence[str] | None = None,
    paired: str | Path | None = None,
    metrics: str | Sequence[str] | None = None,
    *,
    max_samples: int | None = None,
    batch_size: int = 8,
    image_size: int | None = None,
    inception_weights: str | Path | None = None,
    seed: int = 0,
    c2st_epochs: int = 30,
    c2st_repeats: int = 5,
    device: str = "auto",
    log: Log | None = None,
    baselines: bool = True,
    progress: ProgressFn | None = None,
) -> EvalReport:
    """Evaluate one generator: translate the source domain and judge it against the target domain.

    Args:
        loaded: a :class:`~volo_adapt.inference.loading.LoadedGenerator` (its ``direction`` decides which domain
            is the source: ``a2b`` translates ``source_a`` and judges against ``source_b``; ``b2a`` the reverse).
        source_a, source_b: domain-A / domain-B source specs; both None: the demo benchmark.
        paired: folder with ``A/`` and ``B/`` holding the same scenes (same sample names) for the paired
            metrics; None = none (with the demo default: the demo's ``paired/``).
        metrics: names or comma-separated string; None = all.
        max_samples: at most this many images per set.
        image_size: evaluation side ``S``; default the checkpoint's ``data.image_size``.
        inception_weights, seed, c2st_epochs, c2st_repeats: see :class:`~volo_adapt.metrics.registry.MetricOptions`.
        device: where the generator and metric networks run (``auto``, ``cpu``, ``cuda``, ...).
        batch_size, log, baselines, progress: see :func:`evaluate_tensors`.

    Returns:
        :class:`EvalReport` (``info`` names the checkpoint, its step, the sources and the sizes).

    Raises:
        DataError: unreadable or mismatched data (PairedFolderError: an unusable ``paired`` folder);
        ConfigError: unknown metric names; OptionError: one of ``source_a``/``source_b`` alone, a bad ``device``.
    """
    from volo_adapt.data.eval_sets import load_eval_set
    from volo_adapt.inference.engine import resolve_device

    dev = resolve_device(device)
    names = resolve_metric_names(metrics if metrics is None or isinstance(metrics, str) else list(metrics))
    sources = eval_sources(loaded, source_a, source_b, paired, log)
    size = int(image_size or loaded.config.data.image_size)
    if log is not None:
        log(f"reading data at {size}x{size}")
    data = load_eval_set(sources, loaded.direction, size, loaded.codec, loaded.config.data.depth_scale, max_samples)
    options = MetricOptions(
        seed=seed,
        device=str(dev),
        inception_weights=None if inception_weights is None else Path(inception_weights),
        c2st_epochs=c2st_epochs,
        c2st_repeats=c2st_repeats,
    )
    return evaluate_generator(loaded, data, names, options, batch_size=batch_size, log=log, baselines=baselines,
                              data_info=sources.info(), progress=progress)


def eval_sources(
    loaded: Any,
    source_a: Sequence[str] | None,
    source_b: Sequence[str] | None,
    paired: str | Path | None,
    log: Log | None = None,
) -> EvalSources:
    """Orient the domain-A/B specs by ``loaded.direction``; with neither, the demo benchmark (and its ``paired/``).

    Raises:
        OptionError: only one of ``source_a`` / ``source_b`` given (or an empty one).
    """
    from volo_adapt.errors import OptionError

    if (source_a is None) != (source_b is None) or (source_a is not None and (not source_a or not source_b)):
        raise OptionError("source_a and source_b", "give both (or neither, for the built-in demo benchmark)")
    demo = source_a is None
    if demo:
        if log is not None:
            log("preparing the built-in demo benchmark")
        source_a, source_b, demo_paired = default_demo_sources(loaded.config.data.demo_size,
                                                               loaded.config.data.demo_count)
        if paired is None and demo_paired.is_dir():
            paired = demo_paired
    a2b = parse_direction(loaded.direction) is Direction.A2B
    src, tgt = (source_a, source_b) if a2b else (source_b, source_a)
    return EvalSources(list(src), list(tgt), paired, demo)


def evaluate_generator(
    loaded: Any,
    data: EvalSet,
    metrics: str | Sequence[str] | None = None,
    options: MetricOptions | None = None,
    *,
    batch_size: int = 8,
    log: Log | None = None,
    baselines: bool = True,
    data_info: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
) -> EvalReport:
    """Evaluate one generator on already-read tensors (see :func:`evaluate_tensors`).

    Args:
        loaded: a :class:`~volo_adapt.inference.loading.LoadedGenerator`; moved to ``options.device``.
        data: the tensors, oriented by ``loaded.direction`` (``data.source`` is what it translates).
        metrics, options, batch_size, log, baselines, progress: as in :func:`evaluate_tensors`.
        data_info: provenance of ``data`` for the report's ``info["data"]`` (e.g. :meth:`EvalSources.info`).

    Returns:
        :class:`EvalReport` whose ``info`` also names the checkpoint, its step, the weights and the direction.
    """
    from volo_adapt.inference.engine import resolve_device, translate_tensors

    options = options or MetricOptions()
    dev = resolve_device(options.device)
    loaded.module.to(dev)

    def translate(x: torch.Tensor) -> torch.Tensor:
        return translate_tensors(loaded, x.to(dev))

    source_path = Path(loaded.source)
    info: dict[str, Any] = {
        "checkpoint": str(source_path),
        "global_step": checkpoint_step(source_path) if getattr(loaded, "kind", "checkpoint") == "checkpoint" else None,
        "weights": getattr(loaded, "weights", None),
        "direction": loaded.direction,
    }
    if data_info is not None:
        info["data"] = data_info
    return evaluate_tensors(
        translate, data.source, data.target, loaded.codec,
        paired_source=data.paired_source, paired_target=data.paired_target,
        metrics=metrics, options=options, batch_size=batch_size, info=info, log=log, baselines=baselines,
        progress=progress,
    )
