"""Evaluation metrics: a registry of named protocols shared by ``volo eval`` and in-training validation.

Public entry points:

* :func:`~volo_adapt.metrics.registry.register_metric`, :func:`~volo_adapt.metrics.registry.list_metrics`,
  :func:`~volo_adapt.metrics.registry.resolve_metric_names` (validates ``--metrics``).
* :func:`~volo_adapt.metrics.evaluate.evaluate` (checkpoint + data -> :class:`EvalReport`) and
  :func:`~volo_adapt.metrics.evaluate.evaluate_tensors` (a translate function + tensors).
* :func:`~volo_adapt.metrics.evaluate.validation_metrics` (cheap batch-level numbers for training) and
  :func:`~volo_adapt.metrics.evaluate.make_val_metrics_fn` (the training module's ``val_metrics_fn`` hook).
"""

from __future__ import annotations

from volo_adapt.metrics.evaluate import (
    EvalReport,
    evaluate,
    evaluate_tensors,
    make_val_metrics_fn,
    validation_metrics,
)
from volo_adapt.metrics.registry import (
    MetricInputs,
    MetricOptions,
    MetricResult,
    get_metric,
    list_metrics,
    register_metric,
    resolve_metric_names,
)

__all__ = [
    "EvalReport",
    "MetricInputs",
    "MetricOptions",
    "MetricResult",
    "evaluate",
    "evaluate_tensors",
    "get_metric",
    "list_metrics",
    "make_val_metrics_fn",
    "register_metric",
    "resolve_metric_names",
    "validation_metrics",
]
