"""model.sensor.mask_decides: the return mask alone decides which pixels have a return."""

from __future__ import annotations

import pytest
import torch

from volo_adapt.build import build_generator
from volo_adapt.config import load_config
from volo_adapt.data.sample import DepthCodec
from volo_adapt.errors import ConfigError

GAP = 0.05
ANCHORED = ["model.generator=resnet9", "model.gen_kwargs={n_blocks: 1}", f"data.depth_gap={GAP}",
            "model.sensor.residual=true", "model.sensor.validity=depth", "model.sensor.reach=0.2",
            "model.sensor.new_returns=anchored"]


def test_a_depth_pushed_under_the_threshold_drops_a_return_only_without_mask_decides() -> None:
    depth = torch.full((1, 1, 16, 16), 2.0)
    depth[..., :6, :] = 0.0  # background rows; the two rows below the surface's edge are within reach
    x = torch.cat([torch.full((1, 3, 16, 16), 0.5) * (depth > 0), DepthCodec(0.25, 5.0, GAP).encode(depth)], 1)
    valid = x[:, -1:] >= GAP / 2
    outs = {}
    for decides in (False, True):
        cfg = load_config("smoke", [*ANCHORED, f"model.sensor.mask_decides={str(decides).lower()}"])
        g = build_generator(cfg.model, cfg.data, "a2b")
        _, ring = g.anchored(x)
        with torch.no_grad():
            g.head.bias[3] = -2.0  # the depth correction: every depth pushed far under the threshold
            g.head.bias[4 * (1 + len(g.bases(x)))] = g.birth_prior + 1.0  # every candidate born
            outs[decides] = g(x, stochastic=False)[:, -1:] >= GAP / 2
    assert ring.any() and not outs[False].any()  # the depth took every return and every birth away
    assert torch.equal(outs[True], valid | ring)  # the mask's decisions, nothing beyond reach


def test_mask_decides_needs_anchored_new_returns() -> None:
    with pytest.raises(ConfigError, match=r"^model\.sensor\.mask_decides: needs model\.sensor\.new_returns=anchored"):
        load_config("smoke", ["model.sensor.mask_decides=true"])
