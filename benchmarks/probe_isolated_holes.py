"""Where a trained run's isolated holes come from (a probe; no training).

Translates the first images of a domain-A folder with a checkpoint's A -> B generator, sampled as ``volo eval``
translates, and classifies each isolated hole of the output (the speckle detector's definition,
volo_adapt/metrics/speckle.py) by its input pixel: no return in the input (and of those, how many were isolated
holes of the input already) / a return the learned keep logit dropped (``model.sensor.drops: learned``) / a return
lost another way (a pinhole drop, or depth below the codec's threshold). Figures are per 1000 subject pixels of the
output.

    python benchmarks/probe_isolated_holes.py RUN/checkpoints/last.ckpt DATA/A/test [--n 60]

Used in benchmarks/results/screen-pinhole-where-1800/README.md.
"""

from __future__ import annotations

import argparse

import torch

from volo_adapt.metrics.depth_stats import subject_mask
from volo_adapt.metrics.speckle import isolated_holes


def classify_holes(valid_in: torch.Tensor, valid_out: torch.Tensor, keep: torch.Tensor | None) -> dict[str, float]:
    """Isolated holes of ``valid_out`` by cause, per 1000 subject pixels of the output.

    Args:
        valid_in: ``(N, 1, H, W)`` bool, the input's returns.
        valid_out: ``(N, 1, H, W)`` bool, the translation's returns.
        keep: ``(N, 1, H, W)`` float keep logit (``> 0`` keeps an input return) or None (no learned drops).

    Returns:
        ``holes``, ``no_input_return``, ``of_which_input_holes``, ``keep_logit_drop``, ``lost_otherwise``, and
        ``input_holes`` (the input's own rate, per 1000 of its subject pixels).
    """
    subject = subject_mask(valid_out)
    n = max(int(subject.sum()), 1)
    holes = isolated_holes(valid_out, subject)
    subject_in = subject_mask(valid_in)
    src = isolated_holes(valid_in, subject_in)
    dropped = holes & valid_in & (keep <= 0) if keep is not None else torch.zeros_like(holes)
    per = lambda m: 1000.0 * float(m.sum()) / n  # noqa: E731
    return {"holes": per(holes), "no_input_return": per(holes & ~valid_in),
            "of_which_input_holes": per(holes & ~valid_in & src), "keep_logit_drop": per(dropped),
            "lost_otherwise": per(holes & valid_in & ~dropped),
            "input_holes": 1000.0 * float(src.sum()) / max(int(subject_in.sum()), 1)}


def main() -> None:
    from volo_adapt.inference.loading import load_generator
    from volo_adapt.training.training_sample import TrainingSamples

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("ckpt")
    p.add_argument("images", help="a domain-A image folder (e.g. a zoo set's A/test)")
    p.add_argument("--n", type=int, default=60, help="images to translate")
    args = p.parse_args()
    g = load_generator(args.ckpt, "a2b")
    x = TrainingSamples(g.config.data).read(args.images, args.n, "probing isolated holes")
    torch.manual_seed(0)
    with torch.no_grad():
        y, returns = g.module(x, stochastic=True, with_returns=True)
    out = classify_holes(g.codec.valid_from_encoded(x[:, -1:]), g.codec.valid_from_encoded(y[:, -1:]),
                        returns.keep_logit)
    for k, v in out.items():
        print(f"{k:22s} {v:7.2f} per 1000")


if __name__ == "__main__":
    main()
