from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities.combined_loader import CombinedLoader
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import DistributedSampler, RandomSampler

from volo_adapt.config import DataConfig
from volo_adapt.data.datamodule import UnpairedRGBDDataModule, check_train_size, split_indices
from volo_adapt.data.formats import write_rgbd_array
from volo_adapt.data.sample import DepthCodec
from volo_adapt.errors import ConfigError, DataError

CODEC = DepthCodec(near=0.25, far=5.0, gap=0.05)
S = 16


def _arrays(root: Path, n: int, value: float = 0.5, h: int = 20, w: int = 24) -> str:
    """``n`` (H, W, 4) .npy samples; sample i has constant colour and depth ``1 + 0.1 * i`` m (identifiable)."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        rgb = torch.full((3, h, w), value)
        depth = torch.full((1, h, w), 1.0 + 0.1 * i)
        depth[..., :2, :] = 0.0  # an invalid top band
        write_rgbd_array(root / f"s{i:02d}.npy", rgb, depth)
    return str(root)


_RUNTIME = ("validate", "pixel_limit", "pin_memory", "progress")


def _module(a: list[str], b: list[str], **kw) -> UnpairedRGBDDataModule:
    """The DataModule over sources ``a`` and ``b``; ``kw``: DataConfig fields and the runtime arguments."""
    runtime = {k: kw.pop(k) for k in _RUNTIME if k in kw}
    return UnpairedRGBDDataModule(DataConfig(**kw), CODEC, data_a=a, data_b=b, **runtime)


def _dm(tmp_path: Path, n_a: int = 6, n_b: int = 4, **kw) -> UnpairedRGBDDataModule:
    a = _arrays(tmp_path / "a", n_a, value=0.25)
    b = _arrays(tmp_path / "b", n_b, value=0.75)
    args = {"image_size": S, "batch_size": 2, "num_workers": 0, "val_fraction": 0.34, "seed": 10}
    args.update(kw)
    return _module([a], [b], **args)


def _keys(ds) -> list[str]:
    return [f"{Path(r.source).name}/{r.key}" for r in ds.refs]


def test_split_indices_seeded() -> None:
    tr, va = split_indices(10, 0.2, seed=10)
    assert len(tr) == 8 and len(va) == 2 and sorted(tr + va) == list(range(10))
    assert split_indices(10, 0.2, seed=10) == (tr, va)
    assert {tuple(split_indices(10, 0.2, seed=s)[1]) for s in range(6)} != {tuple(va)}, "the seed must matter"
    assert split_indices(10, 0.2, seed=10, domain=0) != split_indices(10, 0.2, seed=10, domain=1)
    assert split_indices(3, 0.01, seed=1)[1] != [], "a positive fraction keeps at least one val sample"
    assert split_indices(3, 0.0, seed=1) == ([0, 1, 2], [])
    assert len(split_indices(2, 0.9, seed=1)[0]) == 1, "at least one training sample"


def test_setup_splits_per_domain_reproducibly(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=9, n_b=6)
    dm.setup("fit")
    assert (len(dm.train_sets["A"]), len(dm.val_sets["A"])) == (6, 3)
    assert (len(dm.train_sets["B"]), len(dm.val_sets["B"])) == (4, 2)
    assert not set(_keys(dm.train_sets["A"])) & set(_keys(dm.val_sets["A"]))
    assert dm.val_sets["A"].train is False and dm.train_sets["A"].train is True
    again = _dm(tmp_path, n_a=9, n_b=6)
    again.setup("fit")
    assert _keys(again.val_sets["A"]) == _keys(dm.val_sets["A"])
    splits = set()
    for seed in range(5):
        other = _dm(tmp_path, n_a=9, n_b=6, seed=seed)
        other.setup("fit")
        splits.add(tuple(_keys(other.val_sets["A"])))
    assert len(splits) > 1, "different seeds must give different splits"


def test_several_specs_are_concatenated(tmp_path: Path) -> None:
    a1 = _arrays(tmp_path / "a1", 3)
    a2 = _arrays(tmp_path / "a2", 2)
    b = _arrays(tmp_path / "b", 3)
    dm = _module([a1, a2], [b], image_size=S, num_workers=0, val_fraction=0.0)
    dm.setup("fit")
    assert len(dm.train_sets["A"]) == 5 and len(dm.train_sets["B"]) == 3
    assert dm.val_dataloader() == [], "no validation split -> Lightning skips validation"


def _corrupt(tmp_path: Path) -> tuple[str, str]:
    a = _arrays(tmp_path / "a", 6)
    (Path(a) / "s03.npy").write_bytes(b"garbage")
    (Path(a) / "s04.npy").write_bytes(b"")
    return a, _arrays(tmp_path / "b", 4)


def test_bad_files_refused_with_one_line(tmp_path: Path) -> None:
    a, b = _corrupt(tmp_path)
    dm = _module([a], [b], image_size=S, num_workers=0)
    with pytest.raises(DataError, match=r"domain A: 2 of 6 samples cannot be read") as e:
        dm.setup("fit")
    msg = str(e.value)
    assert "\n" not in msg and "s03.npy" in msg and "s04.npy" in msg and "skip_bad" in msg


def test_bad_files_skipped_keep_the_split(tmp_path: Path) -> None:
    a, b = _corrupt(tmp_path)
    seen = []
    dm = _module(
        [a], [b], image_size=S, num_workers=0, val_fraction=0.34, skip_bad=True,
        progress=lambda d, done, total: seen.append((d, done, total)),
    )
    dm.setup("fit")
    assert sorted(Path(s.path).name for s in dm.skipped) == ["s03.npy", "s04.npy"]
    kept = _keys(dm.train_sets["A"]) + _keys(dm.val_sets["A"])
    assert len(kept) == 4 and not any("s03" in k or "s04" in k for k in kept)
    clean = _dm(tmp_path / "clean", n_a=6, n_b=4, val_fraction=0.34)
    clean.setup("fit")
    expected_val = [k for k in _keys(clean.val_sets["A"]) if "s03" not in k and "s04" not in k]
    assert _keys(dm.val_sets["A"]) == expected_val, "skipping must not move samples between train and val"
    assert ("A", 6, 6) in seen and ("B", 4, 4) in seen


def test_too_few_training_samples(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=2, n_b=4, batch_size=2, val_fraction=0.5)
    with pytest.raises(DataError, match="domain A: 1 training samples.*batch_size 2"):
        dm.setup("fit")


def test_training_split_must_give_every_process_a_batch() -> None:
    """Under DDP each process reads ceil(n / world) samples (the sampler repeats a few); fewer than batch_size stops."""
    cfg = DataConfig(batch_size=3, val_fraction=0.2)
    check_train_size("A", 3, 4, cfg, world=1)
    check_train_size("A", 5, 6, cfg, world=2)  # 3 per process
    with pytest.raises(DataError) as e:
        check_train_size("A", 4, 5, cfg, world=2)  # 2 per process
    assert str(e.value) == (
        "domain A: 4 training samples (of 5 listed, val_fraction 0.2) give each of 2 processes 2, fewer than "
        "data.batch_size 3: give domain A at least 5 training samples, lower data.batch_size, or use fewer "
        "processes (train.devices)"
    )
    with pytest.raises(DataError, match="at least 9 training samples"):
        check_train_size("B", 8, 10, cfg, world=4)  # 2 per process; 9 give 3
    with pytest.raises(DataError, match=r"^domain B: 2 training samples .* is fewer than data.batch_size 3$"):
        check_train_size("B", 2, 3, cfg, world=1)


def test_setup_inside_a_two_process_trainer_refuses_a_split_too_small_for_each(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=6, n_b=6, batch_size=3, val_fraction=0.0)
    dm.setup("fit")  # one process: 6 samples, batches of 3
    dm = _dm(tmp_path, n_a=6, n_b=6, batch_size=3, val_fraction=0.0)
    dm.trainer = SimpleNamespace(world_size=2, global_rank=1, training=False)
    dm.setup("fit")  # 3 per process
    dm = _dm(tmp_path, n_a=6, n_b=6, batch_size=4, val_fraction=0.0)
    dm.trainer = SimpleNamespace(world_size=2, global_rank=0, training=False)
    with pytest.raises(DataError, match="domain A: 6 training samples .* give each of 2 processes 3, fewer than"):
        dm.setup("fit")


def test_missing_source_is_a_dataerror(tmp_path: Path) -> None:
    dm = _module([str(tmp_path / "nope")], [str(tmp_path / "nope")], num_workers=0)
    with pytest.raises(DataError):
        dm.setup("fit")


def test_from_config(tmp_path: Path) -> None:
    cfg = DataConfig(image_size=S, batch_size=3, num_workers=0, seed=4, shift_prob=0.5, color_jitter=0.1)
    with pytest.raises(ConfigError, match="data.data_a"):
        UnpairedRGBDDataModule.from_config(cfg, CODEC)
    dm = UnpairedRGBDDataModule.from_config(cfg, CODEC, data_a=["x"], data_b=["y"])
    assert dm.specs == {"A": ["x"], "B": ["y"]} and dm.config.batch_size == 3 and dm.config.seed == 4
    assert dm.augment.shift_prob == 0.5 and dm.augment.color_jitter == 0.1 and dm.config.image_size == S
    sourced = UnpairedRGBDDataModule.from_config(dataclasses.replace(cfg, data_a=["p"], data_b=["q"]), CODEC)
    assert sourced.specs == {"A": ["p"], "B": ["q"]}, "without overrides: the config's own sources"


def _order(loader) -> list[int]:
    return [int(i) for batch in loader for i in batch["index"]]


def test_train_loaders_shuffle_independently_and_per_epoch(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=12, n_b=12, val_fraction=0.0, batch_size=2)
    dm.setup("fit")
    combined = dm.train_dataloader()
    assert isinstance(combined, CombinedLoader) and combined._mode == "max_size_cycle"
    dl_a, dl_b = combined.iterables["A"], combined.iterables["B"]
    assert dl_a.drop_last and dl_b.drop_last and isinstance(dl_a.sampler, RandomSampler)
    assert dl_a.generator is not dl_b.generator
    a1, b1 = _order(dl_a), _order(dl_b)
    assert sorted(a1) == list(range(12)) and sorted(b1) == list(range(12))
    assert a1 != b1, "equal-size domains must not be shuffled alike"
    assert _order(dl_a) != a1, "a new order every epoch"
    # The seed is honoured: a fresh DataModule with the same seed repeats the order, another seed does not.
    same = _dm(tmp_path, n_a=12, n_b=12, val_fraction=0.0, batch_size=2)
    same.setup("fit")
    assert _order(same.train_dataloader().iterables["A"]) == a1
    other = _dm(tmp_path, n_a=12, n_b=12, val_fraction=0.0, batch_size=2, seed=11)
    other.setup("fit")
    assert _order(other.train_dataloader().iterables["A"]) != a1


def test_shuffle_state_round_trips(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=12, n_b=8, val_fraction=0.0, batch_size=2)
    dm.setup("fit")
    dl = dm.train_dataloader().iterables["A"]
    _order(dl)
    state = dm.state_dict()
    want = _order(dl)
    resumed = _dm(tmp_path, n_a=12, n_b=8, val_fraction=0.0, batch_size=2)
    resumed.setup("fit")
    resumed.load_state_dict(state)
    assert _order(resumed.train_dataloader().iterables["A"]) == want


def test_val_loader_fixed_order(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=9, n_b=6)
    dm.setup("fit")
    combined = dm.val_dataloader()
    assert isinstance(combined, CombinedLoader)
    dl = combined.iterables["A"]
    assert _order(dl) == list(range(3)) == _order(dl) and not dl.drop_last


def test_lightning_can_shard_plain_loaders(tmp_path: Path) -> None:
    """Do what Lightning does under DDP with a plain loader (val, or a train loader built outside a trainer):
    swap its sampler for a DistributedSampler; the rebuilt loaders keep their settings and shard disjointly."""
    dm = _dm(tmp_path, n_a=16, n_b=8, val_fraction=0.5, batch_size=2)
    dm.setup("fit")
    for stage, make in ((RunningStage.TRAINING, dm.train_dataloader), (RunningStage.VALIDATING, dm.val_dataloader)):
        shards: dict[str, list[set[int]]] = {"A": [], "B": []}
        for rank in range(2):
            for d, dl in make().iterables.items():
                shuffle = stage == RunningStage.TRAINING
                sampler = DistributedSampler(dl.dataset, num_replicas=2, rank=rank, shuffle=shuffle, seed=0)
                new = _update_dataloader(dl, sampler, mode=stage)
                assert new.sampler is sampler and new.batch_size == 2 and new.drop_last == dl.drop_last
                assert new.collate_fn is dl.collate_fn
                shards[d].append(set(_order(new)))
        for d, n in (("A", 8), ("B", 4)):
            r0, r1 = shards[d]
            assert not r0 & r1 and r0 | r1 == set(range(n)), f"{stage} domain {d}: shards {r0} {r1}"


def test_ddp_train_loaders_disjoint_and_domains_independent(tmp_path: Path) -> None:
    """Inside a multi-process trainer each domain gets its own DistributedSampler with its own seed."""
    orders: dict[str, list[list[int]]] = {"A": [], "B": []}
    for rank in range(2):
        dm = _dm(tmp_path, n_a=12, n_b=12, val_fraction=0.0, batch_size=2)
        dm.setup("fit")
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank, training=True)
        for d, dl in dm.train_dataloader().iterables.items():
            assert isinstance(dl.sampler, DistributedSampler) and dl.sampler.rank == rank
            assert dl.sampler.num_replicas == 2 and dl.drop_last
            orders[d].append(_order(dl))
            dl.sampler.set_epoch(1)
            assert _order(dl) != orders[d][-1], "set_epoch must reshuffle"
    for d in ("A", "B"):
        r0, r1 = (set(o) for o in orders[d])
        assert not r0 & r1 and r0 | r1 == set(range(12)), f"domain {d}: ranks overlap"
    assert orders["A"][0] != orders["B"][0], "equal-size domains must not be paired by index under DDP"
    # Lightning leaves a DistributedSampler in place (it only replaces other samplers).
    dm.trainer = None
    assert not isinstance(dm.train_dataloader().iterables["A"].sampler, DistributedSampler)


def _stub_trainer(training: bool) -> SimpleNamespace:
    return SimpleNamespace(training=training)


def test_flat_batch_format_and_augment_only_in_training(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=6, n_b=4, val_fraction=0.0, batch_size=2, shift_prob=1.0, hflip=False)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    if isinstance(batch, tuple):  # CombinedLoader yields (batch, batch_idx, dataloader_idx)
        batch = batch[0]
    assert set(batch) == {"A", "B"}
    raw_a = batch["A"]["image"].clone()
    dm.trainer = _stub_trainer(training=False)
    flat = dm.on_after_batch_transfer(batch, 0)
    assert set(flat) == {"A", "B", "valid_A", "valid_B"}
    for d in ("A", "B"):
        assert flat[d].shape == (2, 4, S, S) and flat[d].dtype == torch.float32
        assert flat[f"valid_{d}"].shape == (2, 1, S, S) and flat[f"valid_{d}"].dtype == torch.bool
    assert torch.equal(flat["A"], raw_a), "no augmentation outside training"
    assert torch.allclose(flat["A"][:, :3][flat["valid_A"].expand(-1, 3, -1, -1)], torch.tensor(0.25))
    assert torch.allclose(flat["B"][:, :3][flat["valid_B"].expand(-1, 3, -1, -1)], torch.tensor(0.75))
    dm.trainer = _stub_trainer(training=True)
    torch.manual_seed(0)
    aug = dm.on_after_batch_transfer(batch, 0)
    assert aug["A"].shape == (2, 4, S, S) and not torch.equal(aug["A"], raw_a), "shift_prob=1 must shift"
    for d in ("A", "B"):
        x, v = aug[d], aug[f"valid_{d}"]
        assert (x[~v.expand_as(x)] == 0).all()


@pytest.mark.slow
def test_worker_loading_and_bad_file_surfaces_in_main_process(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=4, n_b=4, val_fraction=0.0, batch_size=2, num_workers=1, validate=False)
    dm.setup("fit")
    (Path(dm.specs["A"][0]) / "s01.npy").write_bytes(b"broken after the start-up check")
    dm.trainer = _stub_trainer(training=False)
    combined = dm.train_dataloader()
    dl = combined.iterables["A"]
    assert dl.num_workers == 1 and dl.persistent_workers
    with pytest.raises(DataError, match="s01.npy") as e:
        for batch in combined:
            dm.on_after_batch_transfer(batch[0] if isinstance(batch, tuple) else batch, 0)
    assert "\n" not in str(e.value) and "Traceback" not in str(e.value)


def test_stem_log_writes_one_line_per_training_batch(tmp_path: Path) -> None:
    dm = _dm(tmp_path, n_a=6, n_b=4, val_fraction=0.0, batch_size=2, stem_log=True)
    dm.setup("fit")
    module = SimpleNamespace(batches_done=6)
    dm.trainer = SimpleNamespace(training=True, lightning_module=module, default_root_dir=str(tmp_path / "run"),
                                 global_rank=1, current_epoch=2, global_step=0)
    batch = next(iter(dm.train_dataloader()))
    batch = batch[0] if isinstance(batch, tuple) else batch
    dm.on_after_batch_transfer(batch, 0)
    (line,) = (tmp_path / "run" / "stems" / "rank1.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["batch"] == 7 and entry["epoch"] == 2 and len(entry["A"]) == len(entry["B"]) == 2
    assert entry["A"] == [f"a/{dm.train_sets['A'].refs[int(i)].key}" for i in batch["A"]["index"]]
    assert all(s.startswith("b/s") for s in entry["B"]), "SOURCE_NAME/KEY of domain B's own samples"
    dm.trainer.training = False
    dm.on_after_batch_transfer(batch, 0)
    assert len((tmp_path / "run" / "stems" / "rank1.jsonl").read_text().splitlines()) == 1, "validation not logged"
