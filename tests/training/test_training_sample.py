"""The start-up estimates' shared reads (volo_adapt/training/training_sample.py): each source is decoded once per
start-up, a smaller request returns the same first images, and a larger one reads again."""

from __future__ import annotations

import pytest
import torch

from tests.training.test_domain_births import SIZE, make_discs
from volo_adapt.config import DataConfig
from volo_adapt.training import training_sample
from volo_adapt.training.training_sample import TrainingSamples, read_training_sample


@pytest.fixture
def reads(monkeypatch) -> list[tuple[str, int]]:
    """``(source, images asked for)`` of every decoding read the shared reader makes, in order."""
    seen: list[tuple[str, int]] = []
    real = training_sample.read_training_sample
    monkeypatch.setattr(training_sample, "read_training_sample",
                        lambda spec, d, n, purpose: seen.append((spec, n)) or real(spec, d, n, purpose))
    return seen


def test_a_smaller_request_reuses_the_read_and_a_larger_one_reads_again(tmp_path, reads) -> None:
    source = str(make_discs(tmp_path / "A", 0, n=6))
    data = DataConfig(image_size=SIZE)
    samples = TrainingSamples(data)
    four = samples.read(source, 4, "first")
    two = samples.read(source, 2, "second")
    assert reads == [(source, 4)] and torch.equal(two, four[:2])
    assert torch.equal(four, read_training_sample(source, data, 4, "direct"))  # the same images as one plain read
    six = samples.read(source, 6, "third")  # more than read so far: read again
    assert reads == [(source, 4), (source, 6)] and len(six) == 6 and torch.equal(six[:4], four)
    assert len(samples.read(source, 50, "fourth")) == 6  # the source holds 6: read to its end once more
    assert len(samples.read(source, 60, "fifth")) == 6 and [n for _, n in reads] == [4, 6, 50]  # ... and never again


def test_the_start_up_estimates_decode_each_domain_once(tmp_path, reads) -> None:
    from volo_adapt.config import load_config
    from volo_adapt.training.run import _estimate_from_domains

    a, b = str(make_discs(tmp_path / "A", 0)), str(make_discs(tmp_path / "B", 1))
    cfg = load_config("demo").replace(data={"image_size": SIZE}, loss={"geometry_region": "auto"},
                                      model={"sensor": {"birth_rings": "auto", "pinholes": "auto"}})
    notes: list[str] = []
    cfg = _estimate_from_domains(cfg, [a], [b], notes)
    assert sorted(spec for spec, _ in reads) == sorted([a, b]) and len(notes) == 3
    assert cfg.loss.geometry_region_estimate in ("all", "interior") and cfg.model.sensor.pinhole_rates is not None
