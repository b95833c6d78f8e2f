"""The library entry of ``volo eval``: load data, translate, run the registered metrics and the baselines.

Evaluation size: every image (source, target, paired) is brought to one square size ``S`` with the same
policy as the training DataModule (:func:`volo_adapt.data.dataset.fit_square` without random crop: shorter
side resized to ``S``, RGB antialiased, depth and mask nearest, then the centred ``S x S`` window). ``S`` is
the checkpoint's training ``data.image_size`` unless ``image_size`` is given. Images are then encoded with
the checkpoint's :class:`~volo_adapt.data.sample.DepthCodec` (depth outside ``[near, far]`` becomes invalid,
exactly as in training).

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

from volo_adapt.data.sample import DepthCodec, to_network
from volo_adapt.errors import DataError, VoloError
from volo_adapt.metrics.baselines import COMPARISONS, comparison_inputs
from volo_adapt.metrics.registry import (
    MetricInputs,
    MetricOptions,
    MetricResult,
    get_metric,
    resolve_metric_names,
)

Log = Callable[[str], None]


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


def run_metrics(
    comparisons: dict[str, MetricInputs], names: Sequence[str], log: Log | None = None
) -> tuple[dict[str, dict[str, MetricResult]], dict[str, str]]:
    """Run each named metric on each comparison where its required inputs exist.

    A metric that raises :class:`~volo_adapt.errors.VoloError` is reported as skipped with that message.

    Returns:
        ``(results, skipped)`` as in :class:`EvalReport`.
    """
    results: dict[str, dict[str, MetricResult]] = {}
    skipped: dict[str, str] = {}
    options = next(iter(comparisons.values())).options
    for name in names:
        spec = get_metric(name)
        reason = spec.unavailable(options) if spec.unavailable is not None else None
        if reason is not None:
            skipped[name] = reason
            continue
        by_cmp: dict[str, MetricResult] = {}
        for cmp_name in COMPARISONS:
            inp = comparisons.get(cmp_name)
            if inp is None or not all(inp.has(r) for r in spec.requires):
                continue
            if log is not None:
                log(f"{name} [{cmp_name}]")
            try:
                by_cmp[cmp_name] = spec.fn(inp)
            except VoloError as e:  # e.g. the Inception network cannot be built: the other metrics still run
                skipped[name] = str(e)
                by_cmp = {}
                break
        if name in skipped:
            continue
        if by_cmp:
            results[name] = by_cmp
        else:
            needs = " and ".join(spec.requires)
            skipped[name] = f"{name} skipped: needs {needs} data" + (" (--paired DIR)" if "paired" in needs else "")
    return results, skipped


def validation_metrics(
    source_x: torch.Tensor,
    translated_x: torch.Tensor,
    target_x: torch.Tensor,
    codec: DepthCodec,
    metrics: Sequence[str] | None = None,
    keep_nan: bool = False,
) -> dict[str, float]:
    """Cheap batch-level metrics for in-training validation (the same registered functions as ``volo eval``).

    Args:
        source_x: ``(B, 4, H, W)`` source-domain network tensors in ``[0, 1]`` (any device).
        translated_x: ``(B, 4, H, W)`` their translations.
        target_x: ``(M, 4, H, W)`` real target-domain tensors.
        codec: the run's depth codec.
        metrics: names to run (default: every metric registered as ``cheap`` that needs no paired data).
        keep_nan: keep undefined values as NaN (a stable key set, needed when logging with ``sync_dist``).

    Returns:
        ``{"metric/key": value}`` for the model comparison. Batch-level statistics can be undefined (e.g. a
        tail fraction without any discontinuity); they are left out unless ``keep_nan``.
    """
    if metrics is None:
        from volo_adapt.metrics.registry import list_metrics

        metrics = [n for n in list_metrics() if get_metric(n).cheap and "paired" not in get_metric(n).requires]
    else:
        metrics = resolve_metric_names(list(metrics))

    def cpu(t: torch.Tensor) -> torch.Tensor:
        return t.detach().float().cpu()

    inp = MetricInputs(cpu(translated_x), cpu(target_x), codec, source=cpu(source_x))
    results, _ = run_metrics({"model": inp}, metrics)
    out = {}
    for m, by_cmp in results.items():
        for k, v in by_cmp["model"].values.items():
            if keep_nan or math.isfinite(v):
                out[f"{m}/{k}"] = float(v)
    return out


def make_val_metrics_fn(
    codec: DepthCodec, metrics: Sequence[str] | None = None
) -> Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    """Adapter for the training module's ``val_metrics_fn(batch, outputs)`` hook.

    Judges ``outputs["fake_B"]`` (A translated to B) against ``batch["B"]``, with ``batch["A"]`` as its source,
    using :func:`validation_metrics`. Keys are always the same (undefined values are NaN) so that
    ``log_dict(..., sync_dist=True)`` reduces the same keys on every rank.

    Returns:
        ``fn(batch, outputs) -> {"metric/key": 0-d float tensor}``.
    """
    names = list(metrics) if metrics is not None else None

    def fn(batch: dict[str, torch.Tensor], outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        vals = validation_metrics(batch["A"], outputs["fake_B"], batch["B"], codec, names, keep_nan=True)
        return {k: torch.tensor(v, dtype=torch.float32) for k, v in vals.items()}

    return fn


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

    Returns:
        :class:`EvalReport`.
    """
    names = resolve_metric_names(metrics if metrics is None or isinstance(metrics, str) else list(metrics))
    options = options or MetricOptions()
    if len(source) < 2 or len(target) < 2:
        raise DataError(f"evaluation needs at least 2 source and 2 target images, got {len(source)} and {len(target)}")
    if source.shape[1:] != target.shape[1:]:
        raise DataError(f"source and target sizes differ: {tuple(source.shape[1:])} vs {tuple(target.shape[1:])}")
    # generators that sample sensor noise draw from torch's global RNG: seeded here (the caller's stream is
    # restored afterwards) so that an evaluation is reproducible
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        translated = translate_all(translate, source, batch_size, log)
        paired_translated = None
        if paired_source is not None:
            assert paired_target is not None and paired_target.shape == paired_source.shape
            paired_translated = translate_all(translate, paired_source, batch_size, log)
    comparisons = comparison_inputs(
        source, translated, target, codec, options,
        paired_source=paired_source, paired_translated=paired_translated, paired_target=paired_target,
    )
    if not baselines:
        comparisons = {"model": comparisons["model"]}
    results, skipped = run_metrics(comparisons, names, log)
    full_info = {
        "timestamp": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "counts": {
            "source": len(source),
            "target": len(target),
            "paired": 0 if paired_source is None else len(paired_source),
            "floor_half": len(target) // 2 if "floor" in comparisons else 0,
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
        **(info or {}),
    }
    tensors = {"source": source, "translated": translated, "target": target}
    if paired_source is not None:
        tensors.update(paired_source=paired_source, paired_translated=paired_translated, paired_target=paired_target)
    return EvalReport(results, skipped, full_info, tensors, codec)


# ------------------------------------------------------------------------------------------ data loading


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
    from volo_adapt.data.dataset import fit_square
    from volo_adapt.data.sources import open_source, read_sample

    refs = [r for spec in specs for r in open_source(spec)]
    if max_samples is not None:
        refs = refs[:max_samples]
    xs = []
    for ref in refs:
        sample = fit_square(read_sample(ref, depth_scale), image_size, random_crop=False)
        xs.append(to_network(sample, codec)[0])
    return torch.stack(xs), [r.key for r in refs]


def load_paired(
    root: Path, direction: str, image_size: int, codec: DepthCodec, depth_scale: float, max_samples: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Read ``root/A`` and ``root/B`` (same scenes, same keys) as ``(source, true target)`` for ``direction``."""
    from volo_adapt.data.dataset import fit_square
    from volo_adapt.data.sources import open_source, read_sample

    src_dir, tgt_dir = (root / "A", root / "B") if direction == "a2b" else (root / "B", root / "A")
    for d in (src_dir, tgt_dir):
        if not d.is_dir():
            raise DataError(f"--paired {root}: missing folder {d.name}/ (expected {root}/A and {root}/B)")
    src = {r.key: r for r in open_source(str(src_dir))}
    tgt = {r.key: r for r in open_source(str(tgt_dir))}
    if set(src) != set(tgt):
        only = sorted(set(src) ^ set(tgt))
        raise DataError(
            f"--paired {root}: A/ and B/ must hold the same sample names; unmatched: {', '.join(only[:5])}"
            + (f" (+{len(only) - 5} more)" if len(only) > 5 else "")
        )
    keys = sorted(src)[:max_samples] if max_samples is not None else sorted(src)

    def load(ref) -> torch.Tensor:
        return to_network(fit_square(read_sample(ref, depth_scale), image_size, random_crop=False), codec)[0]

    return torch.stack([load(src[k]) for k in keys]), torch.stack([load(tgt[k]) for k in keys])


def checkpoint_step(path: Path) -> int | None:
    """``global_step`` stored in a training checkpoint (optimiser steps, two per batch), or None."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - the step is provenance only; the generator loader reports real errors
        return None
    step = obj.get("global_step") if isinstance(obj, dict) else None
    return int(step) if isinstance(step, int) else None


def default_demo_sources(size: int = 96, n_train: int = 400) -> tuple[list[str], list[str], Path]:
    """``(A/test, B/test, paired/)`` of the built-in demo benchmark (generated on first use).

    ``size`` and ``n_train`` select the same demo set training used (``data.demo_size``, ``data.demo_count``).
    """
    from volo_adapt.synth.demo_set import ensure_demo_dataset

    root = Path(ensure_demo_dataset(size=size, n_train=n_train, seed=0))
    return [str(root / "A" / "test")], [str(root / "B" / "test")], root / "paired"


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
) -> EvalReport:
    """Evaluate one generator: translate the source domain and judge it against the target domain.

    Args:
        loaded: a :class:`~volo_adapt.inference.loading.LoadedGenerator` (its ``direction`` decides which domain
            is the source: ``a2b`` translates ``source_a`` and judges against ``source_b``; ``b2a`` the reverse).
        source_a: domain-A source specs; with ``source_b`` also None, the demo benchmark is used.
        source_b: domain-B source specs.
        paired: folder with ``A/`` and ``B/`` holding the same scenes (same sample names) for the paired
            metrics; None = none (with the demo default: the demo's ``paired/``).
        metrics: names or comma-separated string; None = all.
        max_samples: at most this many images per set.
        batch_size: translation batch size.
        image_size: evaluation side ``S``; default the checkpoint's ``data.image_size``.
        inception_weights: FID Inception weights file (default: the torch hub cache location).
        seed: seeds C2ST, KID subsets and the target halves.
        c2st_epochs: C2ST classifier epochs.
        c2st_repeats: C2ST accuracy = mean over this many classifier seeds ``seed, seed + 1, ...``.
        device: where the generator and metric networks run (``auto``, ``cpu``, ``cuda``, ...).
        log: progress callback.
        baselines: also compute the identity and target-halves baselines (see :func:`evaluate_tensors`).

    Returns:
        :class:`EvalReport` (``info`` names the checkpoint, its step, the sources and the sizes).

    Raises:
        DataError: unreadable or mismatched data; ConfigError: unknown metric names.
    """
    from volo_adapt.inference.engine import resolve_device, translate_tensors

    dev = resolve_device(device)
    names = resolve_metric_names(metrics if metrics is None or isinstance(metrics, str) else list(metrics))
    if (source_a is None) != (source_b is None) or (source_a is not None and (not source_a or not source_b)):
        raise DataError("--data-a and --data-b: give both (or neither, for the built-in demo benchmark)")
    demo = source_a is None
    if demo:
        if log is not None:
            log("preparing the built-in demo benchmark")
        source_a, source_b, demo_paired = default_demo_sources(loaded.config.data.demo_size,
                                                               loaded.config.data.demo_count)
        if paired is None and demo_paired.is_dir():
            paired = demo_paired
    cfg = loaded.config
    codec = loaded.codec
    size = int(image_size or cfg.data.image_size)
    direction = loaded.direction
    src_specs, tgt_specs = (source_a, source_b) if direction == "a2b" else (source_b, source_a)
    if log is not None:
        log(f"reading data at {size}x{size}")
    source, _ = load_network_tensors(src_specs, size, codec, cfg.data.depth_scale, max_samples)
    target, _ = load_network_tensors(tgt_specs, size, codec, cfg.data.depth_scale, max_samples)
    paired_source = paired_target = None
    if paired is not None:
        paired_source, paired_target = load_paired(
            Path(paired), direction, size, codec, cfg.data.depth_scale, max_samples
        )
    loaded.module.to(dev)

    def translate(x: torch.Tensor) -> torch.Tensor:
        return translate_tensors(loaded, x.to(dev))

    source_path = Path(loaded.source)
    info = {
        "checkpoint": str(source_path),
        "global_step": checkpoint_step(source_path) if getattr(loaded, "kind", "checkpoint") == "checkpoint" else None,
        "weights": getattr(loaded, "weights", None),
        "direction": direction,
        "data": {
            "source": list(src_specs),
            "target": list(tgt_specs),
            "paired": None if paired is None else str(paired),
            "demo": demo,
        },
    }
    options = MetricOptions(
        seed=seed,
        device=str(dev),
        inception_weights=None if inception_weights is None else Path(inception_weights),
        c2st_epochs=c2st_epochs,
        c2st_repeats=c2st_repeats,
    )
    return evaluate_tensors(
        translate, source, target, codec,
        paired_source=paired_source, paired_target=paired_target,
        metrics=names, options=options, batch_size=batch_size, info=info, log=log, baselines=baselines,
    )
