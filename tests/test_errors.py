"""Quoting library errors in one line (volo_adapt/errors.py)."""

from __future__ import annotations

from volo_adapt.errors import FIRST_LINE_CHARS, first_line


def test_first_line_quotes_the_first_line_or_the_type_name():
    assert first_line(ValueError("bad size\n  detail")) == "bad size"
    assert first_line(RuntimeError("")) == "RuntimeError"


def test_first_line_cuts_a_giant_first_line():
    """torch's ONNX exporter put a whole graph dump on the first line of its message."""
    quoted = first_line(RuntimeError("Unsupported: adaptive pooling [Caused by " + "%x.1 : Float(*, 4) " * 2000))
    assert len(quoted) == FIRST_LINE_CHARS and quoted.endswith("...")
    assert quoted.startswith("Unsupported: adaptive pooling")
