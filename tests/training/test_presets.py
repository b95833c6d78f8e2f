"""The YAML presets in configs/ load, validate, and say what they claim (the original's settings for vologan)."""

from __future__ import annotations

import pytest

from volo_adapt.config import PRESETS_DIR, load_config


def test_every_preset_is_found():
    found = {p.stem for p in PRESETS_DIR.glob("*.yaml")}
    assert {"cyclegan", "demo", "demo_vologan", "sensor", "smoke", "vologan"} <= found


@pytest.mark.parametrize("name", sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
def test_preset_loads(name):
    assert (PRESETS_DIR / f"{name}.yaml").is_file()
    load_config(name)


def test_vologan_preset_is_the_original():
    c = load_config("vologan")
    assert (c.data.image_size, c.data.batch_size, c.train.seed, c.train.max_epochs) == (512, 1, 10, 60)
    assert (c.model.generator, c.model.critic, c.model.gen_base, c.model.critic_base) == ("vologan", "vologan", 64, 64)
    assert (c.loss.adversarial, c.loss.cycle_weight) == ("lsgan", 10)
    assert (c.loss.identity_weight, c.loss.ssim_weight) == (0.5, 1)
    assert c.loss.ssim_kind == "global" and c.loss.channel_weights == [1, 1, 1, 3] and c.loss.routing == "vologan"
    assert (c.optim.gen_optimizer, c.optim.gen_lr, c.optim.gen_betas) == ("nadam", 2e-4, [0.5, 0.999])
    assert (c.optim.critic_optimizer, c.optim.critic_lr, c.optim.critic_momentum) == ("sgd", 1e-4, 0.9)
    assert (c.optim.schedule, c.optim.warmup_epochs, c.optim.pool_size) == ("warmup_cosine", 10, 0)
    # the notebook at e089c21 (docs/paper-differences.md): shift with probability 0.2, L1 -> L2 half-way
    assert (c.data.hflip, c.data.shift_prob, c.loss.l1_to_l2_at) == (True, 0.2, 0.5)


def test_cyclegan_preset_is_the_textbook_baseline():
    c = load_config("cyclegan")
    assert (c.model.generator, c.model.critic) == ("resnet9", "patchgan")
    assert (c.loss.routing, c.loss.ssim_weight) == ("cyclegan", 0)
    assert (c.optim.gen_optimizer, c.optim.critic_optimizer, c.optim.pool_size) == ("adam", "adam", 50)
    assert (c.optim.schedule, c.optim.decay_start_epoch, c.train.max_epochs) == ("linear_decay", 100, 200)
