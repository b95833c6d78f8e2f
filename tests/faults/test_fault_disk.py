"""Full disk and unwritable output: a write that fails (ENOSPC at rename or fsync, a crash after partial bytes, a
parent path that is a file) leaves the previous file intact, leaves no temporary file behind, and stops with one
line naming the path.

Tests run as root, where ``chmod`` does not stop writes: failures are injected by monkeypatching ``os.replace``,
``os.fsync`` or the serialiser, or by a parent path that is a regular file.
Code under test: volo_adapt/atomic.py, volo_adapt/data/formats.py writers, volo_adapt/inference (translate
outputs, export), volo_adapt/training/checkpoint.py (AtomicCheckpointIO) and checkpoints written during training.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from volo_adapt.atomic import atomic_path, atomic_write_bytes, atomic_write_with, remove_leftover_partials
from volo_adapt.data.formats import write_depth, write_rgb, write_rgbd_array
from volo_adapt.errors import VoloError

ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _files(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


@pytest.fixture
def fail_replace(monkeypatch) -> Callable[[str], None]:
    """``fail_replace(name)``: from now on, ``os.replace`` onto a file called ``name`` raises ENOSPC."""
    real = os.replace

    def arm(name: str) -> None:
        def fake(src, dst, *a, **k):
            if Path(dst).name == name:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
            return real(src, dst, *a, **k)

        monkeypatch.setattr(os, "replace", fake)

    return arm


def _assert_one_line(e: BaseException, path: Path) -> str:
    msg = str(e)
    assert "\n" not in msg and str(path) in msg, msg
    return msg


# ------------------------------------------------------------------------------------------------ atomic.py


def test_atomic_enospc_at_rename_keeps_previous_file(tmp_path, fail_replace):
    path = tmp_path / "report.json"
    atomic_write_bytes(path, b"old")
    fail_replace("report.json")
    with pytest.raises(VoloError) as e:
        atomic_write_bytes(path, b"new, longer content")
    assert "No space left" in _assert_one_line(e.value, path)
    assert path.read_bytes() == b"old"
    assert _files(tmp_path) == ["report.json"]  # the temporary sibling is gone


def test_atomic_enospc_at_fsync_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "a.bin"
    atomic_write_bytes(path, b"old")

    def no_space(fd):
        raise ENOSPC

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(VoloError) as e:
        atomic_write_bytes(path, b"new")
    _assert_one_line(e.value, path)
    assert path.read_bytes() == b"old" and _files(tmp_path) == ["a.bin"]


@pytest.mark.parametrize("exc", [ENOSPC, RuntimeError("crash in the middle of a write"), KeyboardInterrupt()])
def test_atomic_crash_after_partial_bytes(tmp_path, exc):
    """The writer dies after writing part of the file: the target keeps its old bytes, the partial file is removed;
    OSError becomes a one-line VoloError, anything else propagates unchanged."""
    path = tmp_path / "x.npy"
    atomic_write_bytes(path, b"old")

    def writer(tmp: Path) -> None:
        tmp.write_bytes(b"partial")
        raise exc

    expected = VoloError if isinstance(exc, OSError) else type(exc)
    with pytest.raises(expected) as e:
        atomic_write_with(path, writer)
    if expected is VoloError:
        _assert_one_line(e.value, path)
    assert path.read_bytes() == b"old" and _files(tmp_path) == ["x.npy"]


def _dead_pid() -> int:
    """A pid with no process (the highest ones are almost never in use; checked)."""
    for pid in range(4_194_303, 4_000_000, -1):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except OSError:
            continue
    raise AssertionError("no free pid found")


def test_leftover_partial_files_of_dead_writers_are_removed(tmp_path):
    """What a writer killed mid-write leaves (``.NAME.PID.partial.SUFFIX``) is removed, but only when that process
    is gone or is this one (a restarted container reuses pids): a live writer's file, and other names, stay."""
    dead, live = _dead_pid(), os.getppid()
    names = {
        f".last.{dead}.partial.ckpt": False,  # removed
        f".config.{dead}.partial.yaml": False,
        f".step_0000002.{os.getpid()}.partial.ckpt": False,
        f".last.{live}.partial.ckpt": True,  # kept: its writer is alive
        "last.ckpt": True,
        ".hidden.ckpt": True,
        f"last.{dead}.partial.ckpt": True,  # not hidden: not a name atomic_path makes
    }
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".dir.{dead}.partial").mkdir()  # a folder is never removed
    removed = remove_leftover_partials(tmp_path)
    assert sorted(p.name for p in removed) == sorted(n for n, keep in names.items() if not keep)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*(n for n, k in names.items() if k),
                                                                 f".dir.{dead}.partial"])
    assert remove_leftover_partials(tmp_path / "absent") == []


def test_atomic_parent_is_a_file(tmp_path):
    (tmp_path / "plain").write_text("I am a file")
    path = tmp_path / "plain" / "sub" / "out.json"
    with pytest.raises(VoloError) as e:
        atomic_write_bytes(path, b"x")
    _assert_one_line(e.value, path)
    with pytest.raises(VoloError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"x")


