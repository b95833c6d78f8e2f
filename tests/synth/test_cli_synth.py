from __future__ import annotations

import json

import pytest

from cli.main import run


def test_volo_data_synth(tmp_path, capsys):
    out = tmp_path / "set"
    with pytest.raises(SystemExit) as e:
        run(["data", "synth", str(out), "--n-train", "1", "--n-test", "1", "--size", "24", "--seed", "3",
             "--preview", str(tmp_path / "p.png")])
    assert e.value.code == 0
    m = json.loads((out / "synth.json").read_text())
    assert m["seed"] == 3 and m["size"] == 24 and m["counts"]["B/train"] == 1
    assert (tmp_path / "p.png").is_file()
    with pytest.raises(SystemExit) as e:
        run(["data", "synth", str(out), "--n-train", "1"])
    assert e.value.code == 2
    assert "not empty" in capsys.readouterr().err
