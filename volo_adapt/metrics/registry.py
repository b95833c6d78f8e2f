"""The metric registry: every evaluation number has one registered function, used by ``volo eval`` and by training.

In the style of stylegan2-ada's ``metric_main``: ``@register_metric("name")`` adds a function,
:func:`list_metrics` lists them, :func:`resolve_metric_names` validates a selection (``volo eval
--metrics``; unknown names raise :class:`~volo_adapt.errors.ConfigError` listing the valid ones). A metric's name
states its protocol.

A metric function receives one :class:`MetricInputs` (a *candidate* set judged against a *reference* set
of real target images, plus optional aligned source / paired data) and returns a :class:`MetricResult`.
The same function is called for the model's translations and for the baselines (see ``baselines.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from volo_adapt.data.sample import DepthCodec, from_network
from volo_adapt.errors import ConfigError


@dataclass
class MetricOptions:
    """Settings shared by all metrics of one evaluation.

    Attributes:
        seed: seeds every random choice of a metric (C2ST split and weights, KID subsets, target halves).
        device: torch device for networks (C2ST classifier, Inception).
        inception_weights: FID Inception weights file; None = the torch hub cache location.
        c2st_epochs: training epochs of the C2ST classifier.
        c2st_repeats: C2ST accuracy = mean over this many classifier seeds (splits); one seed is a noisy judge.
        c2st_size: C2ST images larger than this are subsampled (nearest) to at most this side.
        depth_bin_m: width in metres of the range bins of the noise-against-distance curve.
    """

    seed: int = 0
    device: str = "cpu"
    inception_weights: Path | None = None
    c2st_epochs: int = 30
    c2st_repeats: int = 5
    c2st_size: int = 128
    depth_bin_m: float = 0.5


@dataclass
class MetricInputs:
    """What one metric call sees. Network tensors are ``(N, 4, H, W)`` float32 in ``[0, 1]`` (DepthCodec depth).

    Attributes:
        candidate: the set being judged (translated images; for baselines the source, or a target half).
        reference: real target-domain images ``(M, 4, H, W)`` (unpaired with ``candidate``).
        codec: decodes the depth channel to metres.
        source: ``(N, 4, H, W)`` the images ``candidate`` was made from, aligned index by index, or None.
        paired_candidate: ``(P, 4, H, W)`` the judged version of paired source scenes, or None.
        paired_target: ``(P, 4, H, W)`` the true target rendering of the same scenes, or None.
        options: shared settings.
        cache: memo of decoded sets, features and networks, keyed by tensor identity; the comparisons of one
            evaluation share one dict, so the reference set is decoded and featurised once.
    """

    candidate: torch.Tensor
    reference: torch.Tensor
    codec: DepthCodec
    source: torch.Tensor | None = None
    paired_candidate: torch.Tensor | None = None
    paired_target: torch.Tensor | None = None
    options: MetricOptions = field(default_factory=MetricOptions)
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("candidate", "reference", "source", "paired_candidate", "paired_target"):
            t = getattr(self, name)
            assert t is None or (t.ndim == 4 and t.shape[1] == 4), f"{name} must be (N,4,H,W), got {tuple(t.shape)}"
        if self.source is not None:
            assert self.source.shape == self.candidate.shape, "source must be aligned with candidate"
        if self.paired_candidate is not None:
            assert self.paired_target is not None and self.paired_target.shape == self.paired_candidate.shape

    def has(self, what: str) -> bool:
        """Whether the optional input ``source`` or ``paired`` is present."""
        if what == "paired":
            return self.paired_candidate is not None
        return getattr(self, what) is not None

    def decoded(self, name: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(rgb (N,3,H,W) [0,1], depth (N,1,H,W) metres, valid (N,1,H,W) bool)`` of the named set, cached."""
        x = getattr(self, name)
        assert x is not None, f"{name} is not available"
        return self.memo(name, "decoded", lambda: from_network(x.float(), self.codec))

    def memo(self, name: str, what: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per (tensor of set ``name``, ``what``); the key is the tensor's identity."""
        tensor = getattr(self, name)
        key = (id(tensor), what)
        if key not in self.cache:
            self.cache[key] = (tensor, compute())  # holding the tensor keeps its id from being reused
        return self.cache[key][1]


@dataclass
class MetricResult:
    """One metric's numbers for one comparison.

    Attributes:
        values: scalar results (floats; NaN where undefined), e.g. ``{"value": .., "target": .., "abs_diff": ..}``.
        details: JSON-serialisable extras (curves, counts) written to the JSON report, not to the table.
    """

    values: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


MetricFn = Callable[[MetricInputs], MetricResult]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes:
        name: the registry name (states the protocol).
        fn: the function.
        description: one line for ``--help`` and the report.
        requires: optional inputs the metric needs (``"source"``, ``"paired"``); without them it is n/a.
        cheap: fast enough to run inside training validation (batch-level, no training, no big network).
        unavailable: returns a one-line reason when the metric cannot run at all (e.g. missing weights).
    """

    name: str
    fn: MetricFn
    description: str
    requires: tuple[str, ...] = ()
    cheap: bool = False
    unavailable: Callable[[MetricOptions], str | None] | None = None


_REGISTRY: dict[str, MetricSpec] = {}


def register_metric(
    name: str,
    *,
    description: str,
    requires: tuple[str, ...] = (),
    cheap: bool = False,
    unavailable: Callable[[MetricOptions], str | None] | None = None,
) -> Callable[[MetricFn], MetricFn]:
    """Decorator: register ``fn`` under ``name`` (names are unique)."""

    def wrap(fn: MetricFn) -> MetricFn:
        assert name not in _REGISTRY, f"metric {name!r} registered twice"
        assert set(requires) <= {"source", "paired"}, f"unknown requirement in {requires}"
        _REGISTRY[name] = MetricSpec(name, fn, description, tuple(requires), cheap, unavailable)
        return fn

    return wrap


def _ensure_builtin() -> None:
    from volo_adapt.metrics import builtin  # noqa: F401  (registers the built-in metrics on import)


def list_metrics() -> list[str]:
    """Names of all registered metrics, in registration order."""
    _ensure_builtin()
    return list(_REGISTRY)


def get_metric(name: str) -> MetricSpec:
    """The spec of ``name``; ConfigError listing the valid names if unknown."""
    _ensure_builtin()
    if name not in _REGISTRY:
        raise ConfigError(f"unknown metric {name!r}; valid metrics: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def resolve_metric_names(names: str | list[str] | None) -> list[str]:
    """Validate a metric selection (comma-separated string or list; None/empty/``all`` = every metric).

    Raises:
        ConfigError: an unknown name (``unknown metric 'x'; valid metrics: ...``).
    """
    _ensure_builtin()
    if names is None:
        return list(_REGISTRY)
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    names = [n.strip() for n in names if n.strip()]
    if not names or names == ["all"]:
        return list(_REGISTRY)
    out: list[str] = []
    for n in names:
        get_metric(n)
        if n not in out:
            out.append(n)
    return out


def finite_or_nan(x: float) -> float:
    """``float(x)``, with infinities turned into NaN (JSON and tables show 'n/a' for both)."""
    x = float(x)
    return x if math.isfinite(x) else math.nan
