"""``loss.geometry_region: auto`` (volo_adapt/training/domain_edges.py): the two domains' silhouettes are compared
once at the start of a run, the chosen region is stored with it, kept on resume, and used by the geometry term."""

from __future__ import annotations

import pytest

from tests.training.conftest import smoke_config, unreadable_source
from tests.training.test_domain_births import SIZE, make_discs
from volo_adapt.config import DataConfig, load_config
from volo_adapt.errors import ConfigError
from volo_adapt.training.domain_edges import estimate_geometry_region, region_for


@pytest.fixture(scope="module")
def clean_and_mixed(tmp_path_factory) -> tuple[str, str]:
    """The same discs twice: clean edges, and with a ring of returns at 0.6 of the disc's depth around each (an
    upsampled depth map mixes the surface with the no-return background along the silhouette)."""
    root = tmp_path_factory.mktemp("edges")
    return str(make_discs(root / "A", 0)), str(make_discs(root / "B", 1, halo_depth_m=1.2))


def test_region_for_reads_a_difference_beyond_the_tolerance_as_mixed_edges():
    assert region_for(1.0, 0.85) == "interior" and region_for(0.85, 1.0) == "interior"
    assert region_for(1.0, 0.95) == "all" and region_for(1.0, 1.0) == "all"
    assert region_for(float("nan"), 0.5) == "all" and region_for(0.0, 1.0) == "all"


def test_the_estimate_tells_mixed_edges_from_clean_ones(clean_and_mixed) -> None:
    a, b = clean_and_mixed
    mixed = estimate_geometry_region([a], [b], DataConfig(image_size=SIZE))
    assert mixed.region == "interior" and mixed.ratios[0] == pytest.approx(1.0, abs=0.02) and mixed.ratios[1] < 0.9
    assert "the interior only" in mixed.note
    same = estimate_geometry_region([a], [a], DataConfig(image_size=SIZE))
    assert same.region == "all" and "all pixels" in same.note


def test_auto_stores_the_region_keeps_it_on_resume_and_a_bad_estimate_value_is_refused(clean_and_mixed, tmp_path):
    from volo_adapt.training.run import train

    over = ("loss.geometry_weight=1.0", "loss.geometry_region=auto", "train.max_steps=2",
            "train.sample_every_n_steps=0", f"data.image_size={SIZE}")
    first = train(smoke_config(clean_and_mixed, *over), tmp_path / "run", progress=False)
    assert first.module.cfg.loss.geometry_region_estimate == "interior"
    assert first.module.cfg.loss.effective_geometry_region == "interior"
    assert "geometry_region_estimate: interior" in (tmp_path / "run" / "config.yaml").read_text()
    assert any("the geometry term compares the interior only" in n for n in first.notes)
    same = (clean_and_mixed[0], clean_and_mixed[0])  # resumed on other data: the run keeps what it started with
    more = train(smoke_config(same, *over[:-3], "train.max_steps=3", "train.sample_every_n_steps=0",
                              f"data.image_size={SIZE}"), tmp_path / "run", resume="auto", progress=False)
    assert more.batches_done == 3 and more.module.cfg.loss.geometry_region_estimate == "interior"
    with pytest.raises(ConfigError, match="loss.geometry_region_estimate"):
        load_config("smoke", ["loss.geometry_region_estimate=edges"])
    with pytest.raises(ConfigError, match="loss.geometry_region"):
        load_config("smoke", ["loss.geometry_region=edges"])


def test_an_unreadable_source_says_the_estimate_read_it(tmp_path) -> None:
    from volo_adapt.errors import DataError

    bad = unreadable_source(tmp_path)
    with pytest.raises(DataError, match=r"geometry_region: auto"):
        estimate_geometry_region([bad], [bad], DataConfig(image_size=SIZE))
