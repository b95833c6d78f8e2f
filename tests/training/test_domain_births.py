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
from volo_adapt.training.domain_births import estimate_birth_rings

SIZE = 32
ANCHORED = ("model.sensor.residual=true", "model.sensor.validity=depth", "model.sensor.reach=0.1",
            "model.sensor.new_returns=anchored", "model.sensor.birth_rings=auto")


def make_discs(root: Path, grow: int, n: int = 6, seed: int = 0) -> Path:
    """``n`` samples of a disc at 2 m (random radius and centre) on an empty background, its mask grown by ``grow``
    4-neighbour steps (what an upsampling pipeline's halo does)."""
    from volo_adapt.data.formats import write_rgbd_array

    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    cross = torch.tensor([[0.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    for i in range(n):
        cy, cx, r = (torch.randint(10, 22, (1,), generator=g).item() for _ in range(3))
        mask = (((yy - cy) ** 2 + (xx - cx) ** 2) <= (r // 2) ** 2).float().view(1, 1, SIZE, SIZE)
        for _ in range(grow):
            mask = (F.conv2d(mask, cross, padding=1) > 0).float()
        write_rgbd_array(root / f"d{i:02d}.npy", torch.full((3, SIZE, SIZE), 0.5) * mask[0], 2.0 * mask[0, 0])
    return root


@pytest.fixture(scope="module")
def clean_to_halo(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("births")
    return str(make_discs(root / "A", 0)), str(make_discs(root / "B", 1, seed=0))  # the same discs, one ring more


def test_the_estimate_finds_one_ring_one_way_and_none_the_other(clean_to_halo) -> None:
    found = estimate_birth_rings([clean_to_halo[0]], [clean_to_halo[1]], DataConfig(image_size=SIZE))
    assert found.counts == [1, 0]
    assert "A -> B" in found.note and "rings filled: 1)" in found.note
    same = estimate_birth_rings([clean_to_halo[0]], [clean_to_halo[0]], DataConfig(image_size=SIZE))
    assert same.counts == [0, 0]


def test_auto_stores_the_counts_keeps_them_on_resume_and_checkpoints_rebuild_both_directions(clean_to_halo, tmp_path):
    from volo_adapt.inference.loading import load_generator
    from volo_adapt.training.run import train

    over = (*ANCHORED, "train.max_steps=2", "train.sample_every_n_steps=0", f"data.image_size={SIZE}")
    first = train(smoke_config(clean_to_halo, *over), tmp_path / "run", progress=False)
    counts = first.module.cfg.model.sensor.birth_ring_counts
    assert counts == [1, 0] and "birth_ring_counts:" in (tmp_path / "run" / "config.yaml").read_text()
    assert any("new returns per 1000 pixels" in n for n in first.notes)
    other = (clean_to_halo[1], clean_to_halo[1])  # resumed on other data: the run keeps what it started with
    more = train(smoke_config(other, *over[:-2], "train.max_steps=3", "train.sample_every_n_steps=0",
                              f"data.image_size={SIZE}"), tmp_path / "run", resume="auto", progress=False)
    assert more.batches_done == 3 and more.module.cfg.model.sensor.birth_ring_counts == counts
    assert load_generator(more.last_checkpoint, direction="a2b").module.birth_rings == 1
    assert load_generator(more.last_checkpoint, direction="b2a").module.birth_rings == 0


def test_an_unreadable_source_says_the_estimate_read_it(tmp_path) -> None:
    from volo_adapt.errors import DataError

    bad = unreadable_source(tmp_path)
    with pytest.raises(DataError, match=r"birth_rings: auto"):
        estimate_birth_rings([bad], [bad], DataConfig(image_size=SIZE))
