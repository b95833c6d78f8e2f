"""A checkpoint written by an older main (tests/fixtures/old_checkpoint, see its README) still loads and computes
what that main computed: through load_generator, VoloGANModule.load_from_checkpoint, the resume checks and
``volo translate``. Never regenerate the fixture with newer code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.cli.conftest import run_volo
from volo_adapt.checkpoint import network_state, read_volo_block, stored_batches, stored_global_step
from volo_adapt.data.formats import write_depth, write_rgb
from volo_adapt.directions import Direction
from volo_adapt.inference import load_generator, translate_tensors

FIXTURE = Path(__file__).parent / "fixtures" / "old_checkpoint"
OLD = FIXTURE / "main-a0bdbbb-smoke.ckpt"
EXPECTED = FIXTURE / "main-a0bdbbb-smoke-expected.npz"
CASES = [(d, ema) for d in ("a2b", "b2a") for ema in (True, False)]


@pytest.fixture(scope="module")
def expected() -> dict[str, np.ndarray]:
    with np.load(EXPECTED) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize(("direction", "ema"), CASES, ids=[f"{d}_{'ema' if e else 'raw'}" for d, e in CASES])
def test_old_checkpoint_reproduces_the_old_outputs(expected, direction, ema):
    """As make_expected.py did at a0bdbbb: fp32, per-sample seeds 1 and 2, the stored input."""
    loaded = load_generator(OLD, direction=direction, use_ema=ema)
    assert (loaded.direction, loaded.weights, loaded.kind) == (direction, "ema" if ema else "raw", "checkpoint")
    x = torch.from_numpy(expected["input"])
    out = translate_tensors(loaded, x, precision="32", seeds=[1, 2]).numpy()
    np.testing.assert_allclose(out, expected[f"{direction}_{'ema' if ema else 'raw'}"], rtol=0, atol=1e-5)


def test_old_checkpoint_loads_as_a_lightning_module():
    from volo_adapt.training.module import VoloGANModule

    module = VoloGANModule.load_from_checkpoint(OLD)
    assert isinstance(module, VoloGANModule) and module.cfg.model.gen_base == 2 and module.ema_enabled
    state = torch.load(OLD, weights_only=True)["state_dict"]
    for d in Direction:
        for ema in (True, False):
            net = getattr(module, d.generator + ("_ema" if ema else ""))
            stored = network_state(state, d, ema)
            assert all(torch.equal(v, stored[k]) for k, v in net.state_dict().items())
    gen = load_generator(OLD, "a2b", use_ema=True).module
    x = torch.rand(1, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    module.eval()
    with torch.no_grad():
        torch.manual_seed(0)
        a = module.gen_a2b_ema(x)
        torch.manual_seed(0)
        b = gen(x)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_old_checkpoint_passes_the_resume_checks():
    from volo_adapt.training.checkpoint import check_resume_compatible

    block = read_volo_block(OLD)
    assert block["format"] == 1 and block["volo_version"] == "0.1.0"
    assert check_resume_compatible(OLD, block["config"]["model"]) == block["config"]
    assert stored_batches(OLD) == 2 and stored_global_step(OLD) == 4


def test_volo_translate_with_the_old_checkpoint(tmp_path, capsys):
    src, out = tmp_path / "in", tmp_path / "out"
    for i in range(2):
        write_rgb(src / f"rgb/{i}.png", torch.rand(3, 20, 28, generator=torch.Generator().manual_seed(i)))
        write_depth(src / f"depth/{i}.png", 0.5 + torch.rand(1, 20, 28, generator=torch.Generator().manual_seed(9 + i)))
    code, stdout, stderr = run_volo(["translate", str(src), str(out), "--ckpt", str(OLD), "--device", "cpu"], capsys)
    assert code in (0, None), stderr
    assert sorted(p.name for p in (out / "rgb").iterdir()) == ["0.png", "1.png"]
    assert sorted(p.name for p in (out / "depth").iterdir()) == ["0.png", "1.png"]
    assert json.loads((out / "translate_report.json").read_text())["counts"]["translated"] == 2
