"""Soak test of crash recovery: ``kill -9`` a small training run at N random moments, resume each time.

Not part of CI (it takes minutes). What it does:

1. writes a tiny two-domain data set (5 samples per domain, 32 px) and trains it once without interruption
   (``smoke`` preset, ``data.num_workers=0`` so that the data order is exact, ``--max-steps`` batches);
2. trains the same run again, but kills the process with SIGKILL (``kill -9``, to its whole process group) at
   ``--kills`` random moments, each time restarting it with ``--resume auto``; a moment is uniform in
   ``[0, --window]`` seconds after the process reports its first training batch, so kills land in training steps,
   in checkpoint writes and between them;
3. lets the last restart run to the end and compares its final weights and optimiser states with the
   uninterrupted run's.

Reported:

* intact resumes / N: restarts that continued from a readable checkpoint (no fallback to an older one was needed,
  no error);
* steps lost per kill: batches completed when the kill landed minus the batch the restart continued from (at most
  ``checkpoint_every_n_steps`` when nothing is lost beyond the checkpoint interval);
* partial files left by kills during a checkpoint write, and whether the next start removed them;
* whether the final weights equal the uninterrupted run's, bit for bit. The data order allows this here: one
  process loads the data (``num_workers=0``), the shuffling generators and every RNG stream are restored from the
  checkpoint, and the periodic checkpoints fall on epoch boundaries (``checkpoint_every_n_steps`` = batches per
  epoch), where Lightning resumes a map-style loader exactly.

The child processes run :func:`volo_adapt.training.run.train` with one extra callback that appends each finished
batch number to a progress file (how the parent knows where the kill landed).

Usage::

    .venv/bin/python benchmarks/soak_resume.py                      # 20 kills, about 10 minutes on 2 busy cores
    .venv/bin/python benchmarks/soak_resume.py --kills 5 --max-steps 24 --json soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCHES_PER_EPOCH = 2  # 5 samples, val_fraction 0.2, batch 2, drop_last: 4 training samples -> 2 batches


def write_data(root: Path, n: int = 5, size: int = 40) -> None:
    """``n`` random ``(size, size, 4)`` RGB-D arrays per domain under ``root/A`` and ``root/B`` (seeded)."""
    import torch

    from volo_adapt.data.formats import write_rgbd_array

    g = torch.Generator().manual_seed(0)
    for d, offset in (("A", 1.0), ("B", 2.0)):
        for i in range(n):
            depth = offset + torch.rand(1, size, size, generator=g)
            depth[:, :4] = 0.0  # a band of invalid pixels, as real sensors have
            write_rgbd_array(root / d / f"s{i:02d}.npy", torch.rand(3, size, size, generator=g), depth)


def _overrides(args: argparse.Namespace) -> list[str]:
    return [f"train.max_steps={args.max_steps}", "train.max_epochs=100000",
            f"train.checkpoint_every_n_steps={BATCHES_PER_EPOCH}", "train.sample_every_n_steps=0",
            "train.logger=none", "train.val_batches=1", "data.num_workers=0", "data.image_size=32"]


# ------------------------------------------------------------------------------------------------- child


def child(args: argparse.Namespace) -> None:
    """One training process: ``train(..., resume="auto")`` with a progress file; prints one JSON line at the end."""
    import lightning as L
    import torch

    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    torch.set_num_threads(1)
    progress = Path(args.progress)

    class Progress(L.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            with progress.open("a") as f:
                f.write(f"start {pl_module.batches_done}\n")

        def on_train_batch_end(self, trainer, pl_module, *rest) -> None:
            with progress.open("a") as f:
                f.write(f"batch {pl_module.batches_done}\n")

    cfg = load_config("smoke", [*_overrides(args), f"data.data_a=[{args.data}/A]", f"data.data_b=[{args.data}/B]"])
    res = train(cfg, args.run, resume="auto", progress=False, callbacks=[Progress()])
    print(json.dumps({"resumed_from": str(res.resumed_from) if res.resumed_from else None,
                      "batches_done": res.batches_done, "notes": res.notes}))


# ------------------------------------------------------------------------------------------------ parent


def _spawn(args: argparse.Namespace, run: Path, progress: Path) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--child", "--run", str(run), "--progress", str(progress),
           "--data", str(args.data), "--max-steps", str(args.max_steps)]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)


def _read_progress(path: Path) -> tuple[int | None, int | None]:
    """``(batch the process started at, last batch it finished)`` from its progress file."""
    start = last = None
    if path.exists():
        for line in path.read_text().splitlines():
            kind, _, n = line.partition(" ")
            if kind == "start" and n.isdigit():
                start = int(n)
            elif kind == "batch" and n.isdigit():
                last = int(n)
    return start, last


def _newest_checkpoint(run: Path) -> int:
    """The highest batch held by a readable checkpoint of ``run`` (-1 if none): what a restart should continue from."""
    from volo_adapt.errors import CheckpointError
    from volo_adapt.training.checkpoint import read_volo_block, stored_batches

    best = -1
    for p in (run / "checkpoints").glob("*.ckpt"):
        if p.name.startswith("."):
            continue
        try:
            read_volo_block(p)
        except CheckpointError:
            continue
        best = max(best, stored_batches(p))
    return best


def _final_state(run: Path) -> dict:
    from volo_adapt.checkpoint import load_checkpoint_file

    return load_checkpoint_file(run / "checkpoints" / "last.ckpt")


def _same(a: dict, b: dict) -> tuple[bool, list[str]]:
    import torch

    diffs = [k for k in a["state_dict"] if not torch.equal(a["state_dict"][k], b["state_dict"].get(k))]
    try:
        torch.testing.assert_close(a["optimizer_states"], b["optimizer_states"], rtol=0, atol=0)
    except AssertionError:
        diffs.append("optimizer_states")
    return not diffs, diffs


def _partials(run: Path) -> list[str]:
    return sorted(p.name for p in run.rglob("*") if ".partial" in p.name)


def parent(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="volo_soak_"))
    args.data = work / "data"
    write_data(args.data)

    t0 = time.monotonic()
    ref = _spawn(args, work / "reference", work / "reference.progress")
    out, err = ref.communicate()
    if ref.returncode != 0:
        raise SystemExit(f"uninterrupted run failed ({ref.returncode}):\n{err[-3000:]}")
    print(f"uninterrupted run: {args.max_steps} batches in {time.monotonic() - t0:.0f} s", flush=True)

    run, progress = work / "killed", work / "killed.progress"
    kills: list[dict] = []
    pending_partials: list[str] = []
    while len(kills) < args.kills:
        progress.write_text("")
        proc = _spawn(args, run, progress)
        while _read_progress(progress)[1] is None and proc.poll() is None:  # wait for its first batch
            time.sleep(0.02)
        start, _ = _read_progress(progress)
        if pending_partials:  # the previous kill left partial files: this start must have removed them
            kills[-1]["partials_removed_at_restart"] = not (set(pending_partials) & set(_partials(run)))
        if kills:
            kills[-1]["resumed_at"] = start
        if proc.poll() is not None:  # finished before we could kill it (window longer than the run)
            break
        time.sleep(rng.uniform(0.0, args.window))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        _, reached = _read_progress(progress)
        newest = _newest_checkpoint(run)
        # batches finished before the kill landed (the progress line of a batch is written after its checkpoint)
        reached = max(reached or 0, newest)
        pending_partials = _partials(run)
        kills.append({"kill": len(kills) + 1, "started_at": start, "reached": reached, "newest_checkpoint": newest,
                      "partials": pending_partials})
        print(f"kill {len(kills):2d}: started at batch {start}, killed after batch {reached}"
              + (f", left {pending_partials}" if pending_partials else ""), flush=True)

    # the last restart runs to the end
    progress.write_text("")
    proc = _spawn(args, run, progress)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"final resumed run failed ({proc.returncode}):\n{err[-3000:]}")
    final = json.loads(out.strip().splitlines()[-1])
    start, _ = _read_progress(progress)
    if kills and "resumed_at" not in kills[-1]:
        kills[-1]["resumed_at"] = start
    if pending_partials:
        kills[-1]["partials_removed_at_restart"] = not (set(pending_partials) & set(_partials(run)))

    for k in kills:
        k["steps_lost"] = k["reached"] - (k["resumed_at"] or 0)
        # intact: the restart continued from the newest complete checkpoint on disk when the kill landed
        k["intact"] = k["resumed_at"] is not None and k["resumed_at"] == max(k["newest_checkpoint"], 0)
    same, diffs = _same(_final_state(work / "reference"), _final_state(run))
    lost = [k["steps_lost"] for k in kills]
    summary = {
        "kills": len(kills),
        "intact_resumes": sum(k["intact"] for k in kills),
        "steps_lost": {"mean": statistics.mean(lost) if lost else 0, "max": max(lost, default=0),
                       "histogram": {str(n): lost.count(n) for n in sorted(set(lost))}},
        "kills_leaving_partial_files": sum(bool(k["partials"]) for k in kills),
        "partial_files_removed_at_restart": all(k.get("partials_removed_at_restart", True) for k in kills),
        "final_batches": final["batches_done"],
        "final_weights_equal_uninterrupted": same,
        "differing": diffs[:10],
        "max_steps": args.max_steps,
        "checkpoint_every_n_steps": BATCHES_PER_EPOCH,
        "window_s": args.window,
        "seed": args.seed,
        "per_kill": kills,
    }
    print(f"intact resumes: {summary['intact_resumes']}/{summary['kills']}")
    print(f"steps lost per kill: mean {summary['steps_lost']['mean']:.2f}, max {summary['steps_lost']['max']}, "
          f"histogram {summary['steps_lost']['histogram']} (checkpoint every {BATCHES_PER_EPOCH} batches)")
    print(f"kills that left a partial file: {summary['kills_leaving_partial_files']}, all removed at the next "
          f"start: {summary['partial_files_removed_at_restart']}")
    print(f"final: {final['batches_done']} batches; weights and optimiser states equal to the uninterrupted run: "
          f"{same}" + (f" (differ: {', '.join(diffs[:5])})" if diffs else ""))
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20, help="number of kill -9 (default 20)")
    ap.add_argument("--max-steps", type=int, default=60, help="batches of the whole run (default 60)")
    ap.add_argument("--window", type=float, default=4.0,
                    help="a kill lands uniformly in [0, WINDOW] s after the restart's first batch (default 4)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--json", type=Path, default=None, help="write the summary here")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--progress", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    summary = parent(args)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
