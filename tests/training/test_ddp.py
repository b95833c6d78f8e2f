"""Two-process DDP on CPU (gloo): identical weights on both ranks; packed domains sharded per rank, resumed exactly."""

from __future__ import annotations

import json
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
    cfg = cfg.replace(data={"data_a": [a], "data_b": [b]})
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


STREAM_SCRIPT = textwrap.dedent(
    """
    import hashlib, os, sys
    import lightning as L
    import torch
    torch.set_num_threads(1)
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    out, a, b, kill_at, resume = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "resume"
    cfg = load_config("smoke", [
        "train.strategy=ddp", "train.devices=2", "train.accelerator=cpu", "train.max_steps=-1", "train.max_epochs=2",
        "train.sample_every_n_steps=0", "train.checkpoint_every_n_steps=3", "data.batch_size=2", "data.stem_log=true",
        "data.image_size=16", "data.val_fraction=0.25", "model.gen_kwargs={levels: 2}"])
    cfg = cfg.replace(data={"data_a": [a], "data_b": [b]})

    class KillAt(L.Callback):  # both ranks die together, as when a node is lost
        def on_train_batch_end(self, trainer, module, *args):
            if module.batches_done == kill_at:
                os.kill(os.getpid(), 9)

    res = train(cfg, out, resume="auto" if resume else None, progress=False, callbacks=[KillAt()])
    h = hashlib.sha256()
    for k, v in sorted(res.module.state_dict().items()):
        h.update(k.encode()); h.update(v.detach().cpu().contiguous().numpy().tobytes())
    with open(os.path.join(out, f"hash_rank{res.module.global_rank}.txt"), "w") as f:
        f.write(f"{h.hexdigest()} {res.batches_done}")
    """
)


def _launch(script: Path, out: Path, packs: tuple[str, str], kill_at: int, mode: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    return subprocess.run(
        [sys.executable, str(script), str(out), *packs, str(kill_at), mode],
        cwd=out.parent, env=env, capture_output=True, text=True, timeout=300, start_new_session=True,
    )


def _stems(run: Path, rank: int) -> dict[int, dict]:
    """batch -> {"epoch", "A", "B"} from a rank's stem log; a batch logged again after a resume replaces the first."""
    by_batch: dict[int, dict] = {}
    for line in (run / "stems" / f"rank{rank}.jsonl").read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:  # a line cut short by the kill
            continue
        by_batch[entry["batch"]] = entry
    return by_batch


@pytest.mark.slow
def test_two_processes_stream_disjoint_shards_and_resume_mid_epoch_exactly(tmp_path):
    """Packed domains streamed by 2 gloo processes: each rank gets its own samples every epoch, weights stay
    identical, and a run killed mid-epoch and resumed sees exactly the samples of an uninterrupted run."""
    pytest.importorskip("litdata")
    from tests.training.conftest import make_npy_domain
    from volo_adapt.data.pack_writer import pack_sources

    packs = []
    for name, n, offset in (("A", 24, 1.0), ("B", 16, 2.0)):
        make_npy_domain(tmp_path / "loose" / name, n, offset, seed=n, size=16)
        pack_sources([str(tmp_path / "loose" / name)], tmp_path / "packed" / name, shard_size="8KB")
        packs.append(str(tmp_path / "packed" / name))
    script = tmp_path / "ddp_stream.py"
    script.write_text(STREAM_SCRIPT)

    whole = tmp_path / "whole"
    proc = _launch(script, whole, tuple(packs), 0, "fresh")
    assert proc.returncode == 0, proc.stderr[-3000:]
    h0, h1 = ((whole / f"hash_rank{r}.txt").read_text().split() for r in (0, 1))
    assert h0 == h1 and h0[1] == "8", "identical weights on both ranks after 8 batches (2 epochs of 4)"
    ref = {r: _stems(whole, r) for r in (0, 1)}
    assert sorted(ref[0]) == sorted(ref[1]) == list(range(1, 9))
    # A (18 training samples, 9 per rank) makes the 4-batch epochs; B (12, 6 per rank) starts its own next pass
    # after 3 batches. Within one pass of a domain the two ranks never share a sample.
    for d, passes in (("A", ((1, 2, 3, 4), (5, 6, 7, 8))), ("B", ((1, 2, 3), (4, 5, 6)))):
        for batches in passes:
            per_rank = [[s for b in batches for s in ref[r][b][d]] for r in (0, 1)]
            for r in (0, 1):
                assert len(per_rank[r]) == len(set(per_rank[r])), f"rank {r} {d} {batches}: a sample twice in a pass"
            assert not set(per_rank[0]) & set(per_rank[1]), f"domain {d} batches {batches}: the ranks overlap"
    stems = [[s.split("/", 1)[1] for s in ref[0][b][d]] for b, d in ((1, "A"), (1, "B"), (5, "A"))]
    assert stems[0] != stems[1] and stems[2] != stems[0], "A and B not paired by stem; a new order each epoch"
    assert len(list((whole / "checkpoints").glob("*.ckpt"))) == 3, "last + step 3 + step 6, each written once"

    run = tmp_path / "killed"
    proc = _launch(script, run, tuple(packs), 5, "fresh")
    assert proc.returncode == -9, proc.stderr[-3000:]
    killed = {r: _stems(run, r) for r in (0, 1)}
    assert max(killed[0]) == 5, "killed after batch 5, mid-way through the second epoch"
    proc = _launch(script, run, tuple(packs), 0, "resume")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for r in (0, 1):
        assert _stems(run, r) == ref[r], f"rank {r}: the resumed run saw other samples than the uninterrupted run"
    assert (run / "hash_rank0.txt").read_text().split()[1] == "8"
