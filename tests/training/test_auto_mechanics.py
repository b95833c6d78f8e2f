"""``train.split_backward`` / ``train.batch_calls`` = ``auto``: the rule, its measured table and its place in a run
(no timings are measured here)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from volo_adapt.config import load_config
from volo_adapt.errors import ConfigError
from volo_adapt.training import auto_mechanics
from volo_adapt.training.auto_mechanics import MeasuredStep, choose_step, resolve_step

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import auto_table  # noqa: E402

ROWS = (
    MeasuredStep("cpu", "fp32", 64, 1, split_s=2.2, one_s=2.0, unbatched_s=2.3, classic_s=2.2),
    MeasuredStep("cpu", "fp32", 128, 1, split_s=6.0, one_s=5.9, unbatched_s=5.0, classic_s=6.1),
    MeasuredStep("cpu", "fp32", 512, 1, split_s=79.0, one_s=95.0, unbatched_s=None, classic_s=92.0),
    MeasuredStep("cpu", "bf16", 64, 1, split_s=0.5, one_s=0.6, unbatched_s=0.7, classic_s=0.7),
)


def _pick(*args, **kw) -> tuple[bool, bool]:
    c = choose_step(*args, table=ROWS, **kw)
    return c.split_backward, c.batch_calls


def test_the_nearest_measured_size_decides_and_near_ties_go_to_the_leaner_step():
    assert _pick("cpu", "fp32", 64, 1) == (False, True)  # one backward 9 % faster than the split
    assert _pick("cpu", "fp32", 128, 1) == (False, False)  # unbatched fastest by far
    assert _pick("cpu", "fp32", 1024, 1) == (True, True)
    assert _pick("cpu", "fp32", 64, 2) == (False, False)  # 8192 px: 128x128x1 is the nearest row
    tie = (MeasuredStep("cpu", "fp32", 64, 1, split_s=2.0, one_s=1.97, unbatched_s=1.95, classic_s=2.2),)
    c = choose_step("cpu", "fp32", 64, 1, table=tie)  # within 3 %: the split (a third of the activations)
    assert (c.split_backward, c.batch_calls) == (True, True)
    assert c.reason == ("split: nearest measured step cpu fp32 64 px batch 1: split 2 s, one backward 1.97 s, "
                        "one backward unbatched 1.95 s")


def test_a_fixed_value_leaves_only_the_steps_that_agree():
    assert _pick("cpu", "fp32", 128, 1, batch_calls=True) == (True, True)  # 6.0 within 3 % of 5.9: the split
    assert _pick("cpu", "fp32", 128, 1, split=True) == (True, True)
    assert _pick("cpu", "fp32", 128, 1, split=True, batch_calls=False) == (True, False)
    assert _pick("cpu", "fp32", 64, 1, split=False, batch_calls=False) == (False, False)
    assert _pick("cpu", "fp32", 512, 1, batch_calls=False) == (True, False)  # unbatched not measured there


def test_the_compute_dtype_picks_its_own_rows_and_falls_back_to_the_device():
    assert _pick("cpu", "bf16", 512, 1) == (True, True)  # the only bf16 row: 64 px, where the split was fastest
    assert _pick("cpu", "fp16", 64, 1) == (True, True)  # looked up as bf16
    c = choose_step("cpu", "bf16", 64, 1, table=ROWS[:3])  # no bf16 rows: the fp32 ones
    assert not c.split_backward and "cpu fp32 64 px" in c.reason


def test_an_unmeasured_device_splits_from_512_px():
    c = choose_step("cuda", "bf16", 256, 1, table=ROWS)
    assert (c.split_backward, c.batch_calls) == (False, True)
    assert c.reason == "one backward: no measured cuda rows (one backward below 262144 pixels per step)"
    assert _pick("cuda", "bf16", 256, 4) == (True, True)
    assert _pick("cuda", "fp32", 512, 1, batch_calls=False) == (True, False)


def test_the_library_table_is_the_committed_measurement():
    """MEASURED is transcribed from benchmarks/results/perf-auto (and perf-512's 512 px rows) by
    benchmarks/auto_table.py; a re-measurement must update both."""
    measured = auto_table.rows_from_results()
    assert measured == auto_mechanics.MEASURED
    sizes = {(r.dtype, r.size) for r in measured}
    assert {("fp32", 64), ("fp32", 128), ("fp32", 256), ("fp32", 512)} <= sizes


def test_auto_never_picks_a_step_slower_than_the_classic_one_in_the_table():
    """What issue 23 asks of the default, read from the committed figures: at every measured size the step auto
    picks there ran at most as long as the classic CycleGAN step."""
    for r in auto_mechanics.MEASURED:
        c = choose_step(r.device, r.dtype, r.size, r.batch)
        picked = r.split_s if c.split_backward else r.one_s if c.batch_calls else r.unbatched_s
        assert picked <= r.classic_s, (r, c.reason)


def test_config_values_and_how_a_run_resolves_them():
    cfg = load_config("cyclegan")
    assert cfg.train.split_backward == "auto" and cfg.train.batch_calls == "auto"
    fixed = resolve_step(load_config("cyclegan", ["train.split_backward=false", "train.batch_calls=true"]))
    assert (fixed.split_backward, fixed.batch_calls) == (False, True)
    assert fixed.reason == "one backward: train.split_backward=false, train.batch_calls=true"
    big = resolve_step(load_config("cyclegan", ["data.image_size=512", "train.accelerator=cpu",
                                                "train.precision=32-true"]))
    assert big.split_backward and "cpu fp32 512 px batch 1" in big.reason
    for key in ("split_backward", "batch_calls"):
        with pytest.raises(ConfigError, match=rf"^train.{key}: must be auto, true or false; got 'sometimes'$"):
            load_config("cyclegan", [f"train.{key}=sometimes"])


def test_the_module_uses_the_resolved_step():
    from volo_adapt.training.module import VoloGANModule

    m = VoloGANModule(load_config("smoke", ["data.image_size=32", "train.split_backward=false",
                                            "train.batch_calls=false"]))
    assert not m.splits_backward and m.objective.batch_calls is False
    assert m.step_choice.reason == "one backward unbatched: train.split_backward=false, train.batch_calls=false"
