"""Streaming from object storage: a real local S3 endpoint (moto_server) reached through the AWS environment.

Nothing is mocked in the client: litdata's S3 downloader (boto3) talks HTTP to the local server, whose address
and dummy credentials come from the standard environment variables set by the ``s3_env`` fixture.
"""

from __future__ import annotations

import gc
import os
import tracemalloc
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from volo_adapt.config import DataConfig
from volo_adapt.data.datamodule import UnpairedRGBDDataModule
from volo_adapt.data.formats import write_rgbd_array
from volo_adapt.data.sample import DepthCodec

pytest.importorskip("litdata")
pytest.importorskip("boto3")
from volo_adapt.data.pack_writer import pack_sources  # noqa: E402

CODEC = DepthCodec(near=0.25, far=5.0, gap=0.05)


def _upload(folder: Path, bucket: str, prefix: str) -> str:
    import importlib.util

    spec = importlib.util.spec_from_file_location("volo_data_conftest", Path(__file__).with_name("conftest.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.upload_folder(folder, bucket, prefix)


def _pack(root: Path, n: int, size: int, seed: int) -> Path:
    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        write_rgbd_array(root / "loose" / f"s{i:03d}.npy", torch.rand(3, size, size, generator=g),
                         1 + torch.rand(1, size, size, generator=g))
    pack_sources([str(root / "loose")], root / "packed", shard_size="64KB")
    return root / "packed"


def _dir_bytes(root: Path) -> int:
    """Bytes of the files under ``root`` (litdata may delete a chunk while this walks: those count 0)."""
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            try:
                total += os.stat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:
                pass
    return total


def test_domain_much_larger_than_the_cache_streams_with_bounded_disk_and_memory(s3_env, tmp_path):
    a = _pack(tmp_path / "A", 48, 32, seed=1)  # 48 x 16 KB of random floats in 64 KB chunks: about 0.7 MB
    b = _pack(tmp_path / "B", 16, 32, seed=2)
    domain_bytes = _dir_bytes(a)
    uri_a, uri_b = _upload(a, "volo", "packs/A"), _upload(b, "volo", "packs/B")
    cache = tmp_path / "cache"
    cfg = DataConfig(image_size=16, batch_size=2, num_workers=0, val_fraction=0.0, stream_cache_dir=str(cache),
                     stream_cache_size="96KB")
    dm = UnpairedRGBDDataModule.from_config(cfg, CODEC, [uri_a], [uri_b])
    dm.setup("fit")
    dm.trainer = SimpleNamespace(training=False)
    stream = dm.train_dataloader()
    assert len(stream) == 24
    epochs: list[list[str]] = [[], []]
    peak_cache = 0
    held: list[int] = []  # Python-side memory still referenced (after a collection) at batches 15 and 60
    tracemalloc.start()
    try:
        for seen in epochs:
            for batch in stream:
                dm.on_after_batch_transfer(batch, 0)
                seen += batch["A"]["key"]
                peak_cache = max(peak_cache, _dir_bytes(cache))
                if len(seen) in (24, 48):  # batch 12 of each epoch, and the last one
                    gc.collect()  # litdata makes a boto3 client per download: megabytes of cyclic garbage
                    held.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    for seen in epochs:
        assert sorted(seen) == [f"loose/s{i:03d}" for i in range(48)], "every sample streamed once per epoch"
    assert domain_bytes > 700_000
    # the disk cache holds about its budget plus the chunks being read or prefetched (seen: 181 KB), never the domain
    assert peak_cache < domain_bytes / 2, (peak_cache, domain_bytes)
    # memory is flat: what is held after 36 more batches (1.5 passes over A, 4.5 over B) is not more data
    grown = held[-1] - held[0]
    assert grown < domain_bytes / 2, f"memory grew by {grown} bytes over 36 batches of a {domain_bytes}-byte domain"


@pytest.mark.slow
def test_training_from_s3_keeps_credentials_out_of_configs_and_logs(s3_env, tmp_path):
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    uri_a = _upload(_pack(tmp_path / "A", 6, 32, seed=3), "volo", "train/A")
    uri_b = _upload(_pack(tmp_path / "B", 6, 32, seed=4), "volo", "train/B")
    cfg = load_config("smoke", ["train.max_steps=2", "train.sample_every_n_steps=0", "data.val_fraction=0.0",
                                f"data.stream_cache_dir={tmp_path / 'cache'}", "data.stem_log=true"])
    cfg = cfg.replace(data={"data_a": [uri_a], "data_b": [uri_b]})
    res = train(cfg, tmp_path / "run", progress=False)
    assert res.batches_done == 2 and res.last_checkpoint is not None
    stems = (tmp_path / "run" / "stems" / "rank0.jsonl").read_text().splitlines()
    assert len(stems) == 2
    secret = os.environ["AWS_SECRET_ACCESS_KEY"].encode()
    for f in (tmp_path / "run").rglob("*"):
        if f.is_file():
            assert secret not in f.read_bytes(), f"{f} holds the secret key"
