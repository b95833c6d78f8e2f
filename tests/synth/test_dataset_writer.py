from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from volo_adapt.data.sources import open_source, read_sample
from volo_adapt.errors import VoloError
from volo_adapt.synth.dataset_writer import MANIFEST, write_synth_dataset
from volo_adapt.synth.pipeline import synthesize

SIZE = 32
FOLDERS = ("A/train", "A/test", "B/train", "B/test", "paired/A", "paired/B")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "set"
    calls = []
    m = write_synth_dataset(out, n_train=3, n_test=2, size=SIZE, seed=7, progress=lambda d, t: calls.append((d, t)))
    return out, {"manifest": m, "calls": calls}


def test_layout_and_manifest(written):
    out, info = written
    m = info["manifest"]
    for folder, n in zip(FOLDERS, (3, 2, 3, 2, 2, 2), strict=True):
        assert sorted(p.name for p in (out / folder / "rgb").iterdir()) == [f"{i:06d}.png" for i in range(n)]
        assert sorted(p.name for p in (out / folder / "depth").iterdir()) == [f"{i:06d}.png" for i in range(n)]
    on_disk = json.loads((out / MANIFEST).read_text())
    assert on_disk == json.loads(json.dumps(m))
    assert on_disk["seed"] == 7 and on_disk["size"] == SIZE and on_disk["counts"]["paired/B"] == 2
    assert on_disk["camera"]["fx"] > 0 and on_disk["config"]["sensor_b"]["max_range_m"] == 5.0
    assert (out / "README.txt").read_text().startswith("volo-adapt synthetic")
    assert info["calls"][0] == (0, 12) and info["calls"][-1] == (12, 12)  # scenes: 3 + 2 + 3 + 2 + 2 paired
    im = Image.open(out / "A/train/depth/000000.png")
    assert im.mode in ("I;16", "I") and im.size == (SIZE, SIZE)
    assert Image.open(out / "B/test/rgb/000001.png").mode == "RGB"


def test_same_seed_same_bytes_whatever_the_batch_size_and_threads(written, tmp_path):
    out, _ = written
    again = tmp_path / "again"
    write_synth_dataset(again, n_train=3, n_test=2, size=SIZE, seed=7, batch_size=1, threads=2)
    assert _files(again) == _files(out)


def test_other_seed_other_data(written, tmp_path):
    out, _ = written
    other = tmp_path / "other"
    write_synth_dataset(other, n_train=1, n_test=0, size=SIZE, seed=8)
    a = (out / "A/train/depth/000000.png").read_bytes()
    assert (other / "A/train/depth/000000.png").read_bytes() != a


def test_round_trip_through_readers(written):
    out, _ = written
    refs = open_source(str(out / "B/train"))
    assert [r.key for r in refs] == ["000000", "000001", "000002"]
    truth = synthesize(7, "B/train", [0, 1, 2], SIZE, "B")
    for k, ref in enumerate(refs):
        s = read_sample(ref)
        assert s.rgb.shape == (3, SIZE, SIZE) and s.depth.shape == (1, SIZE, SIZE)
        assert (s.depth - truth.depth_b[k]).abs().max() <= 0.001 + 1e-6
        assert torch.equal(s.valid, truth.depth_b[k] > 0)
        assert (s.rgb - truth.rgb_b[k]).abs().max() <= 0.5 / 255 + 1e-6


def test_sensors_are_named_a_and_b():
    both = synthesize(5, "paired", [0, 1], 24, "AB")
    only_a, only_b = synthesize(5, "paired", [0, 1], 24, "A"), synthesize(5, "paired", [0, 1], 24, "B")
    assert only_a.rgb_b is None and only_a.depth_b is None and only_b.rgb_a is None and only_b.depth_a is None
    assert torch.equal(both.rgb_a, only_a.rgb_a) and torch.equal(both.depth_a, only_a.depth_a)
    assert torch.equal(both.rgb_b, only_b.rgb_b) and torch.equal(both.depth_b, only_b.depth_b)
    for bad in ("ST", "S", ""):
        with pytest.raises(AssertionError):
            synthesize(5, "paired", [0], 24, bad)


def test_unpaired_domains_paired_folder_same_scenes(written):
    out, _ = written

    def valid(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path)) > 0

    a, b = valid(out / "A/train/depth/000000.png"), valid(out / "B/train/depth/000000.png")
    pa, pb = valid(out / "paired/A/depth/000000.png"), valid(out / "paired/B/depth/000000.png")
    iou = lambda x, y: (x & y).sum() / max(1, (x | y).sum())  # noqa: E731
    assert iou(pa, pb) > 0.5  # same scene, two sensors
    assert iou(a, b) < iou(pa, pb)  # different scenes


def test_refuses_non_empty_output_and_bad_args(tmp_path):
    (tmp_path / "x.txt").write_text("keep")
    with pytest.raises(VoloError, match="not empty"):
        write_synth_dataset(tmp_path, n_train=1, n_test=1, size=SIZE)
    with pytest.raises(VoloError, match="--size"):
        write_synth_dataset(tmp_path / "n", size=8)
    with pytest.raises(VoloError, match="--n-train"):
        write_synth_dataset(tmp_path / "n", n_train=-1)
    assert (tmp_path / "x.txt").read_text() == "keep"


def test_preview_written(tmp_path):
    write_synth_dataset(tmp_path / "p", n_train=0, n_test=1, size=SIZE, preview=tmp_path / "prev.png")
    im = Image.open(tmp_path / "prev.png")
    assert im.mode == "RGB" and im.size[0] == 4 * SIZE and im.size[1] >= 4 * SIZE
