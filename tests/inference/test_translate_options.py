"""Tests for volo_adapt/inference/options.py and errors.OptionError: one options object, errors in library terms,
re-worded with a front end's flags by options_named."""

from __future__ import annotations

import pytest

from volo_adapt.errors import OptionError, VoloError, options_named
from volo_adapt.inference.options import TranslateOptions


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"batch_size": 0}, "batch_size 0: must be >= 1"),
        ({"rgb_format": "tif"}, "rgb_format 'tif': must be one of png, jpg, same"),
        ({"precision": "64"}, "precision '64': must be one of auto, 32, tf32, bf16, 16"),
        ({"depth_tolerance_mm": -1.0}, "depth_tolerance_mm -1.0: must be >= 0 millimetres"),
        ({"depth_scale": 0.0}, "depth_scale 0.0: must be > 0 units per metre"),
    ],
)
def test_bad_options_raise_in_library_terms(kw, message):
    with pytest.raises(OptionError) as e:
        TranslateOptions(**kw)
    assert str(e.value).startswith(message) and "--" not in str(e.value)
    assert e.value.option == next(iter(kw))


def test_defaults_and_precision_aliases():
    opts = TranslateOptions()
    assert (opts.batch_size, opts.precision, opts.rgb_format, opts.depth_scale) == (4, "auto", "png", None)
    assert TranslateOptions(precision="bf16-mixed").requested_precision == "bf16"
    assert opts.resolved_depth_scale(1000) == 1000.0
    assert TranslateOptions(depth_scale=5000).resolved_depth_scale(1) == 5000


def test_overrides_are_checked_and_unknown_names_refused():
    opts = TranslateOptions().with_overrides({"batch_size": 2, "seed": 3})
    assert (opts.batch_size, opts.seed) == (2, 3)
    with pytest.raises(OptionError, match="batch_size -1"):
        opts.with_overrides({"batch_size": -1})
    with pytest.raises(TypeError, match="bogus"):
        opts.with_overrides({"bogus": 1})


def test_options_named_rewords_known_options_and_keeps_the_rest():
    with pytest.raises(VoloError, match=r"^--batch-size 0: must be >= 1$"):
        with options_named({"batch_size": "--batch-size"}):
            TranslateOptions(batch_size=0)
    with pytest.raises(OptionError, match=r"^seed: odd$"):
        with options_named({"batch_size": "--batch-size"}):
            raise OptionError("seed", "odd")
