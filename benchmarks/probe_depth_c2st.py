"""What does the depth-only C2ST key on? Hybrids of a synth set's paired source and truth, judged by ``volo eval``'s
classifier against the target's test images.

The C2ST (volo_adapt/metrics/c2st.py) says *that* a translation can be told from the target, not *why*. On the
paired scenes of a ``volo data synth`` folder the source (``paired/A``) and the sensor's truth (``paired/B``) show
the same scene, so their depth channels can be mixed part by part and each hybrid judged against ``B/test``
(depth only, the colour channels taken from the truth and masked out by the classifier): the truth itself
(the floor, about 0.5), the source (the identity), one's values under the other's valid mask, the truth with its
pixel noise removed (a valid-only 5x5 median), and the truth's values only in a band of ``k`` pixels (city-block)
around the source's silhouettes and holes, with the source's values inside (and the reverse). Where the band
hybrid reads about 0.5 the classifier needs nothing but the edge band; where the interior hybrid does, nothing but
the interior.

With ``--run DATA=CKPT`` a trained checkpoint's translation of the same paired scenes is measured too (EMA weights,
as ``volo eval`` and ``bench_quality.py`` evaluate): in the source's edge band and in its interior, the mean change
of the encoded depth against the source and the share of source returns kept, and its new returns per source
return, beside the truth's; and its C2ST with and without the truth's band values pasted in where both have a
return. That set is then read with the checkpoint's own depth codec (the others with the presets' defaults).

Usage::

    python benchmarks/probe_depth_c2st.py DATA [DATA ...] --out runs/c2st-probe      # folders from volo data synth
    python benchmarks/probe_depth_c2st.py DATA --run DATA=RUN/checkpoints/last.ckpt --out runs/c2st-probe

Writes ``OUT/depth_c2st.json`` and ``OUT/depth_c2st.md``; a minute or two per set at 64 px on one core (each C2ST
trains ``--repeats`` small classifiers). Written by hand: it is this project's own probe, no library implements it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from benchkit import probe_each_set, write_probe_rows

from volo_adapt.data.eval_sets import load_network_tensors, load_paired
from volo_adapt.data.sample import DepthCodec
from volo_adapt.losses import returns_of
from volo_adapt.metrics.c2st import c2st
from volo_adapt.models.birth_rings import ring_distance

BANDS = (1, 2, 3)
"""Widths of the edge band around the source's no-return pixels, pixels (city-block)."""


def valid_median5(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)``: the median of each pixel's valid 5x5 neighbours (invalid neighbours stand in as the pixel's
    own value, so a silhouette does not pull the median towards 0), 0 where ``valid`` is False. Hand-written:
    kornia's median filter counts the no-return 0s like any other value."""
    n, _, h, w = depth.shape
    patches = F.unfold(depth, 5, padding=2).view(n, 25, h, w)
    ok = F.unfold(valid.float(), 5, padding=2).view(n, 25, h, w) > 0
    patches = torch.where(ok, patches, depth.expand_as(patches))
    return patches.median(1, keepdim=True).values * valid


def edge_band(valid: torch.Tensor, k: int) -> torch.Tensor:
    """``(N, 1, H, W)`` bool: the pixels within ``k`` px (city-block) of a no-return pixel of ``valid``, those
    included."""
    return ring_distance(~valid, k) <= k


def hybrids(source: torch.Tensor, truth: torch.Tensor, gap: float) -> dict[str, torch.Tensor]:
    """The judged depth channels, ``(N, 1, H, W)`` encoded, of paired ``source`` and ``truth`` (``(N, C, H, W)``
    network tensors of the same scenes); see the module docstring."""
    ds, dt = source[:, -1:], truth[:, -1:]
    vs, vt = returns_of(source, gap) > 0, returns_of(truth, gap) > 0
    zero = torch.zeros_like(ds)
    filled = torch.where(vs, ds, dt)  # the source's values, the truth's on its new returns
    out = {
        "truth": dt,
        "source (identity)": ds,
        "source values, truth mask": torch.where(vt, filled, zero),
        "truth values, source mask": torch.where(vs, torch.where(vt, dt, ds), zero),
        "truth, noise removed (valid 5x5 median)": valid_median5(dt, vt),
    }
    for k in BANDS:
        band = edge_band(vs, k)
        out[f"truth values in the {k} px band, source inside"] = torch.where(vt, torch.where(band, dt, filled), zero)
        out[f"source values in the {k} px band, truth inside"] = torch.where(vt, torch.where(band, filled, dt), zero)
    return out


