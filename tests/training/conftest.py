"""Shared fixtures of the training tests: tiny synthetic .npy data, one torch thread, the smoke config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from volo_adapt.config import RunConfig, load_config


def make_npy_domain(root: Path, n: int, depth_offset: float, seed: int, size: int = 40) -> Path:
    """``n`` random ``(size, size, 4)`` .npy samples (RGB in [0, 1], depth metres, a band of invalid pixels)."""
    from volo_adapt.data.formats import write_rgbd_array

    g = torch.Generator().manual_seed(seed)
    for i in range(n):
        rgb = torch.rand(3, size, size, generator=g)
        depth = depth_offset + torch.rand(1, size, size, generator=g)
        depth[:, :4] = 0.0
        write_rgbd_array(root / f"s{i:02d}.npy", rgb, depth)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> tuple[str, str]:
    """Two domains of 5 samples each (4 train + 1 val with the smoke preset's val_fraction 0.2)."""
    root = tmp_path_factory.mktemp("tiny_rgbd")
    a = make_npy_domain(root / "A", 5, 1.0, seed=1)
    b = make_npy_domain(root / "B", 5, 2.0, seed=2)
    return str(a), str(b)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions are much slower with two threads on a busy 2-core machine (spin waits)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def smoke_config(tiny_data: tuple[str, str], *overrides: str) -> RunConfig:
    return load_config("smoke", list(overrides)).replace(data={"data_a": [tiny_data[0]], "data_b": [tiny_data[1]]})


def one_smoke_batch(tiny_data: tuple[str, str], out: Path, *overrides: str
                    ) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """Train the smoke preset for one batch (``overrides`` on top) through the module's own training_step;
    returns its logged losses (``loss/...``) and its state dict (float32, contiguous)."""
    from volo_adapt.training.run import train

    cfg = smoke_config(tiny_data, "train.max_steps=1", "train.logger=none", "train.sample_every_n_steps=0",
                       "train.checkpoint_every_n_steps=0", *overrides)
    module = train(cfg, out, progress=False).module
    losses = {k: float(v) for k, v in module.trainer.callback_metrics.items() if k.startswith("loss/")}
    weights = {k: v.detach().float().contiguous() for k, v in module.state_dict().items()}
    return losses, weights


def unreadable_source(root: Path) -> str:
    """A folder source (``rgb/``, ``depth/``) whose one sample is not a PNG; returns its path."""
    for d in ("rgb", "depth"):
        (root / d).mkdir(parents=True)
        (root / d / "0.png").write_bytes(b"not a png")
    return str(root)
