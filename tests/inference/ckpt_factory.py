"""Tiny checkpoints in the exact ``volo train`` format, for inference tests (no training needed)."""

from __future__ import annotations

from pathlib import Path

import torch

from volo_adapt.build import build_critic, build_generator
from volo_adapt.checkpoint import volo_block
from volo_adapt.config import RunConfig, load_config


def tiny_config(generator: str = "vologan", ema: bool = False, **data) -> RunConfig:
    """A config with a tiny generator (vologan: 3 levels, base 4 -> size_multiple 8, min_size 16)."""
    overrides = [f"model.generator={generator}", "model.gen_base=4", "model.critic=patchgan", "model.critic_base=4"]
    if generator == "vologan":
        overrides.append("model.gen_kwargs={levels: 3, dropout: 0.0}")
    else:
        overrides.append("model.gen_kwargs={n_blocks: 1}")
    if ema:
        overrides.append("optim.ema_decay=0.999")
    overrides += [f"data.{k}={v}" for k, v in data.items()]
    return load_config(None, overrides)


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Give the networks non-default weights (so a2b, b2a and EMA differ and outputs are not trivial)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))


def make_checkpoint(path: Path, cfg: RunConfig | None = None, *, ema: bool | None = None, seed: int = 0) -> Path:
    """Write a Lightning-style training checkpoint with the ``volo`` entry, as ``volo train`` does."""
    cfg = cfg or tiny_config(ema=bool(ema))
    torch.manual_seed(seed)
    nets = {
        "gen_a2b": build_generator(cfg.model, cfg.data),
        "gen_b2a": build_generator(cfg.model, cfg.data),
        "critic_a": build_critic(cfg.model),
        "critic_b": build_critic(cfg.model),
    }
    if cfg.optim.ema_decay > 0 and ema is not False:
        nets["gen_a2b_ema"] = build_generator(cfg.model, cfg.data)
        nets["gen_b2a_ema"] = build_generator(cfg.model, cfg.data)
    state = {}
    for i, (name, net) in enumerate(nets.items()):
        _perturb(net, seed * 10 + i)
        net.eval()
        for k, v in net.state_dict().items():
            state[f"{name}.{k}"] = v
    ckpt = {
        "epoch": 3,
        "global_step": 42,
        "pytorch-lightning_version": "2.6.6",
        "state_dict": state,
        "optimizer_states": [{"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1]}]}],
        "lr_schedulers": [],
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 3}}}},
        "volo": volo_block(cfg),
    }
    torch.save(ckpt, path)
    return path

