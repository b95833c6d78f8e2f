"""Two-process DDP on CPU (gloo): both ranks must end with identical weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import hashlib, os, sys
    import torch
    torch.set_num_threads(1)
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    out, a, b = sys.argv[1], sys.argv[2], sys.argv[3]
    cfg = load_config("smoke", ["train.strategy=ddp", "train.devices=2", "train.accelerator=cpu",
                                "train.max_steps=2", "train.sample_every_n_steps=0", "data.batch_size=1"])
    cfg.data.data_a, cfg.data.data_b = [a], [b]
    res = train(cfg, out, progress=False)
    h = hashlib.sha256()
    for k, v in sorted(res.module.state_dict().items()):
        h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
    rank = res.module.global_rank
    with open(os.path.join(out, f"hash_rank{rank}.txt"), "w") as f:
        f.write(f"{h.hexdigest()} {res.batches_done}")
    """
)


@pytest.mark.slow
def test_two_cpu_processes_end_with_identical_weights(tiny_data, tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    proc = subprocess.run(
        [sys.executable, str(script), str(out), *tiny_data],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    h0 = (out / "hash_rank0.txt").read_text().split()
    h1 = (out / "hash_rank1.txt").read_text().split()
    assert h0 == h1 and h0[1] == "2"
    assert (out / "checkpoints" / "last.ckpt").is_file()
