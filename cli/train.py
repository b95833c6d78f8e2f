"""`volo train`: thin wrapper over :func:`volo_adapt.training.run.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from cli.app import app, examples
from cli.console import is_launched_worker, make_console
from volo_adapt.config import RunConfig, load_config, preset_names
from volo_adapt.directions import Domain
from volo_adapt.errors import ConfigError
from volo_adapt.training.loggers import LOGGERS, check_logger_installed

FLAG_KEYS = {
    "--data-a": "data.data_a", "--data-b": "data.data_b", "--max-steps": "train.max_steps",
    "--max-epochs": "train.max_epochs", "--max-time": "train.max_time", "--devices": "train.devices",
    "--num-nodes": "train.num_nodes", "--strategy": "train.strategy", "--accelerator": "train.accelerator",
    "--precision": "train.precision", "--skip-bad": "data.skip_bad", "--logger": "train.logger",
}
"""The options of `volo train` that set a config key: applied after the preset and --set, before the one validation."""


def _summary_table(info: dict) -> Table:
    table = Table(title="volo train", show_header=False, show_lines=False)
    table.add_column("what", style="bold")
    table.add_column("value", overflow="fold")
    for d in (x.value for x in Domain):
        src = info["data"][d]
        table.add_row(f"domain {d}", f"{', '.join(src['sources'])}\n{src['samples']}")
    if info.get("skipped_bad_samples"):
        table.add_row("skipped", f"[yellow]{info['skipped_bad_samples']} unreadable samples (--skip-bad)[/]")
    params = info["params"]
    table.add_row(
        "model",
        f"generators {params['gen_a2b']:,} + {params['gen_b2a']:,} params, "
        f"critics {params['critic_a']:,} + {params['critic_b']:,}" + (" (+ EMA copies)" if info.get("ema") else ""),
    )
    table.add_row("device", info["device"])
    table.add_row("precision", info["precision"])
    if "step" in info:
        table.add_row("step", info["step"])
    table.add_row(
        "schedule",
        f"{info['batches_per_epoch']} batches/epoch, {info['planned_batches']} planned"
        + (f", resuming at batch {info['resumed_at_batch']}" if info.get("resumed_at_batch") else ""),
    )
    table.add_row("run dir", info["run_dir"])
    for note in info.get("notes", []):
        table.add_row("note", f"[cyan]{note}[/]")
    return table


def _params_table(counts: dict[str, int]) -> Table:
    table = Table(title="parameters (trainable)")
    table.add_column("network")
    table.add_column("parameters", justify="right")
    for name, n in counts.items():
        table.add_row(name, f"{n:,}")
    table.add_row("total", f"{sum(counts.values()):,}", style="bold")
    return table


def _preset(config: str | None, resume: str | None, out: Path | None, has_data: bool) -> str:
    """``--config``; resuming a run folder without it: the run's own ``config.yaml``; else demo (no data) or
    vologan."""
    saved = out / "config.yaml" if (resume and config is None and out is not None) else None
    if saved is not None and saved.is_file():
        return str(saved)  # resuming a run without --config: continue with the run's own resolved config
    return config or ("vologan" if has_data else "demo")


def _load(preset: str, set_: list[str], flags: dict[str, Any]) -> RunConfig:
    """The preset, then ``--set``, then the options given (``{option: value}``, None = not given), validated once.

    Raises:
        ConfigError: as :func:`~volo_adapt.config.load_config`; a value an option gave is named by the option
            (``--max-time '10 minutes': expected ... (config key train.max_time)``).
    """
    given = {flag: value for flag, value in flags.items() if value is not None}
    try:
        cfg = load_config(preset, set_, values={FLAG_KEYS[flag]: value for flag, value in given.items()})
        check_logger_installed(cfg.train.logger)  # a missing wandb/mlflow: one line now, not after data checks
        return cfg
    except ConfigError as e:
        msg = str(e)
        for flag in given:
            key = FLAG_KEYS[flag]
            if msg.startswith((f"{key}:", f"{key} ")):
                raise ConfigError(f"{flag}{msg[len(key):]} (config key {key})") from e
        raise


def _print_outcome(console: Console, result: Any, run_dir: Path) -> None:
    """Health warnings, then one line: done or interrupted, batches, last checkpoint, samples (, requeue); printed by
    local rank 0 only (see :func:`cli.console.is_launched_worker`)."""
    if is_launched_worker():
        return
    for msg in result.health:
        console.print(f"[yellow]{msg}[/]", highlight=False)
    state = "done"
    if result.interrupted:  # a stop signal: last.ckpt holds the last batch, exit code 0, resume with --resume auto
        state = f"interrupted ({result.stop_signal})" if result.stop_signal else "interrupted"
    console.print(
        f"{state}: {result.batches_done} batches, last checkpoint {result.last_checkpoint}, "
        f"{len(result.samples)} sample grids in {run_dir / 'samples'}"
        + (f", {result.skipped_steps} optimiser steps skipped (non-finite)" if result.skipped_steps else ""),
        highlight=False,
    )
    if result.keep_rates:
        console.print(f"estimated share of returns the target keeps per depth bin (A -> B; bins under 0.50 are "
                      f"dropped): {result.keep_rates}", highlight=False)
    if result.requeue:
        console.print(result.requeue, highlight=False)


@app.command("train", epilog=examples(
    "volo train                                   # the demo preset on the built-in demo data",
    "volo train --config vologan --data-a renders/ --data-b phone/ --out runs/v1",
    "volo train --config demo --max-time 10m --set loss.cycle_weight=5",
    "volo train --out runs/v1 --resume auto       # continue a run after an interruption",
    "volo train --config cyclegan --dry-run       # the resolved config and parameter counts",
))
def train_cmd(
    config: str = typer.Option(
        None,
        "--config",
        "-c",
        help=f"YAML file or preset ({', '.join(preset_names())}). Default: the run folder's config.yaml when "
        "resuming with --out, else demo without data and vologan with data.",
    ),
    data_a: list[str] = typer.Option(
        None, "--data-a", help="Domain A (source/synthetic) source; repeatable. None: the built-in demo set."
    ),
    data_b: list[str] = typer.Option(
        None, "--data-b", help="Domain B (target/sensor) source; repeatable. None: the built-in demo set."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default: runs/<config name>)."),
    max_steps: int = typer.Option(None, "--max-steps", help="Stop after N training batches (not optimiser steps)."),
    max_epochs: int = typer.Option(None, "--max-epochs", help="Epochs to train."),
    max_time: str = typer.Option(
        None, "--max-time", help="Wall-clock budget (10m, 1h30m, HH:MM:SS): train until it is spent, with the "
        "learning-rate schedule planned over it (equal-budget comparisons)."
    ),
    devices: str = typer.Option(None, "--devices", help="Devices per node (Lightning syntax: auto, 1, 2, '0,1')."),
    num_nodes: int = typer.Option(None, "--num-nodes", help="Machines (torchrun/SLURM launch; see the README)."),
    strategy: str = typer.Option(None, "--strategy", help="auto | ddp (fsdp is refused: see the README)."),
    accelerator: str = typer.Option(None, "--accelerator", help="cpu | gpu | auto."),
    precision: str = typer.Option(None, "--precision", help="32-true | bf16-mixed | 16-mixed."),
    logger: str = typer.Option(None, "--logger", help=f"{' | '.join(LOGGERS)}: where losses, learning rates, "
                               "samples and metrics go (RUN_DIR/logs/; see the README). Default: the config's."),
    resume: str = typer.Option(
        None, "--resume", help="'auto' (RUN_DIR/checkpoints/last.ckpt if present) or a checkpoint path."
    ),
    set_: list[str] = typer.Option(None, "--set", help="Override a config key, e.g. --set loss.cycle_weight=5."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved config and parameter counts; exit."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Skip unreadable samples (reported) instead of failing."),
) -> None:
    """Train a VoloGAN/CycleGAN translator between two unpaired RGB-D domains (A -> B and back)."""
    from volo_adapt.training.run import train

    preset = _preset(config, resume, out, bool(data_a or data_b))
    cfg = _load(preset, list(set_ or []), {
        "--data-a": list(data_a) if data_a else None, "--data-b": list(data_b) if data_b else None,
        "--max-steps": max_steps, "--max-epochs": max_epochs, "--max-time": max_time, "--devices": devices,
        "--num-nodes": num_nodes, "--strategy": strategy, "--accelerator": accelerator, "--precision": precision,
        "--logger": logger, "--skip-bad": True if skip_bad else None,
    })
    run_dir = out if out is not None else Path("runs") / Path(preset).stem
    console = make_console()
    if dry_run:
        result = train(cfg, run_dir, dry_run=True)
        console.print(cfg.to_yaml(), highlight=False, markup=False)
        console.print(_params_table(result.param_counts))
        return
    result = train(cfg, run_dir, resume=resume, on_start=lambda info: console.print(_summary_table(info)))
    _print_outcome(console, result, run_dir)
