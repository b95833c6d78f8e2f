"""Output to a file or a pipe (tests capture it: never a terminal) reads as well as on a terminal: tables are not
folded at 80 columns, progress is plain periodic lines, and no ANSI escape codes are written."""

from __future__ import annotations

import pytest
import torch
from rich.table import Table

from cli.console import WIDE, LineProgress, make_console, make_status
from tests.cli.conftest import run_volo
from volo_adapt.data.formats import write_depth, write_rgb

ESC = "\x1b"


@pytest.fixture(autouse=True)
def no_columns(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)


def test_console_off_a_terminal_is_wide_or_columns(monkeypatch, capsys):
    console = make_console()
    assert not console.is_terminal and console.width == WIDE
    table = Table(title="t")
    table.add_column("source")
    table.add_column("n")
    table.add_row("x" * 300, "1")
    console.print(table)
    out = capsys.readouterr().out
    assert any(("x" * 300) in line and line.rstrip().endswith("│") for line in out.splitlines())
    assert ESC not in out
    monkeypatch.setenv("COLUMNS", "123")
    assert make_console(stderr=True).width == 123


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_line_progress_writes_every_ten_percent_or_every_interval(capsys):
    clock = Clock()
    with LineProgress(make_console(stderr=True), every_s=5.0, every_percent=10.0, clock=clock) as bar:
        task = bar.add_task("pack", total=None)
        bar.update(task, completed=0, total=None)  # total unknown yet: nothing
        for done in range(1, 101):
            clock.t += 0.01
            bar.update(task, completed=done, total=200, rate="3.00 img/s")  # 0.5 % steps
        clock.t += 6.0
        bar.update(task, completed=101, total=200)  # the interval passed: a line although < 10 %
        bar.update(task, completed=150, total=200)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "pack: 1/200 (0 %), 3.00 img/s, 0 s"  # first line when the total is known
    assert [line.split(",")[0] for line in lines] == [
        "pack: 1/200 (0 %)", "pack: 21/200 (10 %)", "pack: 41/200 (20 %)", "pack: 61/200 (30 %)",
        "pack: 81/200 (40 %)", "pack: 101/200 (50 %)", "pack: 150/200 (75 %)"]  # the last at the end of the block


def test_status_off_a_terminal_is_one_line_per_step(capsys):
    with make_status(make_console(stderr=True), "evaluating") as status:
        status.update("evaluating: c2st")
    assert capsys.readouterr().err.splitlines() == ["evaluating", "evaluating: c2st"]


def test_translate_log_has_plain_progress_and_unfolded_table(ckpt, tmp_path, capsys):
    src = tmp_path / "in"
    for i in range(3):
        write_rgb(src / f"rgb/{i}.png", torch.rand(3, 16, 16))
        write_depth(src / f"depth/{i}.png", 0.5 + torch.rand(1, 16, 16))
    out = tmp_path / "out"
    code, stdout, stderr = run_volo(["translate", str(src), str(out), "--ckpt", str(ckpt), "--batch-size", "2",
                                     "--device", "cpu"], capsys)
    assert code in (0, None), stderr
    assert ESC not in stdout + stderr
    assert any(line.startswith("translate: 3/3 (100 %), ") and "img/s" in line for line in stderr.splitlines())
    assert any(line.startswith("│") and line.split()[1:4] == ["3", "│", "0"] for line in stdout.splitlines())


def test_data_check_table_row_with_a_long_path_stays_on_one_line(tmp_path, capsys, make_rgbd_folder):
    src = tmp_path / ("a_long_folder_name_" * 6)
    make_rgbd_folder(src, size=(12, 16))
    code, stdout, stderr = run_volo(["data", "check", str(src)], capsys)
    assert code in (0, None), stderr
    row = [line for line in stdout.splitlines() if str(src) in line]
    assert len(row) == 1 and len(row[0]) > 160 and "16x12 (3)" in row[0] and "folder" in row[0]
    assert ESC not in stdout + stderr


def test_data_synth_and_pack_logs_have_plain_progress(tmp_path, capsys):
    code, _, stderr = run_volo(["data", "synth", str(tmp_path / "s"), "--n-train", "2", "--n-test", "1",
                                "--size", "16"], capsys)
    assert code in (0, None), stderr
    synth_lines = [line for line in stderr.splitlines() if line.startswith("synth: ")]
    assert synth_lines and synth_lines[-1].startswith("synth: ") and "(100 %)" in synth_lines[-1]
    assert ESC not in stderr
    pytest.importorskip("litdata")
    code, stdout, stderr = run_volo(["data", "pack", str(tmp_path / "s" / "A" / "train"), str(tmp_path / "p")],
                                    capsys)
    assert code in (0, None), stderr
    assert any(line.startswith("pack: 2/2 (100 %)") for line in stderr.splitlines()) and ESC not in stdout + stderr


@pytest.mark.parametrize("local_rank, printed", [(None, True), ("0", True), ("1", False)])
def test_only_local_rank_zero_prints_the_error_line(monkeypatch, capsys, local_rank, printed):
    """Under a 2-process run every rank raises the same user error; the line is printed once, the exit code is 2
    on every rank."""
    from cli.main import run

    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    with pytest.raises(SystemExit) as exc:
        run(["train", "--config", "no-such-preset-xyz", "--dry-run"])
    assert exc.value.code == 2
    assert ("no-such-preset-xyz" in capsys.readouterr().err) is printed
