"""optim.critic_warmup: only the critics learn during the first share of a run."""

from __future__ import annotations

import lightning as L
import torch

from tests.training.conftest import smoke_config
from volo_adapt.training.module import VoloGANModule
from volo_adapt.training.run import train


def _weights(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


class Snapshots(L.Callback):
    """Copies of the A->B generator's and the B critic's weights after every batch."""

    def __init__(self) -> None:
        self.gen: list[list[torch.Tensor]] = []
        self.critic: list[list[torch.Tensor]] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.gen.append(_weights(pl_module.gen_a2b))
        self.critic.append(_weights(pl_module.critic_b))


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_generators_stay_untouched_during_the_critic_warmup(tiny_data, tmp_path):
    cfg = smoke_config(tiny_data, "optim.critic_warmup=0.5", "train.max_steps=4", "optim.ema_decay=0.0",
                       "train.sample_every_n_steps=0")
    torch.manual_seed(cfg.train.seed)
    initial = _weights(VoloGANModule(cfg).gen_a2b)  # what train() builds: same seed, same construction order
    snaps = Snapshots()
    res = train(cfg, tmp_path / "run", progress=False, callbacks=[snaps])
    assert res.batches_done == 4
    # 4 planned batches, warm-up share 0.5: batches 0 and 1 train the critics only, 2 and 3 both
    assert _same(snaps.gen[0], initial) and _same(snaps.gen[1], initial)
    assert not _same(snaps.gen[2], initial)
    assert not _same(snaps.critic[0], snaps.critic[1])  # the critics learn from the first batch on


def test_warmup_share_follows_progress():
    from volo_adapt.config import load_config

    m = VoloGANModule(load_config("smoke", ["optim.critic_warmup=0.25", "train.max_steps=8"]))
    m.planned_batches = 8
    assert m.in_critic_warmup()  # batch 0
    m.batches_done = 2
    assert not m.in_critic_warmup()  # progress 0.25
    off = VoloGANModule(load_config("smoke"))
    assert not off.in_critic_warmup()
