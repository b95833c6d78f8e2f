"""volo-adapt: unpaired RGB-D domain adaptation (VoloGAN re-implemented in PyTorch Lightning).

The library never imports typer; the command line lives in the top-level ``cli`` package.
``from volo_adapt import Translator`` gives the Python API (:class:`volo_adapt.api.Translator`); it is imported on
first use, so ``import volo_adapt`` itself stays light (no torch, no Lightning).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from volo_adapt.api import Translator

__version__ = "0.1.0"
__all__ = ["Translator", "__version__"]

_LAZY = {"Translator": "volo_adapt.api"}
"""Public names imported on first access: name -> module."""


def __getattr__(name: str) -> Any:
    """``volo_adapt.Translator`` (and ``from volo_adapt import Translator``): imported when first asked for."""
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'volo_adapt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
