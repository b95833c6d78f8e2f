"""benchmarks/loso_select.py: the leave-one-sensor-out choice between candidate presets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import loso_select  # noqa: E402


def _table(tmp_path: Path, name: str, rows: dict[str, tuple[int, float]], sets: list[str] | None = None,
           steps: int | None = None) -> str:
    """A minimal quality.json: per sensor (targets met of 11, C2ST RGB-D) for the preset row, plus other rows;
    ``steps``: trained to that many batches (``bench_quality.py --steps``) instead of 7 minutes."""
    summary = []
    for sensor, (met, c2st) in rows.items():
        summary.append({"sensor": sensor, "row": "preset", "c2st_rgbd_acc/acc": c2st,
                        "met": [f"t{i}" for i in range(met)], "missed": [f"m{i}" for i in range(11 - met)]})
        summary.append({"sensor": sensor, "row": "identity", "c2st_rgbd_acc/acc": 0.9, "met": [], "missed": []})
    doc = {"zoo": {"budget": "7m", "steps": steps, "seeds": [0, 1, 2], "rows": {"preset": ["demo", sets or []]}},
           "summary": summary}
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return f"{name}={path}"


def test_each_sensor_gets_the_candidate_its_other_sensors_prefer(tmp_path: Path) -> None:
    # a is better on s1 only, b on s2 and s3: holding out s1, b wins on the others (s2, s3); holding out s2, the
    # others are s1 (a +3) and s3 (b +1): a wins; holding out s3, s1 (a +3) and s2 (b +2): a wins
    a = _table(tmp_path, "a", {"s1": (9, 0.6), "s2": (5, 0.8), "s3": (6, 0.7)})
    b = _table(tmp_path, "b", {"s1": (6, 0.6), "s2": (7, 0.8), "s3": (7, 0.7)}, ["model.sensor.birth_prior=0.0"])
    cands = [loso_select.load_candidate(a), loso_select.load_candidate(b)]
    assert [loso_select.choose(cands, s).name for s in ("s1", "s2", "s3")] == ["b", "a", "a"]
    text = loso_select.selection_markdown(cands)
    assert "| s1 | 11 / 0.750 | 14 / 0.750 | b | 6 of 11 | 0.600 |" in text
    assert "The folds disagree: s1 -> `b`, s2 -> `a`, s3 -> `a`." in text
    assert "Targets met by the chosen rows: 17 of 33." in text
    assert "birth_prior=0.0" in text  # what each candidate was run with


def test_ties_go_to_the_lower_c2st_then_the_first_candidate(tmp_path: Path) -> None:
    a = _table(tmp_path, "a", {"s1": (7, 0.70), "s2": (7, 0.70)})
    b = _table(tmp_path, "b", {"s1": (7, 0.60), "s2": (7, 0.70)})
    c = _table(tmp_path, "c", {"s1": (7, 0.60), "s2": (7, 0.70)})
    cands = [loso_select.load_candidate(x) for x in (a, b, c)]
    assert loso_select.choose(cands, "s2").name == "b"  # same targets on s1, lower C2ST; b before c
    assert loso_select.choose(cands, "s1").name == "a"  # all equal on s2: the first
    one = loso_select.selection_markdown([cands[1], cands[2]])
    assert "Every fold chose `b`: one preset for every sensor." in one


def test_bad_candidates_give_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _table(tmp_path, "a", {"s1": (7, 0.7), "s2": (7, 0.7)})
    odd = _table(tmp_path, "odd", {"s1": (7, 0.7), "s9": (7, 0.7)})
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "short.json").write_text(json.dumps({"zoo": {}, "summary": [{"sensor": "s1", "row": "preset"}]}))
    cases = {f"x={tmp_path / 'none.json'}": "no such file", "nothing": "expected NAME=PATH",
             f"j={tmp_path / 'junk.json'}": "not a bench_quality.py --zoo quality.json",
             f"s={tmp_path / 'short.json'}": "not a bench_quality.py --zoo quality.json (KeyError"}
    for spec, message in cases.items():
        assert loso_select.main([a, spec]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    assert loso_select.main([a, odd]) == 2
    assert "differ from" in capsys.readouterr().err
    assert loso_select.main([a]) == 2
    assert "at least two candidates" in capsys.readouterr().err


def test_writes_the_table_it_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _table(tmp_path, "a", {"s1": (7, 0.7), "s2": (8, 0.6)})
    b = _table(tmp_path, "b", {"s1": (6, 0.7), "s2": (8, 0.6)})
    out = tmp_path / "loso.md"
    assert loso_select.main([a, b, "--out", str(out)]) == 0
    assert out.read_text() == capsys.readouterr().out


def test_batch_budgets_are_named_and_not_mixed_with_wall_clock_ones(tmp_path: Path) -> None:
    rows = {"s1": (7, 0.7), "s2": (7, 0.7)}
    a, b = (loso_select.load_candidate(_table(tmp_path, n, rows, steps=1800)) for n in ("a", "b"))
    assert "(budget 1800 batches, seeds [0, 1, 2])" in loso_select.selection_markdown([a, b])
    timed = loso_select.load_candidate(_table(tmp_path, "t", rows))
    with pytest.raises(loso_select.SelectionError, match="candidate t: budget 7m differs from a's 1800 batches"):
        loso_select.check_comparable([a, timed])
