"""`volo data` commands: `check` (data.check.check_sources) and `pack` (data.pack.pack_sources)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.app import data_app, examples
from cli.console import LineProgress, make_console, make_progress
from volo_adapt.data.check import CheckReport, SourceStats, check_sources, format_size
from volo_adapt.data.formats import DEFAULT_PIXEL_LIMIT
from volo_adapt.data.pack_writer import DEFAULT_PART_SIZE, DEFAULT_SHARD_SIZE, PackReport, pack_sources


def _resolutions(st: SourceStats) -> str:
    parts = []
    for (rgb_size, depth_size), n in st.resolutions.most_common():
        size = (
            format_size(rgb_size) if rgb_size == depth_size else f"{format_size(rgb_size)} / {format_size(depth_size)}"
        )
        parts.append(f"{size} ({n})")
    return "\n".join(parts) or "-"


def _formats(st: SourceStats) -> str:
    """``"rgb / depth"`` formats, with counts only where a source mixes formats."""

    def one(c) -> str:
        if len(c) == 1:
            return next(iter(c))
        return ", ".join(f"{k} ({n})" for k, n in c.most_common()) or "-"

    return f"{one(st.rgb_formats)} / {one(st.depth_formats)}" if st.ok else "-"


def _render(report: CheckReport, console: Console) -> None:
    table = Table(
        title="RGB-D sources",
        caption="sizes WxH as stored, formats: rgb / depth; (n): number of samples",
        show_lines=True,
    )
    for col in ("source", "kind", "samples", "sizes", "formats", "depth m", "valid"):
        wrap = col in ("source", "sizes", "formats")
        table.add_column(col, overflow="fold", no_wrap=not wrap)
    for st in report.sources:
        samples = f"{st.samples}" + (f"\n[red]{st.bad} bad[/]" if st.bad else "")
        depth = "-" if st.depth_min is None else f"{st.depth_min:.3f}-{st.depth_max:.3f}"
        valid = "-" if st.mean_valid_fraction is None else f"{st.mean_valid_fraction:.1%}"
        table.add_row(st.spec, st.kind, samples, _resolutions(st), _formats(st), depth, valid)
    console.print(table)


@data_app.command("check", epilog=examples(
    "volo data check renders/",
    "volo data check renders/ phone/index.json#train --depth-scale 5000",
))
def check(
    sources: list[str] = typer.Argument(
        ..., help="Source specs: folder with rgb/ and depth/, FILE.json#KEY, FILE.csv, a folder of .npy/.npz, "
        "or a packed folder / s3:// pack."
    ),
    depth_scale: float = typer.Option(
        1000.0, "--depth-scale", help="16-bit PNG depth units per metre (1000 = mm, TUM RGB-D = 5000)."
    ),
    pixel_limit: int = typer.Option(
        DEFAULT_PIXEL_LIMIT, "--pixel-limit", help="Largest H*W accepted per file (decompression-bomb guard)."
    ),
) -> None:
    """Read every sample fully; print per-source statistics and every bad sample (exit code 2 if any)."""
    console = make_console()
    err = make_console(stderr=True)
    with _progress_bar(err, "checking") as bar:
        task = bar.add_task("check", total=None)
        report = check_sources(
            sources,
            depth_scale=depth_scale,
            pixel_limit=pixel_limit,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    _render(report, console)
    if report.bad:
        console.print(f"[bold red]{len(report.bad)} bad sample(s):[/]")
        for b in report.bad:
            console.print(f"  {b.reason}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    console.print(f"[green]all {sum(st.ok for st in report.sources)} samples readable[/]")


def _progress_bar(console: Console, label: str) -> Progress | LineProgress:
    return make_progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def _print_pack(report: PackReport, console: Console) -> None:
    size_mb = report.bytes / 1e6
    if report.already_packed:
        console.print(f"{report.out}: already packed ({report.samples} samples); nothing to do", highlight=False)
    else:
        reused = f", {report.parts_reused} parts kept from an interrupted run" if report.parts_reused else ""
        rate = report.samples / report.seconds if report.seconds > 0 else 0.0
        console.print(
            f"packed {report.samples} samples into {report.out}: {report.chunks} shards, {size_mb:.1f} MB, "
            f"{report.seconds:.1f} s ({rate:.1f} samples/s){reused}",
            highlight=False,
        )
    if report.bad:
        console.print(f"[bold red]{len(report.bad)} bad sample(s) skipped:[/]")
        for b in report.bad:
            console.print(f"  {b.reason}", markup=False, highlight=False, soft_wrap=True)


@data_app.command("pack", epilog=examples(
    "volo data pack renders/ packs/renders        # then train with --data-a packs/renders",
    "volo data pack scans.json#train packs/scans --workers 4",
))
def pack(
    specs: list[str] = typer.Argument(
        ..., metavar="SOURCE", help="Source specs of ONE domain (folder with rgb/ and depth/, FILE.json#KEY, "
        "FILE.csv, arrays); one or more."
    ),
    out: Path = typer.Argument(..., metavar="OUT", help="The output folder (litdata shards and index.json)."),
    shard_size: str = typer.Option(
        DEFAULT_SHARD_SIZE, "--shard-size", help="Shard (chunk) size before compression, e.g. 64MB, 256MB."
    ),
    workers: int = typer.Option(0, "--workers", help="Reader processes (0: read in this process)."),
    part_size: int = typer.Option(
        DEFAULT_PART_SIZE, "--part-size", help="Samples per resumable part (a killed pack redoes at most one part)."
    ),
    depth_scale: float = typer.Option(
        1000.0, "--depth-scale", help="16-bit PNG depth units per metre (1000 = mm, TUM RGB-D = 5000); stored."
    ),
    pixel_limit: int = typer.Option(
        DEFAULT_PIXEL_LIMIT, "--pixel-limit", help="Largest H*W accepted per file (decompression-bomb guard)."
    ),
) -> None:
    """Pack one domain into compressed litdata shards (OUT/index.json): stream it with --data-a/--data-b OUT.

    Colour and depth are kept exactly as stored; unreadable samples are listed and skipped (exit code 2 if any).
    Rerun the same command after an interruption: it keeps the finished parts and completes the pack.
    """
    console = make_console()
    err = make_console(stderr=True)
    with _progress_bar(err, "packing") as bar:
        task = bar.add_task("pack", total=None)
        report = pack_sources(
            specs,
            Path(out),
            shard_size=shard_size,
            workers=workers,
            part_size=part_size,
            depth_scale=depth_scale,
            pixel_limit=pixel_limit,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    _print_pack(report, console)
    if report.bad:
        raise typer.Exit(2)
