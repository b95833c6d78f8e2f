"""The end-to-end demo behind ``make demo`` / ``volo demo``: train, translate, evaluate on the built-in data.

Steps (each is the same library function the individual commands call):

1. :func:`volo_adapt.training.run.train` with ``configs/demo.yaml`` on the built-in synthetic benchmark
   (generated once into the cache), resuming if ``OUT/run`` already holds a checkpoint;
2. :func:`volo_adapt.inference.translate.translate_source` of the benchmark's A test split into ``OUT/translated``;
3. :func:`volo_adapt.metrics.evaluate.evaluate` of the trained A->B generator **and** of the same architecture with
   freshly initialised (untrained) weights, written to ``OUT/eval_trained.json`` (with the identity and
   target-vs-target baselines) and ``OUT/eval_untrained.json`` (model rows only), plus plots and the
   self-contained ``eval_report.html`` in ``OUT/plots``.

The untrained comparison is there so the demo's numbers can be read honestly: a metric only says the model learned
something when the trained value is closer to the target floor than both the untrained and the identity values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from volo_adapt.config import RunConfig, load_config
from volo_adapt.directions import Direction
from volo_adapt.metrics.headline import HEADLINE_ROWS, headline_metrics, meets_target  # noqa: E402

HEADLINE_METRICS: tuple[str, ...] = tuple(headline_metrics())
"""Metrics the demo evaluates: those behind the headline rows (:mod:`volo_adapt.metrics.headline`)."""


@dataclass
class DemoResult:
    """What :func:`run_demo` produced.

    Attributes:
        run_dir: the training run folder (``OUT/run``).
        checkpoint: the checkpoint evaluated (``OUT/run/checkpoints/last.ckpt``).
        translated_dir: the translated A test split.
        reports: ``{"trained": EvalReport, "untrained": EvalReport}``.
        files: report and plot files written.
    """

    run_dir: Path
    checkpoint: Path
    translated_dir: Path
    reports: dict = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


def untrained_like(loaded, seed: int):
    """A copy of ``loaded`` whose generator has the same architecture and freshly initialised weights."""
    from volo_adapt.build import build_generator

    torch.manual_seed(seed)
    module = build_generator(loaded.config.model, loaded.config.data, loaded.direction).eval().requires_grad_(False)
    device = next(loaded.module.parameters()).device
    return dataclasses.replace(loaded, module=module.to(device), weights="untrained")


def run_demo(
    out_dir: str | Path,
    config: str | Path = "demo",
    overrides: list[str] | None = None,
    log: Callable[[str], None] = print,
    max_eval_samples: int = 64,
) -> DemoResult:
    """Train the demo preset, translate the test split, evaluate trained vs untrained (see module docstring).

    Args:
        out_dir: output folder; ``run/``, ``translated/``, ``plots/`` and the JSON reports go inside.
        config: preset name or YAML file (default ``demo``).
        overrides: ``key=value`` config overrides (e.g. ``train.max_epochs=1`` for a quick look).
        log: receives one-line progress messages.
        max_eval_samples: images per evaluated set.
    """
    from volo_adapt.inference.loading import load_generator
    from volo_adapt.inference.translate import translate_source
    from volo_adapt.metrics.evaluate import default_demo_sources, evaluate
    from volo_adapt.metrics.plots import write_plots
    from volo_adapt.metrics.report import append_jsonl, write_json
    from volo_adapt.metrics.report_html import REPORT_NAME, write_report_html
    from volo_adapt.training.run import train

    out = Path(out_dir)
    cfg: RunConfig = load_config(config, overrides)
    if cfg.data.data_a or cfg.data.data_b:
        log("note: the demo always uses the built-in synthetic benchmark; data_a/data_b are ignored")
        cfg = cfg.replace(data={"data_a": [], "data_b": []})
    run_dir = out / "run"
    log(f"1/3 training the {config} preset into {run_dir} (resumes if a checkpoint is there)")
    result = train(cfg, run_dir, resume="auto")
    for note in result.notes:  # e.g. the target's native depth grid that `native_grid: auto` found
        log(f"    note: {note}")
    ckpt = result.last_checkpoint or run_dir / "checkpoints" / "last.ckpt"
    for line in result.health:
        log(f"health: {line}")

    src_a, src_b, paired = default_demo_sources(cfg.data.demo_size, cfg.data.demo_count)
    translated = out / "translated"
    log(f"2/3 translating {src_a[0]} -> {translated}")
    loaded = load_generator(ckpt, direction=Direction.A2B.value)
    report = translate_source(src_a[0], translated, loaded, batch_size=8, device="auto", skip_existing=True)
    log(
        f"    {len(report.translated)} translated, {len(report.skipped)} already there, {len(report.failed)} failed"
        f" ({report.images_per_s:.1f} images/s)"
    )

    res = DemoResult(run_dir=run_dir, checkpoint=ckpt, translated_dir=translated)
    for name, gen in (("trained", loaded), ("untrained", untrained_like(loaded, cfg.train.seed))):
        log(f"3/3 evaluating the {name} generator on {max_eval_samples} test images per set")
        # the identity and floor baselines depend only on the data: computed once, with the trained generator
        rep = evaluate(gen, src_a, src_b, paired=paired, metrics=list(HEADLINE_METRICS),
                       max_samples=max_eval_samples, baselines=name == "trained")
        rep.info["weights"] = name
        res.reports[name] = rep
        res.files.append(write_json(rep, out / f"eval_{name}.json"))
        if name == "trained":
            append_jsonl(rep, run_dir)
            pngs = write_plots(rep, out / "plots")
            res.files.extend([*pngs, write_report_html(rep, out / "plots" / REPORT_NAME, pngs)])
    return res


@dataclass
class ComparisonRow:
    """One headline row of the demo report (see :mod:`volo_adapt.metrics.headline`).

    ``trained``/``untrained``: the generator's value with trained / fresh weights; ``identity``: the untouched
    source; ``floor``: target half vs other half; ``sensor``: the true target renderings of the paired scenes
    (None where a value is n/a); ``met``: whether ``trained`` meets ``target`` (None without a target).
    """

    label: str
    key: str
    better: str
    trained: float | None
    untrained: float | None
    identity: float | None
    floor: float | None
    sensor: float | None
    target: str
    met: bool | None


def comparison_rows(result: DemoResult) -> list[ComparisonRow]:
    """The headline rows of the trained and untrained reports, with the reference values beside them."""
    trained, untrained = result.reports["trained"], result.reports["untrained"]
    t, u = trained.flat("model"), untrained.flat("model")
    ident, floor, sensor = trained.flat("identity"), trained.flat("floor"), trained.flat("sensor")
    rows = []
    for row in HEADLINE_ROWS:
        if row.key not in t:
            continue
        met = None
        if row.target and row.key in ident:
            met = meets_target(row.target, t[row.key], ident[row.key], sensor.get(row.key))
        rows.append(ComparisonRow(row.label, row.key, row.better, t[row.key], u.get(row.key), ident.get(row.key),
                                  floor.get(row.key), sensor.get(row.key), row.target, met))
    return rows
