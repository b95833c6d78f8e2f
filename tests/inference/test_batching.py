"""Tests for the stages of volo_adapt/inference/translate.py: batching.py (grouping), runner.py (seeds, precision
check), translate_plan.py (settling samples without reading) and writers.write_batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from volo_adapt.inference.batching import Batcher, PendingSample
from volo_adapt.inference.options import TranslateOptions
from volo_adapt.inference.runner import Runner, sample_seed
from volo_adapt.inference.translate_plan import settled_without_reading
from volo_adapt.inference.writers import OutputPlan


def _sample(index: int, h: int, w: int) -> PendingSample:
    plan = OutputPlan(key=f"k{index}", inputs=[])
    return PendingSample(index, plan, torch.zeros(4, h, w), (h, w), (h, w))


def _indices(batches) -> list[list[int]]:
    return [[p.index for p in b] for b in batches]


def test_equal_sizes_go_in_batches_of_batch_size_and_the_rest_on_drain():
    b = Batcher(batch_size=2, max_batch_pixels=10**9, padded_pixels=lambda s: s[0] * s[1])
    out = [_indices(b.add(_sample(i, 8, 8))) for i in range(5)]
    assert out == [[], [[0, 1]], [], [[2, 3]], []]
    assert _indices(b.drain()) == [[4]] and b.held() == 0


def test_pixel_cap_shrinks_batches_but_one_image_always_goes():
    b = Batcher(batch_size=8, max_batch_pixels=3 * 64, padded_pixels=lambda s: 64)
    assert b.capacity((8, 8)) == 3
    huge = Batcher(batch_size=8, max_batch_pixels=10, padded_pixels=lambda s: 64)
    assert huge.capacity((8, 8)) == 1 and _indices(huge.add(_sample(0, 8, 8))) == [[0]]


def test_many_sizes_bound_the_samples_held_and_drain_oldest_size_first():
    b = Batcher(batch_size=2, max_batch_pixels=10**9, padded_pixels=lambda s: s[0] * s[1])
    sizes = [(8, 8), (8, 9), (8, 10), (8, 11), (8, 12), (8, 8), *((8, w) for w in range(13, 18))]
    out = [_indices(b.add(_sample(i, *s))) for i, s in enumerate(sizes)]
    assert out[5] == [[0, 5]]  # (8, 8) reached batch_size
    assert out[:5] == [[]] * 5 and out[6:10] == [[]] * 4
    assert out[10] == [[1]]  # 9 > 4 * 2 waiting: the largest queue (ties: the oldest) goes
    assert _indices(b.drain()) == [[2], [3], [4], [6], [7], [8], [9], [10]]


def test_sample_seed_is_stable_and_depends_on_seed_and_key():
    assert sample_seed(0, "a/1") == sample_seed(0, "a/1")
    assert len({sample_seed(0, "a/1"), sample_seed(1, "a/1"), sample_seed(0, "a/2")}) == 3
    assert 0 <= sample_seed(7, "x") < 2**63


def test_settled_without_reading(tmp_path: Path):
    out = tmp_path / "o.png"
    plan = OutputPlan(key="k", inputs=[], rgb=out, depth=tmp_path / "d.png")
    assert settled_without_reading(plan, {}, skip_existing=True) is None
    for f in plan.files:
        f.write_bytes(b"x")
    assert settled_without_reading(plan, {}, skip_existing=True) == ("skipped", "")
    assert settled_without_reading(plan, {}, skip_existing=False) is None
    assert settled_without_reading(plan, {"k": "clash"}, skip_existing=True) == ("failed", "clash")
    plan.problem = "no depth file"
    assert settled_without_reading(plan, {}, skip_existing=True) == ("failed", "no depth file")


@pytest.fixture(scope="module")
def gen(tiny_ckpt):
    from volo_adapt.inference import load_generator

    return load_generator(tiny_ckpt)


def test_runner_exact_mode_counts_compute_time_and_makes_no_check(gen):
    runner = Runner(gen, torch.device("cpu"), TranslateOptions(precision="32"))
    x = torch.rand(2, 4, 16, 16)
    y = runner(x, ["a", "b"])
    assert y.shape == x.shape and runner.precision == "32" and runner.depth_check is None
    assert runner.compute_s > 0 and runner.padded_pixels((16, 16)) >= 256


def test_runner_auto_checks_the_first_batch_only(gen, monkeypatch):
    import volo_adapt.inference.runner as runner_mod

    monkeypatch.setattr(runner_mod, "auto_candidates", lambda device: ["tf32"])  # on CPU tf32 == exact fp32
    runner = Runner(gen, torch.device("cpu"), TranslateOptions(precision="auto", depth_tolerance_mm=0.0))
    assert runner.precision == "tf32" and runner.depth_check is None  # unchecked until the first batch
    runner(torch.rand(1, 4, 16, 16), ["a"])
    assert runner.depth_check["used"] == runner.precision == "tf32"
    first = runner.depth_check
    runner(torch.rand(1, 4, 16, 16), ["b"])
    assert runner.depth_check is first


def test_write_batch_writes_one_sample_per_step(gen, tmp_path: Path):
    from volo_adapt.inference.writers import write_batch

    batch = [_sample(i, 16, 16) for i in range(2)]
    for p in batch:
        p.plan.rgb, p.plan.depth = tmp_path / f"{p.index}.png", tmp_path / f"d{p.index}.png"
    steps = write_batch(batch, torch.rand(2, 4, 16, 16), gen.codec, 1000.0)
    assert next(steps) == "" and batch[0].plan.exists() and not batch[1].plan.exists()
    assert list(steps) == [""] and batch[1].plan.exists()
