"""Tests for cli/train.py (`volo train`): dry run output, config errors, a tiny real run."""

from __future__ import annotations

import pytest

from cli.main import run


def _volo(argv: list[str], capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        run(argv)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_dry_run_prints_config_and_parameter_counts_without_reading_data(capsys, tmp_path):
    code, out, _ = _volo(
        ["train", "--config", "smoke", "--data-a", "/nonexistent/a", "--data-b", "/nonexistent/b",
         "--out", str(tmp_path / "run"), "--max-steps", "7", "--set", "loss.cycle_weight=3", "--dry-run"],
        capsys,
    )
    assert code == 0
    assert "max_steps: 7" in out and "cycle_weight: 3.0" in out and "/nonexistent/a" in out
    for name in ("gen_a2b", "gen_b2a", "critic_a", "critic_b", "total"):
        assert name in out
    assert not (tmp_path / "run").exists()


def test_unknown_set_key_is_a_one_line_error(capsys):
    code, _, err = _volo(["train", "--config", "smoke", "--set", "loss.cyc=1", "--dry-run"], capsys)
    assert code == 2 and "loss.cyc" in err and "unknown key" in err and "Traceback" not in err


def test_bad_precision_flag_names_the_key(capsys):
    code, _, err = _volo(["train", "--config", "smoke", "--precision", "8-bit", "--dry-run"], capsys)
    assert code == 2 and "train.precision" in err


def test_tiny_run_from_the_command_line(tiny_data, tmp_path, capsys):
    code, out, _ = _volo(
        ["train", "--config", "smoke", "--data-a", tiny_data[0], "--data-b", tiny_data[1],
         "--out", str(tmp_path / "cli"), "--max-steps", "2", "--resume", "auto"],
        capsys,
    )
    assert code == 0
    assert "domain A" in out and "4 train / 1 val" in out and "starting fresh" in out
    assert "done: 2 batches" in out
    assert "nearest measured step cpu fp32" in out  # the summary's `step` row: what auto took and why
    assert (tmp_path / "cli" / "checkpoints" / "last.ckpt").is_file()
    assert "keeps per depth bin" not in out  # smoke has no return-rate term: nothing estimated, nothing said


def test_a_run_with_learned_drops_ends_with_the_estimated_keep_rates(tiny_data, tmp_path, capsys):
    from tests.test_return_statistics import DROPS

    sets = [x for item in [*DROPS, "loss.return_rate_weight=1"] for x in ("--set", item)]
    code, out, _ = _volo(
        ["train", "--config", "smoke", "--data-a", tiny_data[0], "--data-b", tiny_data[1],
         "--out", str(tmp_path / "cli"), "--max-steps", "1", *sets], capsys,
    )
    assert code == 0 and "done: 1 batches" in out
    line = next(x for x in out.splitlines() if "keeps per depth bin" in x)
    rates = [float(part.rsplit(" ", 1)[1]) for part in line.split(": ", 1)[1].split(", ")]
    assert len(rates) == 8 and all(0.0 <= k <= 1.0 for k in rates)  # RETURN_BINS bins, each a share
    assert "0.25-0.84 m" in line  # the smoke preset's codec range, 0.25-5 m, in 8 bins


def test_resume_without_config_or_data_continues_with_the_runs_own_config(tiny_data, tmp_path, capsys):
    run_dir = str(tmp_path / "cli")
    code, _, _ = _volo(
        ["train", "--config", "smoke", "--data-a", tiny_data[0], "--data-b", tiny_data[1], "--out", run_dir,
         "--max-steps", "1"],
        capsys,
    )
    assert code == 0
    # no --config, no data: the run folder's config.yaml (smoke preset, tiny data) is used, not the demo preset
    code, out, err = _volo(["train", "--out", run_dir, "--resume", "auto", "--max-steps", "2"], capsys)
    assert code == 0, err
    assert "resuming at batch 1" in out and "done: 2 batches" in out
    assert tiny_data[0] in out and "demo" not in out


def test_bad_max_time_names_the_option(capsys):
    code, _, err = _volo(["train", "--config", "smoke", "--max-time", "10 minutes", "--dry-run"], capsys)
    assert code == 2 and "--max-time '10 minutes'" in err and "Traceback" not in err


def test_max_time_runs_past_max_epochs_until_the_budget_or_max_steps(tiny_data, tmp_path, capsys):
    # smoke: 2 batches per epoch and max_epochs 2 would stop at 4 batches; with a budget only time (here the
    # generous budget never ends first) and max_steps limit the run
    code, out, err = _volo(
        ["train", "--config", "smoke", "--data-a", tiny_data[0], "--data-b", tiny_data[1],
         "--out", str(tmp_path / "timed"), "--max-time", "1h", "--max-steps", "6", "--set", "train.max_epochs=1"],
        capsys,
    )
    assert code == 0, err
    assert "done: 6 batches" in out
    from volo_adapt.config import load_config

    assert load_config(str(tmp_path / "timed" / "config.yaml")).train.max_time == "1h"