# ------------------------------------------------------------------------------------------- format writers

G = torch.Generator().manual_seed(1)
RGB = [torch.rand(3, 8, 10, generator=G) for _ in range(2)]
DEPTH = [0.5 + torch.rand(1, 8, 10, generator=G) for _ in range(2)]

WRITERS: dict[str, Callable[[Path, int], None]] = {
    "rgb8.png": lambda p, v: write_rgb(p, RGB[v]),
    "rgb16.png": lambda p, v: write_rgb(p, RGB[v], bits=16),
    "rgb.jpg": lambda p, v: write_rgb(p, RGB[v]),
    "depth.png": lambda p, v: write_depth(p, DEPTH[v]),
    "depth.exr": lambda p, v: write_depth(p, DEPTH[v]),
    "depth.npy": lambda p, v: write_depth(p, DEPTH[v]),
    "rgbd.npy": lambda p, v: write_rgbd_array(p, RGB[v], DEPTH[v]),
    "rgbd.npz": lambda p, v: write_rgbd_array(p, RGB[v], DEPTH[v]),
}


@pytest.mark.parametrize("name", list(WRITERS))
def test_format_writer_full_disk_keeps_previous_file(tmp_path, fail_replace, name):
    path = tmp_path / name
    WRITERS[name](path, 0)
    before = path.read_bytes()
    fail_replace(name)
    with pytest.raises(VoloError) as e:
        WRITERS[name](path, 1)
    _assert_one_line(e.value, path)
    assert path.read_bytes() == before
    assert _files(tmp_path) == [name]


@pytest.mark.parametrize("name", list(WRITERS))
def test_format_writer_parent_is_a_file(tmp_path, name):
    (tmp_path / "f").write_text("file")
    path = tmp_path / "f" / name
    with pytest.raises(VoloError) as e:
        WRITERS[name](path, 0)
    _assert_one_line(e.value, path)


def test_png_writer_crash_mid_write_leaves_no_partial(tmp_path, monkeypatch):
    """Pillow dies half-way through encoding: old file intact, no ``.partial`` left."""
    from PIL import Image

    path = tmp_path / "d.png"
    write_depth(path, DEPTH[0])
    before = path.read_bytes()
    real_save = Image.Image.save

    def half_save(self, fp, *a, **k):
        real_save(self, fp, *a, **k)
        Path(fp).write_bytes(Path(fp).read_bytes()[:20])
        raise ENOSPC

    monkeypatch.setattr(Image.Image, "save", half_save)
    with pytest.raises(VoloError):
        write_depth(path, DEPTH[1])
    assert path.read_bytes() == before and _files(tmp_path) == ["d.png"]


# ------------------------------------------------------------------------------------- checkpoint writing


def _ckpt(step: int) -> dict:
    return {"global_step": step, "state_dict": {"w": torch.full((64,), float(step))},
            "volo": {"format": 1, "volo_version": "0", "config": {}}}


