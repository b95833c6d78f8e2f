"""volo-adapt: unpaired RGB-D domain adaptation (VoloGAN re-implemented in PyTorch Lightning).

The library never imports typer; the command line lives in the top-level ``cli`` package.
"""

from __future__ import annotations

__version__ = "0.1.0"
