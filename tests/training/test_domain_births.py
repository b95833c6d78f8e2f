"""``model.sensor.birth_rings: auto`` (volo_adapt/training/domain_births.py): each direction's ring count is
estimated once at the start of a run from the two unpaired sets, stored with it, kept on resume, and rebuilds each
direction's generator from a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from tests.training.conftest import smoke_config, unreadable_source
from volo_adapt.config import DataConfig
from volo_adapt.models.birth_rings import ANCHOR_POWERS, RING_ANCHOR_START
from volo_adapt.training.domain_births import estimate_birth_rings

SIZE = 32
REACH = 0.1
ANCHORED = ("model.sensor.residual=true", "model.sensor.validity=depth", f"model.sensor.reach={REACH}",
            "model.sensor.new_returns=anchored", "model.sensor.birth_rings=auto")


def make_discs(root: Path, grow: int, n: int = 6, seed: int = 0, halo_depth_m: float = 2.0,
               halo_colour: float = 0.5) -> Path:
    """``n`` samples of a disc at 2 m with colour 0.5 (random radius and centre) on an empty background, its mask
    grown by ``grow`` 4-neighbour steps (what an upsampling pipeline's halo does), the grown pixels at
    ``halo_depth_m`` and ``halo_colour`` (the defaults: the disc's own values, a fill)."""
    from volo_adapt.data.formats import write_rgbd_array

    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    for i in range(n):
        cy, cx, r = (torch.randint(10, 22, (1,), generator=g).item() for _ in range(3))
        disc = (((yy - cy) ** 2 + (xx - cx) ** 2) <= (r // 2) ** 2).float().view(1, 1, SIZE, SIZE)
        mask = disc
        for _ in range(grow):
            mask = (F.conv2d(mask, cross, padding=1) > 0).float()
        halo = (mask - disc)[0]
        write_rgbd_array(root / f"d{i:02d}.npy", 0.5 * disc[0].expand(3, -1, -1) + halo_colour * halo,
                         2.0 * disc[0, 0] + halo_depth_m * halo[0])
    return root


@pytest.fixture(scope="module")
def clean_to_halo(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("births")
    return str(make_discs(root / "A", 0)), str(make_discs(root / "B", 1, seed=0))  # the same discs, one ring more


def test_the_estimate_finds_one_ring_one_way_and_none_the_other(clean_to_halo) -> None:
    found = estimate_birth_rings([clean_to_halo[0]], [clean_to_halo[1]], DataConfig(image_size=SIZE), REACH)
    assert found.counts == [1, 0]
    assert "A -> B" in found.note and "rings filled: 1)" in found.note
    # the halo holds the disc's own depth and colour: its anchors keep the surface's value (exponent 0); the
    # direction without rings keeps the built-in start
    assert found.powers == [[0.0, 0.0], list(RING_ANCHOR_START)]
    same = estimate_birth_rings([clean_to_halo[0]], [clean_to_halo[0]], DataConfig(image_size=SIZE), REACH)
    assert same.counts == [0, 0]


def test_auto_a2b_keeps_the_translations_rings_and_gives_the_reverse_generator_none(clean_to_halo) -> None:
    """The halo set as A and the clean set as B: the estimate wants one ring B -> A; ``auto_a2b`` fills none there
    and the note says what was estimated."""
    halo_to_clean = [clean_to_halo[1]], [clean_to_halo[0]]
    both = estimate_birth_rings(*halo_to_clean, DataConfig(image_size=SIZE), REACH)
    a2b = estimate_birth_rings(*halo_to_clean, DataConfig(image_size=SIZE), REACH, a2b_only=True)
    assert both.counts == [0, 1] and a2b.counts == [0, 0]
    assert "rings filled: 0 of 1 estimated, birth_rings: auto_a2b)" in a2b.note
    forward = estimate_birth_rings([clean_to_halo[0]], [clean_to_halo[1]], DataConfig(image_size=SIZE), REACH,
                                   a2b_only=True)
    assert forward.counts == [1, 0]  # the translation's own rings stay


def test_auto_a2b_is_a_config_choice_and_a_typo_is_refused() -> None:
    from volo_adapt.config import load_config
    from volo_adapt.errors import ConfigError

    assert load_config("smoke", [*ANCHORED, "model.sensor.birth_rings=auto_a2b"]).model.sensor.birth_rings == "auto_a2b"
    with pytest.raises(ConfigError, match="auto_a2b"):
        load_config("smoke", [*ANCHORED, "model.sensor.birth_rings=a2b"])


def test_a_halo_that_mixes_the_surface_with_its_surroundings_gets_mixing_anchors(clean_to_halo, tmp_path) -> None:
    """A halo at 0.6 of the disc's depth and black (an upsampled depth map beside a camera that sees the dark
    background): the depth anchor mixes in the no-return pixels, the colour anchor as far as it goes."""
    mixed = make_discs(tmp_path / "B", 1, halo_depth_m=1.2, halo_colour=0.0)
    found = estimate_birth_rings([clean_to_halo[0]], [str(mixed)], DataConfig(image_size=SIZE), REACH)
    assert found.counts == [1, 0]
    colour, depth = found.powers[0]
    assert 0.25 <= depth <= 2.0 and colour == max(ANCHOR_POWERS)
    assert "ring anchors' exponents (colour, depth): A -> B 3, " in found.note


def test_auto_stores_the_counts_keeps_them_on_resume_and_checkpoints_rebuild_both_directions(clean_to_halo, tmp_path):
    from volo_adapt.inference.loading import load_generator
    from volo_adapt.training.run import train

    over = (*ANCHORED, "train.max_steps=2", "train.sample_every_n_steps=0", f"data.image_size={SIZE}")
    first = train(smoke_config(clean_to_halo, *over), tmp_path / "run", progress=False)
    counts = first.module.cfg.model.sensor.birth_ring_counts
    assert counts == [1, 0] and "birth_ring_counts:" in (tmp_path / "run" / "config.yaml").read_text()
    powers = first.module.cfg.model.sensor.birth_ring_powers
    assert powers == [[0.0, 0.0], list(RING_ANCHOR_START)]
    assert any("new returns per 1000 pixels" in n for n in first.notes)
    other = (clean_to_halo[1], clean_to_halo[1])  # resumed on other data: the run keeps what it started with
    more = train(smoke_config(other, *over[:-2], "train.max_steps=3", "train.sample_every_n_steps=0",
                              f"data.image_size={SIZE}"), tmp_path / "run", resume="auto", progress=False)
    assert more.batches_done == 3 and more.module.cfg.model.sensor.birth_ring_counts == counts
    assert more.module.cfg.model.sensor.birth_ring_powers == powers
    assert load_generator(more.last_checkpoint, direction="a2b").module.birth_rings == 1
    assert load_generator(more.last_checkpoint, direction="b2a").module.birth_rings == 0


def test_an_unreadable_source_says_the_estimate_read_it(tmp_path) -> None:
    from volo_adapt.errors import DataError

    bad = unreadable_source(tmp_path)
    with pytest.raises(DataError, match=r"birth_rings: auto"):
        estimate_birth_rings([bad], [bad], DataConfig(image_size=SIZE), REACH)
    with pytest.raises(DataError, match=r"birth_rings: auto_a2b\)"):  # the mode the user set
        estimate_birth_rings([bad], [bad], DataConfig(image_size=SIZE), REACH, a2b_only=True)
