"""How many new returns (births) a sensor adds and drops per source return, estimated from the unpaired training sets
as the birth-rate term estimates it, against the paired truth; with a checkpoint, also what its translation does
(a probe; no training).

For a ``volo data synth`` set (``A/train``, ``B/train``, ``paired/A``, ``paired/B``):

* **estimated** (unpaired, what ``loss.birth_rate_weight`` and ``loss.return_rate_weight`` read): the target's
  returns per source return (``ratio``), the drops the per-bin keep rates imply and the births that make up the
  rest (volo_adapt.return_statistics, volo_adapt.birth_rate);
* **truth** (paired test scenes): returns the sensor adds where the render has none, and drops, per source return;
* **translation** (``--ckpt``): the same counts of the checkpoint's A -> B translation of ``paired/A`` (sampled as
  ``volo eval`` samples), the share of its births where the truth has a return, and the valid-mask IoU of it and
  of the untouched input against the truth.

    python benchmarks/probe_birth_counts.py DATA [DATA ...] [--ckpt RUN/checkpoints/last.ckpt] [--n 60]

Used in docs/sensor-aware.md "Twenty-third round".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from volo_adapt.return_statistics import histogram_of_returns, keep_rate_of


def unpaired_estimate(real_a: torch.Tensor, real_b: torch.Tensor, gap: float) -> dict[str, float]:
    """Returns per source return from two unpaired sets (network images ``(N, C, H, W)``, encoded depth last):
    ``ratio`` (all returns), ``drops`` (implied by the per-bin keep rates) and ``births`` (``ratio - kept``, >= 0).

    Example:
        >>> a = torch.zeros(2, 4, 4, 4); a[..., :2] = 0.5
        >>> b = torch.zeros(2, 4, 4, 4); b[..., :3] = 0.5                  # the same depth bin, half again as many
        >>> {k: round(v, 3) for k, v in unpaired_estimate(a, b, 0.05).items()}
        {'ratio': 1.5, 'drops': 0.0, 'births': 0.5}
    """
    ha, hb = histogram_of_returns(real_a, gap), histogram_of_returns(real_b, gap)
    kept = float((keep_rate_of(hb, ha) * ha).sum() / ha.sum())
    ratio = float(hb.sum() / ha.sum())
    return {"ratio": ratio, "drops": 1.0 - kept, "births": max(0.0, ratio - kept)}


def paired_counts(valid_src: torch.Tensor, valid_out: torch.Tensor, valid_true: torch.Tensor) -> dict[str, float]:
    """Births and drops of ``valid_out`` against its source per source return, the share of its births where the
    truth has a return, and its valid-mask IoU against the truth (all ``(N, 1, H, W)`` bool).

    Example:
        >>> src = torch.zeros(1, 1, 2, 4, dtype=torch.bool); src[..., :2] = True
        >>> out = src.clone(); out[..., 2] = True                               # 2 births, one right
        >>> true = src.clone(); true[0, 0, 0, 2] = True
        >>> paired_counts(src, out, true)
        {'births': 0.5, 'drops': 0.0, 'births_right': 0.5, 'iou': 0.8333333333333334}
    """
    n = max(int(valid_src.sum()), 1)
    born = valid_out & ~valid_src
    union = int((valid_out | valid_true).sum())
    return {"births": float(born.sum()) / n, "drops": float((valid_src & ~valid_out).sum()) / n,
            "births_right": float((born & valid_true).sum()) / max(int(born.sum()), 1),
            "iou": float((valid_out & valid_true).sum()) / max(union, 1)}


def main() -> None:
    from volo_adapt.build import build_codec
    from volo_adapt.config import load_config
    from volo_adapt.data.eval_sets import load_paired
    from volo_adapt.training.training_sample import TrainingSamples

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("data", nargs="+", type=Path, help="volo data synth folders")
    p.add_argument("--ckpt", help="a checkpoint trained on the (one) DATA set: also probe its translation")
    p.add_argument("--n", type=int, default=60, help="paired test scenes")
    p.add_argument("--size", type=int, default=64)
    args = p.parse_args()
    g = None
    if args.ckpt:
        from volo_adapt.inference.loading import load_generator
        g = load_generator(args.ckpt, "a2b")
    data_cfg = g.config.data if g is not None else load_config("demo", [f"data.image_size={args.size}"]).data
    codec = build_codec(data_cfg)
    samples = TrainingSamples(data_cfg)
    valid = lambda t: codec.valid_from_encoded(t[:, -1:])  # noqa: E731
    for root in args.data:
        est = unpaired_estimate(samples.read(str(root / "A" / "train"), 10_000, "A"),
                                samples.read(str(root / "B" / "train"), 10_000, "B"), codec.gap)
        src, true = load_paired(root / "paired", "a2b", data_cfg.image_size, codec, data_cfg.depth_scale, args.n)
        truth = paired_counts(valid(src), valid(true), valid(true))
        line = (f"{root.name:16s} estimated ratio {est['ratio']:.3f} births {est['births']:.3f} "
                f"drops {est['drops']:.3f} | truth births {truth['births']:.3f} drops {truth['drops']:.3f} "
                f"| input IoU {paired_counts(valid(src), valid(src), valid(true))['iou']:.3f}")
        if g is not None:
            torch.manual_seed(0)
            with torch.no_grad():
                out = paired_counts(valid(src), valid(g.module(src, stochastic=True)), valid(true))
            line += (f" | translation births {out['births']:.3f} ({out['births_right']:.0%} right) "
                     f"drops {out['drops']:.3f} IoU {out['iou']:.3f}")
        print(line)


if __name__ == "__main__":
    main()
