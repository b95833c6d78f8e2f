"""Production inference: load one generator, translate tensors or whole sources, export standalone files.

* :func:`load_generator` -> :class:`LoadedGenerator` (from a training checkpoint or an exported ``pt`` file);
* :func:`translate_tensors`: ``(B, 4, H, W)`` network tensors of any size in, same out (padding/cropping inside);
* :func:`translate_source`: a whole source folder/index into an output folder with the same layout
  (``volo translate``), set up by one :class:`TranslateOptions`;
* :func:`export_generator`: ``pt`` / TorchScript / ONNX files (``volo export``).
"""

from __future__ import annotations

from volo_adapt.errors import OptionError
from volo_adapt.inference.engine import PRECISIONS, translate_tensors
from volo_adapt.inference.export import EXPORT_FORMATS, export_generator
from volo_adapt.inference.loading import LoadedGenerator, load_generator
from volo_adapt.inference.options import TranslateOptions
from volo_adapt.inference.translate import ItemResult, TranslateReport, translate_source

__all__ = [
    "EXPORT_FORMATS",
    "PRECISIONS",
    "ItemResult",
    "LoadedGenerator",
    "OptionError",
    "TranslateOptions",
    "TranslateReport",
    "export_generator",
    "load_generator",
    "translate_tensors",
    "translate_source",
]
