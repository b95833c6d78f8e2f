"""Make the synthetic-scene helpers importable as ``volo_metrics_scenes`` (works in any pytest import mode)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_NAME = "volo_metrics_scenes"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("scenes.py"))
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _mod
    _spec.loader.exec_module(_mod)
