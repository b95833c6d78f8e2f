"""`volo data synth`: write the synthetic two-sensor benchmark (domain B from the sensor zoo, `--sensor`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cli.app import data_app, examples
from cli.console import make_console, make_progress
from volo_adapt.errors import VoloError, first_line


def _list_sensors(console: Console) -> None:
    """Rich table of the zoo: name, family, description, parameters with units, draw ranges and defaults."""
    from volo_adapt.synth.zoo import DEFAULT_SENSOR, describe_sensors

    table = Table(title="target sensors (volo data synth --sensor NAME)",
                  caption=f"default: {DEFAULT_SENSOR}; drawn per data set from the ranges by --seed; "
                          "pin one with --sensor-param KEY=VALUE", show_lines=True)
    for col in ("name", "family", "description", "parameters (unit): range, default"):
        table.add_column(col, overflow="fold")
    for row in describe_sensors():
        params = escape("\n".join(f"{p['name']} ({p['unit'] or '-'}): {p['draw']}, default {p['default']}"
                                   for p in row["params"]))
        table.add_row(row["name"], row["kind"], row["description"], params)
    console.print(table)


def _drawn_sensor(sensor: str | None, params: list[str], seed: int):
    """The zoo sensor for ``--sensor``/``--sensor-param`` (``None`` when neither is given: built-in sensor B)."""
    from volo_adapt.synth.zoo import DEFAULT_SENSOR, FAMILIES, make_sensor

    if sensor is None and not params:
        return None
    name = sensor or DEFAULT_SENSOR
    if name not in FAMILIES:
        raise VoloError(f"--sensor {name}: unknown sensor (known: {', '.join(FAMILIES)}; see --list-sensors)")
    try:
        return make_sensor(name, seed, params)
    except VoloError as e:
        raise VoloError(f"--sensor-param: {first_line(e)}") from None


@data_app.command("synth", epilog=examples(
    "volo data synth bench/ --n-train 400 --n-test 64 --size 64 --seed 0",
    "volo data synth --list-sensors",
    "volo data synth tof_bench/ --sensor tof --sensor-param ambiguity_m=3.0",
))
def synth(
    out: Path | None = typer.Argument(None, help="Output folder (new or empty): gets A/, B/, paired/, synth.json."),
    n_train: int = typer.Option(400, "--n-train", help="Training samples per domain (A and B, unpaired)."),
    n_test: int = typer.Option(64, "--n-test", help="Test samples per domain, and paired scenes in paired/."),
    size: int = typer.Option(96, "--size", help="Image side in pixels (square)."),
    seed: int = typer.Option(0, "--seed", help="Seed; the same seed gives byte-identical files."),
    preview: Path | None = typer.Option(None, "--preview", help="Also write a PNG grid of paired A/B samples."),
    sensor: str | None = typer.Option(None, "--sensor", help="Target sensor of domain B from the zoo "
                                      "(default builtin_lidar; see --list-sensors)."),
    sensor_param: list[str] = typer.Option([], "--sensor-param", help="KEY=VALUE: pin one sensor parameter "
                                           "(repeatable); the others are drawn from their ranges by --seed."),
    list_sensors: bool = typer.Option(False, "--list-sensors", help="List the target sensors and exit."),
) -> None:
    """Generate synthetic RGB-D for two sensors: A = clean render (source), B = phone RGB + LiDAR model (target)."""
    if list_sensors:
        _list_sensors(make_console())
        return
    if out is None:
        raise VoloError("OUT: missing output folder (or use --list-sensors)")
    from volo_adapt.synth.dataset_writer import check_synth_args, write_synth_dataset

    check_synth_args(out, n_train, n_test, size, seed)  # fail before drawing a progress bar
    drawn = _drawn_sensor(sensor, sensor_param, seed)
    console = make_console(stderr=True)
    columns = (TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with make_progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("synth", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        m = write_synth_dataset(out, n_train=n_train, n_test=n_test, size=size, seed=seed, preview=preview,
                                progress=progress, sensor=drawn)
    counts = ", ".join(f"{k} {v}" for k, v in m["counts"].items())
    console.print(f"wrote {out} ({size}x{size}, seed {seed}): {counts}", highlight=False)
    if drawn is not None:
        console.print(f"sensor B: {drawn.name} (parameters in synth.json)", highlight=False)
    if preview is not None:
        console.print(f"preview: {preview}", highlight=False)
