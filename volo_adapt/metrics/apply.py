"""Apply registered metrics to comparisons: :func:`run_metrics` (``volo eval``, via
:mod:`volo_adapt.metrics.evaluate`) and its cheap batch-level form for in-training validation
(:func:`validation_metrics`, :func:`make_val_metrics_fn`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from volo_adapt.data.sample import DepthCodec
from volo_adapt.errors import VoloError
from volo_adapt.metrics.baselines import COMPARISONS
from volo_adapt.metrics.registry import MetricInputs, MetricResult, get_metric, resolve_metric_names

Log = Callable[[str], None]
"""A progress callback: receives one short line per step."""


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
