"""Translate at scale: a ``volo translate`` killed with SIGKILL mid-way and resumed with ``--skip-existing`` leaves
exactly the bytes of an uninterrupted run; leftover ``.partial`` files are never taken for outputs; per-file
failures are collected in ``OUT/translate_report.json``.

Code under test: volo_adapt/inference/translate.py, writers.py, cli/translate.py, volo_adapt/atomic.py.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from volo_faults_helpers import REPO, volo_env

from volo_adapt.data.formats import write_depth, write_rgb
from volo_adapt.data.sources import open_source

_spec = importlib.util.spec_from_file_location(
    "volo_inference_ckpt_factory", Path(__file__).parents[1] / "inference" / "ckpt_factory.py")
factory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(factory)

N = 24
# The real CLI, with colour writes slowed down (0.15 s each, after the depth file of the sample is written) so that
# the kill lands mid-run and, usually, between the two files of one sample.
SLOW_VOLO = (
    "import sys, time\n"
    "import volo_adapt.data.formats as f\n"
    "_w = f.write_rgb\n"
    "def slow(*a, **k):\n"
    "    time.sleep(0.15)\n"
    "    return _w(*a, **k)\n"
    "f.write_rgb = slow\n"
    "from cli.main import run\n"
    "run(sys.argv[1:])\n"
)


def _outputs(out: Path) -> dict[str, bytes]:
    """Every output file (hidden temporary files and the report excluded) -> its bytes."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not p.name.startswith(".") and p.name != "translate_report.json"}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tr")
    ckpt = factory.make_checkpoint(root / "tiny.ckpt", factory.tiny_config())
    src = root / "in"
    g = torch.Generator().manual_seed(3)
    for i in range(N):
        sub = "a" if i % 2 else "b/c"
        write_rgb(src / "rgb" / sub / f"{i:03d}.jpg", torch.rand(3, 24, 32, generator=g))
        write_depth(src / "depth" / sub / f"{i:03d}.png", 0.4 + 3 * torch.rand(1, 24, 32, generator=g))
    # one unreadable sample: a per-file failure that must be reported, not stop the run
    (src / "rgb" / "a" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    write_depth(src / "depth" / "a" / "bad.png", torch.ones(1, 24, 32))
    return src, ckpt


def test_kill9_then_skip_existing_gives_the_bytes_of_an_uninterrupted_run(setup, tmp_path):
    from volo_adapt.inference import load_generator, translate_source

    src, ckpt = setup
    ref_out = tmp_path / "reference"
    rep = translate_source(src, ref_out, load_generator(ckpt), batch_size=3, device="cpu")
    assert len(rep.translated) == N and [i.key for i in rep.failed] == ["a/bad"]
    reference = _outputs(ref_out)
    assert len(reference) == 2 * N

    out = tmp_path / "out"
    args = ["translate", str(src), str(out), "--ckpt", str(ckpt), "--batch-size", "3", "--device", "cpu"]
    proc = subprocess.Popen([sys.executable, "-c", SLOW_VOLO, *args], cwd=REPO, env=volo_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while len(list(out.rglob("*.png"))) < 8:  # a few samples done, most not
        if proc.poll() is not None or time.monotonic() - t0 > 120:
            proc.kill()
            pytest.fail(f"translate ended or stalled before the kill:\n{proc.communicate()[1][-3000:]}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    partial = _outputs(out)
    assert 0 < len(partial) < 2 * N, "the kill did not land mid-run"
    assert not (out / "translate_report.json").exists()
    for rel, data in partial.items():  # every file that exists is complete and final (atomic writes)
        assert data == reference[rel], rel
    # what a kill during a file write leaves: a hidden temporary sibling; it must never count as an output
    stray = out / "rgb" / "a" / f".{N - 1:03d}.4242.partial.png"
    stray.write_bytes(b"\x89PNG\r\n\x1a\n half")

    resumed = subprocess.run([sys.executable, "-m", "cli.main", *args, "--skip-existing"], cwd=REPO,
                             env=volo_env(), capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 2, resumed.stderr  # 2: the unreadable sample still failed
    assert "Traceback" not in resumed.stderr
    assert _outputs(out) == reference  # byte for byte
    report = json.loads((out / "translate_report.json").read_text())
    counts = report["counts"]
    assert counts["failed"] == 1 and counts["translated"] + counts["skipped"] == N
    assert 0 < counts["skipped"] < N
    (failed,) = report["failed"]
    assert failed["key"] == "a/bad" and "bad.jpg" in failed["reason"]
    # the output used as a source sees exactly the real outputs, not the partial file
    assert [r.key for r in open_source(str(out))] == [r.key for r in open_source(str(ref_out))]
