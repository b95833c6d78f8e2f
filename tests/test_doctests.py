"""The examples in the library's docstrings run, and every module of the library imports cleanly.

One test per module of ``volo_adapt/`` (found on disk, so a new module is covered without listing it): import it,
then run its ``>>>`` examples with :mod:`doctest` (option ``ELLIPSIS``, as ``pytest --doctest-modules``). A module
that needs an optional package which is not installed is skipped, naming the package; any other import error fails.
``# doctest: +SKIP`` is for examples that truly need a GPU or files that cannot be made in the example.
"""

from __future__ import annotations

import doctest
import importlib
import io
from pathlib import Path

import pytest

import volo_adapt

_ROOT = Path(volo_adapt.__file__).parent
MODULES = sorted(
    ".".join(("volo_adapt", *p.relative_to(_ROOT).with_suffix("").parts)).removesuffix(".__init__")
    for p in _ROOT.rglob("*.py")
)
OPTIONAL = {"litdata", "OpenEXR", "Imath", "onnx", "onnxruntime", "onnxscript", "torch_fidelity", "boto3", "zstd"}
"""Top-level packages of the optional extras (pyproject.toml): a module needing a missing one is skipped."""


def test_every_module_is_found():
    assert "volo_adapt.inference.engine" in MODULES and "volo_adapt" in MODULES and len(MODULES) > 50


@pytest.mark.parametrize("name", MODULES)
def test_module_imports_and_its_examples_run(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] in OPTIONAL:
            pytest.skip(f"{name} needs the optional package {e.name}")
        raise
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder(exclude_empty=True).find(module, name):
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} example(s) failed in {name}:\n{out.getvalue()}"
