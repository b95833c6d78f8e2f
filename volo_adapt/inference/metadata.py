"""The input/output contract of an exported generator, written into every exported file.

Whoever runs an exported model outside volo-adapt (ONNX Runtime, TorchScript in C++) needs exactly this to feed it
and to read its output; the same dict goes into the ONNX ``metadata_props`` (as JSON under the key ``volo``),
the TorchScript ``_extra_files`` (``volo.json``) and the ``pt`` dict (``normalisation``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from volo_adapt.directions import Domain, parse_direction

if TYPE_CHECKING:
    from volo_adapt.inference.loading import LoadedGenerator

_DOMAIN_WORDS = {Domain.A: "A (source/synthetic)", Domain.B: "B (sensor)"}
"""How the contract names each domain."""


def normalisation_metadata(loaded: LoadedGenerator) -> dict[str, Any]:
    """Describe how to build the network input and decode its output (JSON-serialisable)."""
    codec = loaded.codec
    cfg = loaded.config
    direction = parse_direction(loaded.direction)
    return {
        "direction": loaded.direction,
        "domains": f"{_DOMAIN_WORDS[direction.source]} -> {_DOMAIN_WORDS[direction.target]}",
        "generator": cfg.model.generator,
        "weights": loaded.weights,
        "layout": "NCHW float32, channels R, G, B, D (C = 4)",
        "value_range": [0.0, 1.0],
        "rgb": "sRGB values as stored in the file divided by the maximum code value (255 for 8-bit), not linearised",
        "depth_encoding": (
            "metres d in [near, far] -> gap + (1 - gap) * (d - near) / (far - near); depth outside [near, far],"
            " zero, NaN or inf is invalid"
        ),
        "depth_decoding": (
            "e < gap / 2 -> invalid (0 m); else near + clamp((e - gap) / (1 - gap), 0, 1) * (far - near) metres"
        ),
        "near_m": codec.near,
        "far_m": codec.far,
        "gap": codec.gap,
        "invalid": "invalid depth pixels are 0 in ALL four input channels (R, G, B and D)",
        "size_multiple": loaded.size_multiple,
        "requires_square": loaded.requires_square,
        "padding": (
            "H and W must be multiples of size_multiple (and equal when requires_square): pad with zeros (= invalid)"
            " at the bottom/right, run, crop the output back"
        ),
        "output": "same layout and range as the input; clamp RGB to [0, 1]; decode D as above",
        "depth_scale_hint": cfg.data.depth_scale,
    }
