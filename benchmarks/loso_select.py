"""Leave-one-sensor-out choice between candidate presets, from their ``bench_quality.py --zoo`` tables.

Issue 21's rule: every design choice is made on sensors other than the one it is reported on. Given one
``quality.json`` per candidate (the same zoo sensors, budget and seeds; ``bench_quality.py --zoo --summarise-only``
writes it), for every sensor S this picks the candidate that meets the most of issue 21's targets on the *other*
sensors (3-seed means, ``zoo_quality.judge``), ties broken by the lower mean C2ST RGB-D over them, then by the
candidate's position on the command line, and reports the picked candidate's row on S. "One preset for every sensor"
holds when every fold picks the same candidate; the table says so or names the folds that disagree.

Usage::

    python benchmarks/loso_select.py anchored-3=benchmarks/results/quality-zoo/quality.json \\
        anchored-0=runs/zoo-birth0/quality.json --out loso.md

Written by hand: the choice rule is this project's protocol, no library implements it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from volo_adapt.atomic import atomic_write_bytes


@dataclass(frozen=True)
class SensorRow:
    """One candidate's ``preset`` row on one sensor.

    Attributes:
        met: issue 21's targets met (count, of ``met + missed``).
        missed: targets missed (count).
        c2st_rgbd: mean C2ST RGB-D accuracy over the seeds (0.5 = indistinguishable from the target).
    """

    met: int
    missed: int
    c2st_rgbd: float


@dataclass(frozen=True)
class Candidate:
    """A preset under comparison: its name, what it was run with, its training budget (``"7m"`` or ``"1800
    batches"``) and its rows by sensor."""

    name: str
    settings: str
    rows: dict[str, SensorRow]
    budget: str = "?"


class SelectionError(ValueError):
    """A candidate file is missing, unreadable or not comparable with the others (one-line message)."""


def load_candidate(spec: str) -> Candidate:
    """``NAME=PATH`` -> the candidate's ``preset`` rows from the ``quality.json`` at ``PATH``."""
    name, sep, path_text = spec.partition("=")
    if not sep or not name or not path_text:
        raise SelectionError(f"candidate {spec!r}: expected NAME=PATH/quality.json")
    path = Path(path_text)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        zoo = doc["zoo"]
        rows = {r["sensor"]: SensorRow(len(r["met"]), len(r["missed"]), float(r["c2st_rgbd_acc/acc"]))
                for r in doc["summary"] if r.get("row") == "preset"}
        preset, sets = zoo.get("rows", {}).get("preset", [zoo.get("preset", "?"), []])
    except FileNotFoundError:
        raise SelectionError(f"{path}: no such file (run bench_quality.py --zoo --summarise-only first)") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        # the whole read is guarded: a truncated or hand-edited table gives this one line, not a traceback
        raise SelectionError(f"{path}: not a bench_quality.py --zoo quality.json ({type(e).__name__}: {e})") from None
    if not rows:
        raise SelectionError(f"{path}: no preset rows")
    # a --steps table also carries the (unused) default wall-clock budget: the batch budget is the one trained to
    budget = f"{zoo['steps']} batches" if zoo.get("steps") else zoo.get("budget")
    settings = f"{preset} {' '.join(sets)} (budget {budget}, seeds {zoo.get('seeds')})"
    return Candidate(name, settings, rows, str(budget))


def check_comparable(candidates: list[Candidate]) -> list[str]:
    """The sensors every candidate has, in the first candidate's order; raises when a sensor is missing anywhere."""
    if len(candidates) < 2:
        raise SelectionError("need at least two candidates to choose between")
    sensors = list(candidates[0].rows)
    for c in candidates[1:]:
        if c.budget != candidates[0].budget:  # a batch budget and a wall-clock one train different amounts
            raise SelectionError(f"candidate {c.name}: budget {c.budget} differs from {candidates[0].name}'s "
                                 f"{candidates[0].budget}")
        if set(c.rows) != set(sensors):
            raise SelectionError(f"candidate {c.name}: sensors {sorted(c.rows)} differ from {candidates[0].name}'s "
                                 f"{sorted(sensors)}")
    if len(sensors) < 2:
        raise SelectionError("need at least two sensors (one held out, one to choose on)")
    return sensors


def fold_score(candidate: Candidate, held_out: str) -> tuple[int, float]:
    """(targets met, mean C2ST RGB-D) of ``candidate`` over every sensor but ``held_out``."""
    others = [row for sensor, row in candidate.rows.items() if sensor != held_out]
    return sum(r.met for r in others), sum(r.c2st_rgbd for r in others) / len(others)


def choose(candidates: list[Candidate], held_out: str) -> Candidate:
    """The candidate the other sensors pick: most targets met, then lower mean C2ST RGB-D, then the earlier one."""
    def key(item: tuple[int, Candidate]) -> tuple[int, float, int]:
        met, c2st = fold_score(item[1], held_out)
        return -met, c2st, item[0]

    return min(enumerate(candidates), key=key)[1]


def selection_markdown(candidates: list[Candidate]) -> str:
    """The leave-one-sensor-out table (one line per held-out sensor) and the verdict, as markdown."""
    sensors = check_comparable(candidates)
    lines = ["Candidates:", ""]
    lines += [f"* `{c.name}`: {c.settings}" for c in candidates]
    head = " | ".join(f"{c.name}: met / C2ST on the others" for c in candidates)
    lines += ["", f"| held-out sensor | {head} | chosen | chosen's targets met on the held-out sensor | "
                  "chosen's C2ST RGB-D there |",
              "| --- | " + " | ".join("---:" for _ in candidates) + " | --- | ---: | ---: |"]
    picks = {}
    for sensor in sensors:
        pick = picks[sensor] = choose(candidates, sensor)
        scores = " | ".join("{} / {:.3f}".format(*fold_score(c, sensor)) for c in candidates)
        row = pick.rows[sensor]
        lines.append(f"| {sensor} | {scores} | {pick.name} | {row.met} of {row.met + row.missed} | "
                     f"{row.c2st_rgbd:.3f} |")
    chosen = {p.name for p in picks.values()}
    total = sum(picks[s].rows[s].met for s in sensors)
    possible = sum(picks[s].rows[s].met + picks[s].rows[s].missed for s in sensors)
    if len(chosen) == 1:
        verdict = f"Every fold chose `{chosen.pop()}`: one preset for every sensor."
    else:
        verdict = "The folds disagree: " + ", ".join(f"{s} -> `{picks[s].name}`" for s in sensors) + "."
    lines += ["", verdict, f"Targets met by the chosen rows: {total} of {possible}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("candidates", nargs="+", metavar="NAME=QUALITY_JSON",
                   help="a candidate preset's zoo table (bench_quality.py --zoo writes OUT/quality.json)")
    p.add_argument("--out", type=Path, help="also write the markdown here")
    args = p.parse_args(argv)
    try:
        text = selection_markdown([load_candidate(spec) for spec in args.candidates])
    except SelectionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out is not None:
        atomic_write_bytes(args.out, text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