@pytest.mark.parametrize("exc", [ENOSPC, RuntimeError("killed mid-write")])
def test_checkpoint_write_failure_keeps_last_ckpt(tmp_path, monkeypatch, exc):
    """torch.save dies after writing part of the new checkpoint: last.ckpt is still the previous, loadable file and
    no stray partial file is left to be mistaken for a checkpoint."""
    from volo_adapt.training import checkpoint as ck

    io = ck.AtomicCheckpointIO()
    last = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint(_ckpt(2), last)
    before = last.read_bytes()
    real_save = torch.save

    def partial_save(obj, f, *a, **k):
        real_save(obj, f, *a, **k)
        f.truncate(f.tell() // 2)
        raise exc

    monkeypatch.setattr(ck.torch, "save", partial_save)
    with pytest.raises(VoloError if isinstance(exc, OSError) else RuntimeError) as e:
        io.save_checkpoint(_ckpt(4), last)
    if isinstance(exc, OSError):
        _assert_one_line(e.value, last)
    assert last.read_bytes() == before
    assert torch.load(last, weights_only=True)["global_step"] == 2
    assert _files(last.parent) == ["last.ckpt"]
    assert ck.last_checkpoint(tmp_path) == last


def test_checkpoint_enospc_at_rename(tmp_path, fail_replace):
    from volo_adapt.training.checkpoint import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    last = tmp_path / "last.ckpt"
    io.save_checkpoint(_ckpt(2), last)
    fail_replace("last.ckpt")
    with pytest.raises(VoloError) as e:
        io.save_checkpoint(_ckpt(4), last)
    _assert_one_line(e.value, last)
    assert torch.load(last, weights_only=True)["global_step"] == 2 and _files(tmp_path) == ["last.ckpt"]


# ------------------------------------------------------------------------------------------ translate outputs


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    import importlib.util

    from volo_adapt.inference import load_generator

    spec = importlib.util.spec_from_file_location(
        "volo_inference_ckpt_factory", Path(__file__).parents[1] / "inference" / "ckpt_factory.py")
    factory = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(factory)
    return load_generator(factory.make_checkpoint(tmp_path_factory.mktemp("ck") / "t.ckpt", factory.tiny_config()))


def _source(root: Path, n: int = 3) -> Path:
    for i in range(n):
        write_rgb(root / "rgb" / f"{i}.png", torch.rand(3, 16, 16, generator=G))
        write_depth(root / "depth" / f"{i}.png", 0.5 + torch.rand(1, 16, 16, generator=G))
    return root


def test_translate_full_disk_on_one_file_is_reported_and_the_rest_written(tmp_path, gen, fail_replace):
    from volo_adapt.inference import translate_source

    src, out = _source(tmp_path / "in"), tmp_path / "out"
    first = translate_source(src, out, gen, device="cpu")
    assert len(first.translated) == 3
    before = (out / "rgb" / "1.png").read_bytes()
    fail_replace("1.png")  # both rgb/1.png and depth/1.png
    (out / "rgb" / "0.png").unlink()
    rep = translate_source(src, out, gen, device="cpu")
    assert [i.key for i in rep.failed] == ["1"]
    assert str(out / "depth" / "1.png") in rep.failed[0].reason and "No space left" in rep.failed[0].reason
    assert (out / "rgb" / "0.png").is_file()  # the others went on
    assert (out / "rgb" / "1.png").read_bytes() == before  # previous output intact
    report = json.loads((out / "translate_report.json").read_text())
    assert report["counts"]["failed"] == 1 and report["failed"][0]["key"] == "1"
    assert not [p for p in out.rglob("*") if ".partial" in p.name]


def test_translate_report_write_failure_is_one_line(tmp_path, gen, fail_replace):
    from volo_adapt.inference import translate_source

    src, out = _source(tmp_path / "in", 1), tmp_path / "out"
    fail_replace("translate_report.json")
    with pytest.raises(VoloError) as e:
        translate_source(src, out, gen, device="cpu")
    _assert_one_line(e.value, out / "translate_report.json")


def test_translate_output_under_a_file_is_one_line(tmp_path, gen, capsys):
    from volo_faults_helpers import assert_one_line_error

    from cli.main import run
    from volo_adapt.inference import translate_source

    src = _source(tmp_path / "in", 1)
    (tmp_path / "plain").write_text("file")
    out = tmp_path / "plain" / "out"
    with pytest.raises(VoloError) as e:
        translate_source(src, out, gen, device="cpu")
    _assert_one_line(e.value, out)
    with pytest.raises(SystemExit) as ex:
        run(["translate", str(src), str(out), "--ckpt", str(gen.source), "--device", "cpu"])
    assert ex.value.code == 2
    assert_one_line_error(capsys.readouterr().err, str(out))


def test_export_full_disk_keeps_previous_file(tmp_path, gen, fail_replace):
    from volo_adapt.inference import export_generator

    path = tmp_path / "g.pt"
    export_generator(gen, path, "pt")
    before = path.read_bytes()
    fail_replace("g.pt")
    with pytest.raises(VoloError) as e:
        export_generator(gen, path, "pt")
    _assert_one_line(e.value, path)
    assert path.read_bytes() == before and _files(tmp_path) == ["g.pt"]


# ------------------------------------------------------------------------------- checkpoints during training


def _tiny_domains(root: Path) -> tuple[str, str]:
    for d in "AB":
        for i in range(4):
            write_rgb(root / d / "rgb" / f"{i}.png", torch.rand(3, 32, 32, generator=G))
            write_depth(root / d / "depth" / f"{i}.png", 0.5 + torch.rand(1, 32, 32, generator=G))
    return str(root / "A"), str(root / "B")


def test_full_disk_during_training_stops_with_path_and_keeps_last_good(tmp_path, fail_replace):
    """The second periodic checkpoint hits a full disk: training stops with one line naming that file, and
    last.ckpt is still the complete checkpoint of batch 2."""
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    a, b = _tiny_domains(tmp_path / "data")
    cfg = load_config("smoke", [f"data.data_a=[{a}]", f"data.data_b=[{b}]", "train.max_steps=6",
                                "train.max_epochs=10", "train.sample_every_n_steps=0", "train.logger=none"])
    run_dir = tmp_path / "run"
    fail_replace("step_0000004.ckpt")
    with pytest.raises(VoloError) as e:
        train(cfg, run_dir, progress=False)
    _assert_one_line(e.value, run_dir / "checkpoints" / "step_0000004.ckpt")
    last = run_dir / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    assert state["volo_train_state"]["batches_done"] == 2
    assert not [p for p in (run_dir / "checkpoints").iterdir() if ".partial" in p.name]


def test_train_run_dir_under_a_file_is_one_line(tmp_path):
    from volo_adapt.config import load_config
    from volo_adapt.training.run import train

    a, b = _tiny_domains(tmp_path / "data")
    cfg = load_config("smoke", [f"data.data_a=[{a}]", f"data.data_b=[{b}]"])
    (tmp_path / "plain").write_text("file")
    with pytest.raises(VoloError) as e:
        train(cfg, tmp_path / "plain" / "run", progress=False)
    assert str(tmp_path / "plain" / "run") in str(e.value) and "\n" not in str(e.value)

