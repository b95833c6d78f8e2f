"""``model.sensor.pinholes: auto`` (volo_adapt/training/domain_pinholes.py): both domains' pinhole rates are measured
once at the start of a run, stored with it, kept on resume, and rebuild each direction's generator from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.conftest import smoke_config, unreadable_source
from volo_adapt.config import DataConfig
from volo_adapt.training.domain_pinholes import estimate_domain_pinholes

SIZE = 32
ANCHORED = ("model.sensor.residual=true", "model.sensor.validity=depth", "model.sensor.reach=0.1",
            "model.sensor.new_returns=anchored", "model.sensor.pinholes=auto")


def make_surface_domain(root: Path, hole_fraction: float, n: int = 5, seed: int = 0) -> Path:
    """``n`` samples of a tilted plane (metres) with ``hole_fraction`` of its pixels dropped at random."""
    from volo_adapt.data.formats import write_rgbd_array

    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        depth = (1.5 + torch.linspace(0, 1, SIZE).view(1, 1, SIZE)).expand(1, SIZE, SIZE).clone()
        depth[torch.rand(depth.shape, generator=g) < hole_fraction] = 0.0
        write_rgbd_array(root / f"p{i:02d}.npy", torch.rand(3, SIZE, SIZE, generator=g), depth)
    return root


@pytest.fixture(scope="module")
def holey_to_clean(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("pinholes")
    return str(make_surface_domain(root / "A", 0.02)), str(make_surface_domain(root / "B", 0.0, seed=1))


def test_the_estimate_measures_each_domain_at_the_training_size(holey_to_clean) -> None:
    found = estimate_domain_pinholes([holey_to_clean[0]], [holey_to_clean[1]], DataConfig(image_size=SIZE))
    rate_a, rate_b = found.rates
    assert 0.01 < rate_a < 0.03 and rate_b == 0.0  # ~2 % random single holes, nearly all surrounded
    assert "A -> B starts filling 100% of source pinholes" in found.note


def test_auto_stores_the_rates_keeps_them_on_resume_and_checkpoints_rebuild_both_directions(holey_to_clean, tmp_path):
    from volo_adapt.inference.loading import load_generator
    from volo_adapt.training.checkpoint import load_module
    from volo_adapt.training.module import VoloGANModule
    from volo_adapt.training.run import train

    over = (*ANCHORED, "train.max_steps=2", "train.sample_every_n_steps=0", f"data.image_size={SIZE}")
    first = train(smoke_config(holey_to_clean, *over), tmp_path / "run", progress=False)
    rates = first.module.cfg.model.sensor.pinhole_rates
    assert rates[0] > 0 and rates[1] == 0.0 and "pinhole_rates:" in (tmp_path / "run" / "config.yaml").read_text()
    assert any("pinholes per 1000 surrounded pixels" in n for n in first.notes)
    assert hasattr(first.module.gen_a2b, "fill_logit") and hasattr(first.module.gen_b2a, "drop_logit")
    # resumed on other data (fine-tuning): the run keeps the rates it started with
    other = (holey_to_clean[1], holey_to_clean[1])
    more = train(smoke_config(other, *over[:-3], "train.max_steps=3", "train.sample_every_n_steps=0",
                              f"data.image_size={SIZE}"), tmp_path / "run", resume="auto", progress=False)
    assert more.batches_done == 3 and more.module.cfg.model.sensor.pinhole_rates == rates
    rebuilt = load_module(VoloGANModule, more.last_checkpoint, map_location="cpu")  # strict: same networks
    assert rebuilt.cfg.model.sensor.pinhole_rates == rates
    for direction, name in (("a2b", "fill_logit"), ("b2a", "drop_logit")):
        assert hasattr(load_generator(more.last_checkpoint, direction=direction).module, name)


def test_an_unreadable_source_says_the_estimate_read_it(tmp_path) -> None:
    from volo_adapt.errors import DataError

    bad = unreadable_source(tmp_path)
    with pytest.raises(DataError, match=r"pinholes: auto"):
        estimate_domain_pinholes([bad], [bad], DataConfig(image_size=SIZE))