def with_depth(x: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
    """``x`` with its last channel replaced by ``depth`` (a copy)."""
    return torch.cat([x[:, :-1], depth], dim=1)


def band_changes(source: torch.Tensor, other: torch.Tensor, gap: float, k: int = 2) -> dict[str, float]:
    """In the source's ``k`` px edge band (its returns within ``k`` px of a no-return pixel) and in its interior:
    the mean change of ``other``'s encoded depth against the source where both return, and the share of the
    source's returns ``other`` keeps; and ``other``'s returns where the source has none, per source return."""
    vs, vo = returns_of(source, gap) > 0, returns_of(other, gap) > 0
    band = edge_band(vs, k) & vs
    out = {}
    for name, region in (("band", band), ("interior", vs & ~band)):
        both = region & vo
        diff = (other[:, -1:] - source[:, -1:])[both]
        out[f"{name}: mean change"] = float(diff.mean()) if diff.numel() else float("nan")
        out[f"{name}: kept"] = float(both.sum() / region.sum().clamp_min(1))
    out["new returns per source return"] = float((vo & ~vs).sum() / vs.sum().clamp_min(1))
    return out


def probe(data: Path, codec: DepthCodec, size: int, repeats: int, ckpt: Path | None = None) -> dict[str, float]:
    """One synth set's row: every hybrid's C2ST depth accuracy against ``B/test``; with ``ckpt`` also the
    translation's band changes and C2ST (module docstring). With ``ckpt`` the sets are read with the checkpoint's
    own depth codec (as ``volo eval`` reads them), not ``codec``."""
    generator = None
    if ckpt is not None:
        from volo_adapt.inference.loading import load_generator

        generator = load_generator(ckpt, direction="a2b")
        codec = generator.codec
    source, truth = load_paired(data / "paired", "a2b", size, codec, 1000.0)
    test_b, _ = load_network_tensors([str(data / "B" / "test")], size, codec, 1000.0)
    row = {f"C2ST depth, {name}": c2st(with_depth(truth, d), test_b, "depth", repeats=repeats).acc
           for name, d in hybrids(source, truth, codec.gap).items()}
    row |= {f"truth, {k}": v for k, v in band_changes(source, truth, codec.gap).items()}
    if generator is not None:
        from volo_adapt.inference.engine import translate_tensors

        torch.manual_seed(0)  # the translation's noise draws, as bench_quality.py's evaluation seeds them
        translated = translate_tensors(generator, source)
        row |= {f"model, {k}": v for k, v in band_changes(source, translated, codec.gap).items()}
        vs, vt, vy = (returns_of(t, codec.gap) > 0 for t in (source, truth, translated))
        paste = edge_band(vs, 2) & vs & vt & vy
        pasted = with_depth(translated, torch.where(paste, truth[:, -1:], translated[:, -1:]))
        row["C2ST depth, model"] = c2st(translated, test_b, "depth", repeats=repeats).acc
        row["C2ST depth, model with the truth's 2 px band values"] = c2st(pasted, test_b, "depth",
                                                                         repeats=repeats).acc
    return row


def markdown(rows: dict[str, dict[str, float]]) -> str:
    """One table, a line per measurement and a column per set."""
    names = list(rows)
    keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    lines = ["| measurement | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
    lines += [f"| {k} | " + " | ".join(f"{rows[n][k]:.3f}" if k in rows[n] else "" for n in names) + " |"
              for k in keys]
    return "\n".join(lines) + "\n"


def parse_runs(specs: list[str]) -> dict[str, Path]:
    """``DATA=CKPT`` strings -> {set folder name: checkpoint}; SystemExit with one line on a malformed one."""
    runs = {}
    for spec in specs:
        data, sep, ckpt = spec.partition("=")
        if not sep or not ckpt or not Path(ckpt).is_file():
            raise SystemExit(f"--run {spec}: expected DATA=CKPT with an existing checkpoint file")
        runs[Path(data).name] = Path(ckpt)
    return runs


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", type=Path, nargs="+", help="folders written by volo data synth (B/test, paired/)")
    p.add_argument("--size", type=int, default=64, help="evaluation side, pixels (the sets' own)")
    p.add_argument("--repeats", type=int, default=3, help="classifier seeds per C2ST (mean reported)")
    p.add_argument("--run", action="append", default=[], metavar="DATA=CKPT",
                   help="also measure this checkpoint's translation of DATA's paired scenes (repeatable)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    runs = parse_runs(args.run)
    codec = DepthCodec()
    rows = probe_each_set(args.data, ("paired", "B/test"),
                          lambda data: probe(data, codec, args.size, args.repeats, runs.get(data.name)))
    write_probe_rows(args.out, "depth_c2st", rows, markdown)
    return rows


if __name__ == "__main__":
    main()
