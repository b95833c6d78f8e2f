"""The streaming DataModule over packed folders: batches, independent shuffles, split, mid-epoch resume."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from volo_adapt.config import DataConfig
from volo_adapt.data.datamodule import UnpairedRGBDDataModule
from volo_adapt.data.formats import write_rgbd_array
from volo_adapt.data.sample import DepthCodec
from volo_adapt.errors import DataError

pytest.importorskip("litdata")
from volo_adapt.data.pack_writer import pack_sources  # noqa: E402
from volo_adapt.data.stream import SEQ_KEY  # noqa: E402
from volo_adapt.data.stream_datamodule import SelfShardedLoader, StreamingRGBDDataModule, split_size  # noqa: E402

CODEC = DepthCodec(near=0.25, far=5.0, gap=0.05)
S = 16


def pack_domain(root: Path, n: int, shard_size: str = "6KB") -> str:
    """``n`` (20, 20, 4) samples ``s00``... packed into ``root/packed``; returns the packed folder."""
    g = torch.Generator().manual_seed(n)
    for i in range(n):
        write_rgbd_array(root / "loose" / f"s{i:02d}.npy", torch.rand(3, 20, 20, generator=g),
                         torch.full((1, 20, 20), 1.0 + 0.1 * i))
    pack_sources([str(root / "loose")], root / "packed", shard_size=shard_size)
    return str(root / "packed")


def _dm(a: str, b: str, **kw) -> UnpairedRGBDDataModule:
    args = {"image_size": S, "batch_size": 2, "num_workers": 0, "val_fraction": 0.25, "seed": 10, **kw}
    cfg = DataConfig(**args)
    return UnpairedRGBDDataModule.from_config(cfg, CODEC, [a], [b])


@pytest.fixture(scope="module")
def packs(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("packs")
    return pack_domain(root / "A", 16), pack_domain(root / "B", 12)


def _keys(batch: dict, d: str) -> list[str]:
    return [k.split("/", 1)[1] for k in batch[d]["key"]]


def test_packed_sources_select_the_streaming_datamodule(packs, tmp_path):
    dm = _dm(*packs)
    assert isinstance(dm, StreamingRGBDDataModule)
    (tmp_path / "loose").mkdir()
    write_rgbd_array(tmp_path / "loose" / "x.npy", torch.rand(3, 8, 8), torch.ones(1, 8, 8))
    assert type(_dm(str(tmp_path / "loose"), str(tmp_path / "loose"))) is UnpairedRGBDDataModule
    mixed = _dm(packs[0], str(tmp_path / "loose"))
    with pytest.raises(DataError, match="domain B: streamed data takes exactly one packed folder") as e:
        mixed.setup("fit")
    assert "\n" not in str(e.value) and "volo data pack" in str(e.value)


def test_epoch_covers_each_training_sample_once_and_domains_shuffle_independently(packs):
    dm = _dm(*packs)
    dm.setup("fit")
    n_a, n_b = len(dm.train_sets["A"]), len(dm.train_sets["B"])
    assert (n_a, n_b) == (12, 9) and len(dm.val_sets["A"]) == 4 and len(dm.val_sets["B"]) == 3
    stream = dm.train_dataloader()
    assert len(stream) == 6, "an epoch is the longer domain's batches"
    epochs = [list(stream), list(stream)]
    for batches in epochs:
        a = [k for b in batches for k in _keys(b, "A")]
        assert len(a) == len(set(a)) == 12, "every A training sample once per epoch"
        for b in batches:
            assert b["A"]["image"].shape == (2, 4, S, S) and b["B"]["valid"].dtype == torch.bool
    a1 = [k for b in epochs[0] for k in _keys(b, "A")]
    b1 = [k for b in epochs[0] for k in _keys(b, "B")]
    assert a1[:8] != b1[:8], "A and B must not be shuffled alike (same stems, same seed would pair them)"
    assert a1 != [k for b in epochs[1] for k in _keys(b, "A")], "a new order every epoch"
    val_a = {k.split("/", 1)[1] for b in dm.val_dataloader().iterables["A"] for k in b["key"]}
    assert len(val_a) == 4 and not val_a & set(a1), "validation samples are never trained on"


def test_split_sizes_and_validation_loaders_lightning_does_not_take_for_plain_dataloaders(packs):
    """split_size counts a split over all processes (len() is this process's share; the same in one process). The
    validation loaders reach Lightning without a ``dataset``: litdata shards them itself, and Lightning would warn
    that the length of a DataLoader over an IterableDataset "could be inaccurate"."""
    dm = _dm(*packs)
    dm.setup("fit")
    for d, (n_train, n_val) in (("A", (12, 4)), ("B", (9, 3))):
        assert (split_size(dm.train_sets[d]), split_size(dm.val_sets[d])) == (n_train, n_val)
        assert (len(dm.train_sets[d]), len(dm.val_sets[d])) == (n_train, n_val)
    for d, loader in dm.val_dataloader().iterables.items():
        assert isinstance(loader, SelfShardedLoader) and not hasattr(loader, "dataset")
        assert len(loader) == len(list(loader)) == {"A": 2, "B": 2}[d]


def test_seed_is_used(packs):
    orders = []
    for seed in (10, 10, 11):
        dm = _dm(*packs, seed=seed)
        dm.setup("fit")
        orders.append([k for b in dm.train_dataloader() for k in _keys(b, "A")])
    assert orders[0] == orders[1] and orders[0] != orders[2]


def _consume(dm, it, n: int) -> list[list[str]]:
    """Train on ``n`` batches the way Lightning does: fetch one batch ahead, then hand the current one over."""
    out = []
    nxt = next(it)
    for _ in range(n):
        cur, nxt = nxt, next(it)  # the prefetched batch is already out of the loaders
        flat = dm.on_after_batch_transfer(cur, 0)
        assert SEQ_KEY not in flat
        out.append(_keys(cur, "A") + _keys(cur, "B"))
    return out


def test_resume_mid_epoch_continues_after_the_last_trained_batch(packs):
    ref = _dm(*packs)
    ref.setup("fit")
    ref.trainer = SimpleNamespace(training=False)
    whole = _consume(ref, iter(_chain(ref.train_dataloader(), 2)), 9)

    first = _dm(*packs)
    first.setup("fit")
    first.trainer = SimpleNamespace(training=False)
    seen = _consume(first, iter(_chain(first.train_dataloader(), 2)), 4)
    state = first.state_dict()
    assert state["stream"]["in_epoch"] == 4
    torch.save(state, Path(packs[0]).parent / "state.pt")
    state = torch.load(Path(packs[0]).parent / "state.pt", weights_only=True)  # checkpoint-safe types only

    resumed = _dm(*packs)
    resumed.setup("fit")
    resumed.trainer = SimpleNamespace(training=False)
    resumed.load_state_dict(state)
    stream = resumed.train_dataloader()
    rest = _consume(resumed, iter(_chain(stream, 2)), 5)
    assert seen + rest == whole, "no batch replayed or skipped across the resume, into the next epoch"


def _chain(stream, epochs: int):
    """What Lightning iterates: the stream, epoch after epoch."""
    for _ in range(epochs):
        yield from stream
