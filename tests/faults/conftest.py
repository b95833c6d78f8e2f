"""Fixtures of the fault-injection suite; registers helpers.py as ``volo_faults_helpers`` (any import mode)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

_NAME = "volo_faults_helpers"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, Path(__file__).with_name("helpers.py"))
    _mod = importlib.util.module_from_spec(_spec)
    sys.modules[_NAME] = _mod
    _spec.loader.exec_module(_mod)


@pytest.fixture(scope="session")
def faults_tmp(tmp_path_factory) -> Callable[[str], Path]:
    """``faults_tmp(name)``: a fresh folder (usable inside hypothesis tests, unlike ``tmp_path``)."""
    counter = iter(range(1_000_000))

    def make(name: str = "case") -> Path:
        return tmp_path_factory.mktemp(f"{name}{next(counter)}")

    return make


@pytest.fixture(autouse=True)
def one_torch_thread():
    """In-process training and translation on one thread: the 2 cores are shared with other jobs, and several
    OpenMP threads competing on a loaded machine are many times slower than one."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
