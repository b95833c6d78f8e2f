"""Training progress off a terminal (a log file, a pipe; tests capture output): plain lines, no ANSI codes, the same
training as with the rich bar."""

from __future__ import annotations

import re

import torch
from lightning.pytorch.callbacks import RichProgressBar

from tests.training.conftest import smoke_config
from volo_adapt.training.plain_progress import PlainProgressBar, progress_callback
from volo_adapt.training.run import train

LINE = re.compile(r"^train: batch (\d+)/3 \((\d+) %\), [0-9.e+-]+ batch/s, G [0-9.e+-]+, D [0-9.e+-]+$")


def test_progress_off_a_terminal_is_plain_lines(tiny_data, tmp_path, capsys):
    assert isinstance(progress_callback(), PlainProgressBar)  # captured output is not a terminal
    cfg = smoke_config(tiny_data, "train.max_steps=3", "train.sample_every_n_steps=0", "train.logger=none")
    shown = train(cfg, tmp_path / "shown")
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.startswith("train: ")]
    assert [LINE.match(line).group(1, 2) for line in lines] == [("1", "33"), ("2", "67"), ("3", "100")], err
    assert "\x1b" not in out + err and "━" not in out + err
    quiet = train(cfg, tmp_path / "quiet", progress=False)  # the display does not change what is trained
    assert "train: " not in capsys.readouterr().err
    for k, v in shown.module.state_dict().items():
        assert torch.equal(v, quiet.module.state_dict()[k]), k


def test_rich_bar_on_a_terminal(monkeypatch):
    import volo_adapt.training.plain_progress as pp

    monkeypatch.setattr(pp, "output_is_terminal", lambda: True)
    assert isinstance(progress_callback(), RichProgressBar)
