"""The model card (``README.md``) of a Hub-layout export: YAML front matter as the Hugging Face Hub reads it, then
what the model does, how it was trained, how to use it and, when a ``volo eval`` report is attached, its headline
rows (:mod:`volo_adapt.metrics.headline`).

An evaluation report is the JSON that ``volo eval --out FILE`` writes, or one line of a run's ``metrics.jsonl``
(the last one of the file is used); :func:`read_eval_report` reads either.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from volo_adapt.errors import OptionError, first_line
from volo_adapt.metrics.headline import HEADLINE_ROWS

_COLUMNS = ("model", "identity", "floor", "sensor")
"""Comparison columns of the evaluation table (as ``volo eval`` prints them)."""
_TAGS = ("volo-adapt", "rgb-d", "depth", "domain-adaptation", "image-to-image", "gan")


def read_eval_report(path: str | Path) -> dict[str, Any]:
    """A ``volo eval`` report: the JSON of ``--out FILE``, or the last line of a ``metrics.jsonl``.

    Raises:
        OptionError: (option ``eval_report``) missing or unreadable, not JSON, or not a ``volo eval`` report.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise OptionError("eval_report", f"cannot read ({getattr(e, 'strerror', None) or e})", str(path)) from e
    lines = [ln for ln in text.splitlines() if ln.strip()]
    try:
        report = json.loads(lines[-1] if path.suffix == ".jsonl" and lines else text)
    except ValueError as e:
        raise OptionError("eval_report", f"not JSON ({first_line(e)})", str(path)) from e
    if not isinstance(report, dict) or "volo_eval_format" not in report or not isinstance(report.get("results"), dict):
        raise OptionError("eval_report", "not a volo eval report (write one with volo eval --out FILE)", str(path))
    return report


def model_card(config: dict[str, Any], eval_report: dict[str, Any] | None, name: str, license: str) -> str:
    """The card's Markdown text.

    Args:
        config: the folder's ``config.json`` dict (:func:`~volo_adapt.inference.hub.hub_config`).
        eval_report: a report of :func:`read_eval_report`, or None ("no evaluation was attached").
        name: the model's name (the folder's), used in the title and the usage example.
        license: the Hub licence id for the front matter.
    """
    norm = config["normalisation"]
    codec = config["codec"]
    front = yaml.safe_dump(
        {"library_name": "volo-adapt", "license": license, "tags": list(_TAGS), "pipeline_tag": "image-to-image"},
        sort_keys=False,
    )
    parts = [
        f"---\n{front}---\n",
        f"# {name}\n",
        f"A volo-adapt `{config['generator']}` generator that translates RGB-D images"
        f" {norm['domains']} (direction `{config['direction']}`, {config['weights']} weights), made with"
        f" volo-adapt {config['volo_version']} from `{config['source']}`.\n",
        "## Input and output\n",
        f"RGB-D images: colour in `[0, 1]` (or 8-bit) and depth in metres. Depth in `[{codec['near']}, {codec['far']}]`"
        f" m is encoded into the network's 4th channel with a reserved invalid band of {codec['depth_gap']}; depth"
        " outside that range, zero, NaN or inf is invalid and enters as 0 in all four channels. Network sides must"
        f" be multiples of {config['size_multiple']}" + (" and square" if config["requires_square"] else "")
        + " (`Translator` pads and crops for you). The full contract is `normalisation` in `config.json`.\n",
        "## Usage\n",
        "```python\n# pip install 'volo-adapt[hub]'\nfrom volo_adapt import Translator\n\n"
        f'translator = Translator.from_pretrained("YOUR_ORG/{name}")  # or the local folder\n'
        "rgb_out, depth_out = translator(rgb, depth)  # rgb (H, W, 3) uint8 or float, depth (H, W) metres\n```\n",
        _training_section(config),
        _eval_section(eval_report),
    ]
    return "\n".join(parts)


def _training_section(config: dict[str, Any]) -> str:
    """The run's resolved config as YAML and the command that trains with it."""
    body = yaml.safe_dump(config["config"], sort_keys=False).rstrip()
    return (
        "## Training\n\n"
        "Trained by `volo train` with the resolved configuration below (data paths are those of the training"
        " machine). To train again, save it as `config.yaml` and run `volo train --config config.yaml` (point"
        " `--data-a`/`--data-b` at your copies of the data).\n\n"
        f"```yaml\n{body}\n```\n"
    )


def _eval_section(report: dict[str, Any] | None) -> str:
    """The headline rows of ``report`` as a Markdown table, or a line saying that no evaluation was attached."""
    if report is None:
        return (
            "## Evaluation\n\nNo evaluation was attached to this export (evaluate with `volo eval --out report.json`"
            " and export with `--eval-json report.json`).\n"
        )
    results = report.get("results", {})
    rows = []
    for row in HEADLINE_ROWS:
        metric, key = row.key.split("/", 1)
        cells = [_value(results.get(metric, {}).get(c, {}).get(key)) for c in _COLUMNS]
        if cells[0] != "n/a":
            rows.append(f"| {row.label} | {row.better} | " + " | ".join(cells) + f" | {row.target or '-'} |")
    counts = report.get("counts", {}) if isinstance(report.get("counts"), dict) else {}
    size = "x".join(str(s) for s in report.get("eval_size", []) or []) or "?"
    head = (
        f"`volo eval` of `{Path(str(report.get('checkpoint', '?'))).name}` (step {report.get('global_step', '?')}):"
        f" {counts.get('source', '?')} source / {counts.get('target', '?')} target images"
        + (f" / {counts['paired']} pairs" if counts.get("paired") else "") + f" at {size}."
        " Columns: model = translated vs target; identity = source as-is vs target (doing nothing); floor = one"
        " target half vs the other; sensor = the true target renderings of paired scenes.\n"
    )
    if not rows:
        return f"## Evaluation\n\n{head}\nThe report holds none of the headline metrics.\n"
    table = "| metric | better | " + " | ".join(_COLUMNS) + " | target |\n|" + " --- |" * (len(_COLUMNS) + 3)
    return f"## Evaluation\n\n{head}\n{table}\n" + "\n".join(rows) + "\n"


def _value(v: Any) -> str:
    """A table cell: 4 significant digits, ``n/a`` for a missing or non-finite value."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return "n/a"
    return f"{v:.4g}"
