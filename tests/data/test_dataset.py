from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from volo_adapt.data.dataset import (
    BadItem,
    RGBDDataset,
    collate_rgbd,
    fit_square,
    raise_if_bad,
    resized_size,
)
from volo_adapt.data.formats import write_rgbd_array
from volo_adapt.data.sample import DepthCodec, RGBDSample
from volo_adapt.data.sources import open_source
from volo_adapt.errors import DataError

CODEC = DepthCodec(near=0.25, far=5.0, gap=0.05)
DEPTHS = (0.5, 1.0, 2.0, 3.0)


def _arrays(root: Path, n: int = 4, h: int = 24, w: int = 32, seed: int = 0) -> Path:
    """``n`` (H, W, 4) .npy samples: random RGB, depth from DEPTHS with an invalid (0) left border."""
    g = torch.Generator().manual_seed(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgb = torch.rand(3, h, w, generator=g)
        depth = torch.tensor(DEPTHS)[torch.randint(0, len(DEPTHS), (1, h, w), generator=g)]
        depth[..., : w // 8] = 0.0
        write_rgbd_array(root / f"s{i:02d}.npy", rgb, depth)
    return root


def test_resized_size_keeps_aspect() -> None:
    assert resized_size(24, 32, 16) == (16, 21)
    assert resized_size(32, 24, 16) == (21, 16)
    assert resized_size(8, 8, 16) == (16, 16)
    assert resized_size(1440, 1920, 512) == (512, 683)


def test_fit_square_nearest_depth_and_crop_positions() -> None:
    rgb = torch.rand(3, 24, 32)
    depth = torch.tensor(DEPTHS)[torch.randint(0, 4, (1, 24, 32))]
    depth[..., :4] = 0
    sample = RGBDSample.from_depth(rgb, depth)
    val = fit_square(sample, 16, random_crop=False)
    assert val.size == (16, 16) and val.meta["resized"] == (16, 21) and val.meta["crop"] == (0, 2, 16, 16)
    assert set(val.depth.unique().tolist()) <= {0.0, *DEPTHS}, "depth must be resampled nearest"
    assert torch.equal(val.valid, val.depth > 0)
    lefts = {fit_square(sample, 16, random_crop=True).meta["crop"][1] for _ in range(40)}
    assert lefts <= set(range(6)) and len(lefts) > 1, "random crop must move the window"


def test_item_shapes_dtypes_ranges(tmp_path: Path) -> None:
    refs = open_source(str(_arrays(tmp_path / "a")))
    ds = RGBDDataset(refs, CODEC, 16, train=False)
    assert len(ds) == 4
    item = ds[1]
    assert set(item) == {"image", "valid", "index"} and item["index"] == 1
    x, v = item["image"], item["valid"]
    assert x.shape == (4, 16, 16) and x.dtype == torch.float32
    assert v.shape == (1, 16, 16) and v.dtype == torch.bool
    assert x.min() >= 0 and x.max() <= 1
    assert (x[~v.expand_as(x)] == 0).all(), "all channels 0 where invalid"
    assert not v.all() and v.any()
    decoded = CODEC.decode(x[3:4])[v]
    assert all(min(abs(d - t) for t in DEPTHS) < 1e-5 for d in decoded.tolist()), "depth must not be invented"
    assert torch.equal(ds[1]["image"], x), "validation items are deterministic (centre crop)"


def test_train_items_vary_by_random_crop(tmp_path: Path) -> None:
    refs = open_source(str(_arrays(tmp_path / "a", n=1, h=16, w=40)))
    ds = RGBDDataset(refs, CODEC, 16, train=True)
    torch.manual_seed(0)
    images = [ds[0]["image"] for _ in range(10)]
    assert any(not torch.equal(images[0], im) for im in images[1:])


def test_bad_file_raises_one_line_dataerror(tmp_path: Path) -> None:
    root = _arrays(tmp_path / "a", n=2)
    (root / "s01.npy").write_bytes(b"not an array")
    ds = RGBDDataset(open_source(str(root)), CODEC, 16, train=False)
    with pytest.raises(DataError, match="s01.npy") as e:
        ds[1]
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_bad_file_in_worker_surfaces_as_one_line_dataerror(tmp_path: Path) -> None:
    root = _arrays(tmp_path / "a", n=2)
    (root / "s01.npy").write_bytes(b"not an array")
    ds = RGBDDataset(open_source(str(root)), CODEC, 16, train=False)
    loader = DataLoader(ds, batch_size=2, num_workers=1, collate_fn=collate_rgbd)
    batch = next(iter(loader))
    assert isinstance(batch, BadItem)
    with pytest.raises(DataError, match="s01.npy") as e:
        raise_if_bad({"A": {"image": torch.zeros(1)}, "B": batch})
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_collate_good_batch(tmp_path: Path) -> None:
    ds = RGBDDataset(open_source(str(_arrays(tmp_path / "a"))), CODEC, 16, train=False)
    batch = collate_rgbd([ds[0], ds[1]])
    raise_if_bad(batch)
    assert batch["image"].shape == (2, 4, 16, 16) and batch["valid"].dtype == torch.bool
    assert batch["index"].tolist() == [0, 1]
