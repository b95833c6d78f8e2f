"""Two processes on small data (volo-adapt issue 23, item 1): every split either works under DDP or the run stops
before training, on every process alike, with one line saying what to change.

What each case does under 2 processes with ``data.batch_size`` B:

* loose training split: each process reads ``ceil(n / 2)`` samples (the DistributedSampler repeats one to even out
  the shares); fewer than B stops (``check_train_size``);
* loose validation split: works from 1 sample on (Lightning's sampler repeats samples so each process gets one);
* streamed (packed) training or validation split: litdata gives process 0 ``(n // B) // 2`` batches, so fewer than
  ``2 B`` samples stops (``StreamingRGBDDataModule.check_batches_per_process``).

One ``torchrun`` launch of 2 gloo processes runs all cases one after the other (the process group is set up once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.training.conftest import make_npy_domain

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import torch
    torch.set_num_threads(1)
    from volo_adapt.config import load_config
    from volo_adapt.errors import DataError, first_line
    from volo_adapt.training.run import train

    root, cases = sys.argv[1], json.loads(sys.argv[2])
    rank = int(os.environ["RANK"])
    outcomes = {}
    for name, (a, b, overrides) in cases.items():
        cfg = load_config("smoke", [
            "train.strategy=ddp", "train.devices=2", "train.accelerator=cpu", "train.max_steps=2",
            "train.sample_every_n_steps=0", "train.checkpoint_every_n_steps=0", "train.val_every_n_steps=1",
            "train.logger=none", "data.image_size=16", "model.gen_kwargs={levels: 2}", *overrides])
        cfg = cfg.replace(data={"data_a": [a], "data_b": [b]})
        try:
            res = train(cfg, os.path.join(root, name), progress=False)
        except DataError as e:
            outcomes[name] = {"error": first_line(e), "lines": len(str(e).splitlines())}
            continue
        metrics = res.module.trainer.callback_metrics
        outcomes[name] = {"batches": res.batches_done, "validated": any(k.startswith("val/") for k in metrics)}
    with open(os.path.join(root, f"outcomes_rank{rank}.json"), "w") as f:
        json.dump(outcomes, f)
    """
)


@pytest.mark.slow
def test_two_processes_on_small_data_train_or_stop_before_training_with_one_line(tiny_data, tmp_path):
    pytest.importorskip("litdata")
    from volo_adapt.data.pack_writer import pack_sources

    packs = {}
    for name, n in (("A16", 16), ("B16", 16), ("A5", 5), ("B5", 5)):
        make_npy_domain(tmp_path / "loose" / name, n, 1.0 + len(packs), seed=n + len(packs), size=16)
        pack_sources([str(tmp_path / "loose" / name)], tmp_path / "packed" / name)
        packs[name] = str(tmp_path / "packed" / name)
    cases = {  # name -> (domain A, domain B, overrides); tiny_data: 5 loose samples per domain (4 train + 1 val)
        "loose_one_val_sample": (*tiny_data, ["data.batch_size=1"]),
        "loose_train_2_per_process": (*tiny_data, ["data.batch_size=3"]),
        "stream_train_5": (packs["A5"], packs["B5"], ["data.batch_size=3", "data.val_fraction=0"]),
        "stream_val_3": (packs["A16"], packs["B16"], ["data.batch_size=2", "data.val_fraction=0.2"]),
        "stream_val_4": (packs["A16"], packs["B16"], ["data.batch_size=2", "data.val_fraction=0.25"]),
    }
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    for key in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    script = tmp_path / "ddp_small.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
         str(tmp_path / "runs"), json.dumps(cases)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / "runs" / f"outcomes_rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0] == ranks[1], "both processes take the same decision"
    out = ranks[0]
    assert out["loose_one_val_sample"] == {"batches": 2, "validated": True}
    assert out["stream_val_4"] == {"batches": 2, "validated": True}, "the fix the stop message suggests works"
    expected = {
        "loose_train_2_per_process": "domain A: 4 training samples (of 5 listed, val_fraction 0.2) give each of 2 "
        "processes 2, fewer than data.batch_size 3: give domain A at least 5 training samples, lower "
        "data.batch_size, or use fewer processes (train.devices)",
        "stream_train_5": "domain A: 5 training samples in {A5} (val_fraction 0.0) leave a process without a batch of "
        "data.batch_size 3 on 2 processes: give domain A at least 6 training samples, lower data.batch_size, or use "
        "fewer processes (train.devices)",
        "stream_val_3": "domain A: the validation split of {A16} has 3 samples, too few for a batch on each of 2 "
        "processes (data.batch_size 2): give validation at least 4 samples (data.val_fraction, now 0.2) or set "
        "data.val_fraction=0",
    }
    for name, message in expected.items():
        assert out[name] == {"error": message.format(**packs), "lines": 1}, name
    for name in expected:  # stopped in the DataModule's setup: nothing trained, nothing written
        assert not (tmp_path / "runs" / name / "checkpoints" / "last.ckpt").exists()
    assert "Connection closed" not in proc.stderr and "zero length" not in proc.stderr
